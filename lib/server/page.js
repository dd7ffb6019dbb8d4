// The etude page: controls → POST /api/generate/stream (Server-Sent Events) → a piano roll that fills in while notes
// arrive → WebAudio playback and .mid/.wav downloads. Plain browser JavaScript, no framework, no build step.

const $ = (id) => document.getElementById(id);
const roll = $("roll");
const ctx2d = roll.getContext("2d");

const state = {
  notes: [],
  result: null,
  abort: null,
  audio: null,
  playStart: 0,
  playing: false,
};
// A handle for the browser console and the page test.
globalThis.etudeState = state;

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function setBusy(busy) {
  document.body.dataset.state = busy ? "generating" : state.result ? "done" : "idle";
  $("generate").textContent = busy ? "Stop generating" : "Generate";
  for (const id of ["play", "download-mid", "download-wav"]) $(id).disabled = busy || !state.result;
}

// ---- sliders: ranges, steps and defaults come from GET /api/params (the server's narrowed GENERATE_PARAMS) ----
let limits = null;
const SLIDERS = ["temperature", "topK", "topP"];
for (const id of SLIDERS) {
  const input = $(id);
  input.addEventListener("input", () => ($(`${id}-out`).textContent = input.value));
}
function applyRange(input, l, value = l.default) {
  input.min = String(l.min);
  input.max = String(l.max);
  input.step = String(l.step);
  if (value !== undefined) input.value = String(value);
}
function setUnit() {
  const l = limits?.[$("unit").value];
  if (l) applyRange($("length"), l);
}
async function loadParams() {
  try {
    const res = await fetch("/api/params");
    if (!res.ok) throw new Error(res.statusText);
    limits = await res.json();
  } catch {
    setStatus("could not read the parameter ranges", true);
    return;
  }
  for (const id of SLIDERS) {
    applyRange($(id), limits[id]);
    $(`${id}-out`).textContent = $(id).value;
  }
  $("seed").min = String(limits.seed.min);
  $("seed").max = String(limits.seed.max);
  setUnit();
}
$("dice").addEventListener("click", () => {
  const lo = Number($("seed").min || 0), hi = Number($("seed").max || 0);
  $("seed").value = String(lo + Math.floor(Math.random() * (hi - lo + 1)));
});
$("unit").addEventListener("change", setUnit);

// ---- models ----
async function loadModels() {
  const sel = $("model");
  try {
    const res = await fetch("/api/models");
    const { models, default: def } = await res.json();
    sel.innerHTML = "";
    for (const m of models) {
      const o = document.createElement("option");
      o.value = m.name;
      const shape = m.layers ? ` · ${m.layers}×${m.hidden}` : "";
      o.textContent = `${m.name} (${m.tokenizer}${shape})`;
      if (m.name === def) o.selected = true;
      sel.append(o);
    }
    if (!models.length) setStatus("no models found: train one with deno task train", true);
  } catch {
    setStatus("could not list models", true);
  }
}

// ---- piano roll ----
function fitCanvas() {
  const r = roll.getBoundingClientRect();
  const dpr = globalThis.devicePixelRatio || 1;
  roll.width = Math.max(300, Math.round(r.width * dpr));
  roll.height = Math.max(200, Math.round(r.height * dpr));
  draw();
}

function draw(cursorTick = -1) {
  const W = roll.width, H = roll.height;
  const g = ctx2d;
  g.fillStyle = "#1e1c1a";
  g.fillRect(0, 0, W, H);
  const notes = state.notes;
  let lo = 48, hi = 84, end = 1;
  for (const n of notes) {
    lo = Math.min(lo, n.pitch);
    hi = Math.max(hi, n.pitch);
    end = Math.max(end, n.start + n.duration);
  }
  lo -= 2;
  hi += 2;
  const tpb = state.result?.ticksPerBeat ?? state.tpb ?? 480;
  end = Math.max(end, tpb * 16);
  const rows = hi - lo + 1;
  const rowH = H / rows;
  const x = (t) => (t / end) * W;
  // black-key lanes
  for (let p = lo; p <= hi; p++) {
    if ([1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12)) {
      g.fillStyle = "#262320";
      g.fillRect(0, H - (p - lo + 1) * rowH, W, rowH);
    }
    if (p % 12 === 0) {
      g.fillStyle = "#3a3530";
      g.fillRect(0, H - (p - lo) * rowH, W, 1);
    }
  }
  // octave labels
  g.fillStyle = "#9a9086";
  g.font = `${Math.round(11 * (globalThis.devicePixelRatio || 1))}px system-ui, sans-serif`;
  for (let p = lo; p <= hi; p++) if (p % 12 === 0) g.fillText(`C${p / 12 - 1}`, 4, H - (p - lo) * rowH - 3);
  // bar lines (4/4 assumed for the grid)
  g.fillStyle = "#34302b";
  for (let t = 0; t < end; t += tpb * 4) g.fillRect(Math.round(x(t)), 0, 1, H);
  // notes, colour by velocity
  for (const n of notes) {
    const v = Math.max(0, Math.min(127, n.velocity)) / 127;
    const hue = 22 + (1 - v) * 160;
    g.fillStyle = `hsl(${hue} ${55 + v * 30}% ${48 + v * 14}%)`;
    const y = H - (n.pitch - lo + 1) * rowH;
    g.fillRect(x(n.start), y + 0.5, Math.max(2, x(n.duration) - 1), Math.max(2, rowH - 1));
  }
  if (cursorTick >= 0) {
    g.fillStyle = "#f5d28a";
    g.fillRect(Math.round(x(cursorTick)), 0, 2, H);
  }
  $("notes-count").textContent = String(notes.length);
}

// ---- generation over SSE (fetch + a streamed body, so a prompt can be POSTed) ----
function readFileBase64(file) {
  return new Promise((resolve, reject) => {
    const fr = new FileReader();
    fr.onload = () => resolve(String(fr.result).split(",")[1] ?? "");
    fr.onerror = () => reject(fr.error);
    fr.readAsDataURL(file);
  });
}

async function generate() {
  stopAudio();
  state.notes = [];
  state.result = null;
  const abort = new AbortController();
  state.abort = abort;
  setBusy(true);
  draw();
  const params = {
    model: $("model").value || "default",
    temperature: Number($("temperature").value),
    topK: Number($("topK").value),
    topP: Number($("topP").value),
    grammar: $("grammar").checked,
  };
  params[$("unit").value] = Number($("length").value);
  if ($("seed").value !== "") params.seed = Number($("seed").value);
  setStatus("waiting for the model…");
  try {
    const file = $("prompt").files[0];
    if (file) params.prompt = await readFileBase64(file);
    const res = await fetch("/api/generate/stream", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify(params),
      signal: abort.signal,
    });
    if (!res.ok) {
      const j = await res.json().catch(() => ({ error: res.statusText }));
      throw new Error(j.error + (j.allowed ? ` (allowed: ${j.allowed})` : ""));
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (data) onEvent(event, JSON.parse(data));
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") setStatus(`error: ${e.message}`, true);
    else setStatus("stopped");
  } finally {
    state.abort = null;
    $("queue-pos").textContent = "–";
    setBusy(false);
  }
}

function onEvent(event, data) {
  if (event === "queued") {
    // Our place in line (1 = next), sent again each time it moves up; 0: the generation starts at once.
    $("seed-used").textContent = String(data.seed);
    if (data.position > 0) {
      $("queue-pos").textContent = `${data.position} of ${data.waiting}`;
      setStatus(`waiting in line: number ${data.position} (${data.running} generating)…`);
    }
  } else if (event === "started") {
    $("queue-pos").textContent = "generating";
    setStatus("generating…");
  } else if (event === "notes") {
    for (const n of data.notes) state.notes.push(n);
    setStatus(`generating… ${state.notes.length} notes`);
    draw();
  } else if (event === "done") {
    state.result = data;
    state.notes = data.notes;
    $("tokens").textContent = String(data.tokens);
    $("tps").textContent = data.tokensPerSecond.toFixed(1);
    $("adapter").textContent = data.adapter;
    $("seed-used").textContent = String(data.seed);
    setStatus(`done: ${data.notes.length} notes`);
    draw();
  } else if (event === "error") {
    setStatus(`error: ${data.error}${data.allowed ? ` (allowed: ${data.allowed})` : ""}`, true);
  }
}

// ---- playback (a small WebAudio piano-ish voice) ----
function secondsFn(result) {
  const tempos = result.tempos?.length ? result.tempos : [{ tick: 0, bpm: 120 }];
  const tpb = result.ticksPerBeat;
  return (tick) => {
    let s = 0, last = 0, bpm = 120;
    for (const t of tempos) {
      if (t.tick >= tick) break;
      s += ((t.tick - last) * 60) / (bpm * tpb);
      last = t.tick;
      bpm = t.bpm;
    }
    return s + ((tick - last) * 60) / (bpm * tpb);
  };
}

function play() {
  if (!state.result) return;
  stopAudio();
  const ac = new AudioContext();
  const sec = secondsFn(state.result);
  const master = ac.createGain();
  master.gain.value = 0.25;
  const comp = ac.createDynamicsCompressor();
  master.connect(comp).connect(ac.destination);
  const t0 = ac.currentTime + 0.1;
  for (const n of state.result.notes) {
    const start = t0 + sec(n.start);
    const end = t0 + sec(n.start + n.duration);
    const f = 440 * 2 ** ((n.pitch - 69) / 12);
    const amp = (n.velocity / 127) ** 1.5 * 0.3;
    const env = ac.createGain();
    env.gain.setValueAtTime(0, start);
    env.gain.linearRampToValueAtTime(amp, start + 0.004);
    env.gain.setTargetAtTime(amp * 0.25, start + 0.004, 0.6);
    env.gain.setTargetAtTime(0, Math.max(start + 0.01, end), 0.06);
    env.connect(master);
    for (const [mult, type, gain] of [[1, "triangle", 1], [2, "sine", 0.3]]) {
      const o = ac.createOscillator();
      o.type = type;
      o.frequency.value = f * mult;
      const g = ac.createGain();
      g.gain.value = gain;
      o.connect(g).connect(env);
      o.start(start);
      o.stop(end + 0.5);
    }
  }
  state.audio = ac;
  state.playing = true;
  state.playStart = t0;
  $("stop").disabled = false;
  const total = sec(Math.max(1, ...state.result.notes.map((n) => n.start + n.duration)));
  const tick = () => {
    if (!state.playing || state.audio !== ac) return;
    const t = ac.currentTime - t0;
    if (t > total + 0.5) return stopAudio();
    // invert seconds → ticks by bisection on the tempo map
    let lo = 0, hi = 1;
    while (sec(hi) < t) hi *= 2;
    for (let i = 0; i < 30; i++) {
      const mid = (lo + hi) / 2;
      if (sec(mid) < t) lo = mid;
      else hi = mid;
    }
    draw(lo);
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

function stopAudio() {
  state.playing = false;
  if (state.audio) state.audio.close();
  state.audio = null;
  $("stop").disabled = true;
  draw();
}

// ---- downloads ----
function b64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

$("download-mid").addEventListener("click", () => {
  if (!state.result) return;
  saveBlob(
    new Blob([b64ToBytes(state.result.midiBase64)], { type: "audio/midi" }),
    `etude-${state.result.seed}.mid`,
  );
});

$("download-wav").addEventListener("click", async () => {
  if (!state.result) return;
  setStatus("rendering .wav…");
  const res = await fetch("/api/render?channels=2", {
    method: "POST",
    headers: { "content-type": "audio/midi" },
    body: b64ToBytes(state.result.midiBase64),
  });
  if (!res.ok) return setStatus("could not render .wav", true);
  saveBlob(await res.blob(), `etude-${state.result.seed}.wav`);
  setStatus("done");
});

$("play").addEventListener("click", play);
$("stop").addEventListener("click", stopAudio);
$("controls").addEventListener("submit", (e) => {
  e.preventDefault();
  if (state.abort) state.abort.abort();
  else generate();
});
globalThis.addEventListener("resize", fitCanvas);
fitCanvas();
// Ranges first, then models: the model list filling in means the controls are ready.
loadParams().finally(loadModels);
