// The etude page: controls → POST /api/generate/stream (Server-Sent Events) → a piano roll that fills in while notes
// arrive → WebAudio playback and .mid/.wav downloads; regenerate / vary; the steering controls (page_steer.js);
// MIDI out live, a recorded prompt (page_midi.js); the .mid dragged out. Plain browser JavaScript, no build step.
import { buildControls, readControls } from "./page_steer.js";
import { drawRoll } from "./page_roll.js";
import { setupInfill } from "./page_infill.js";
import { scheduleVoice, secondsFn } from "./page_audio.js";
import {
  connectMidi,
  isRecording,
  livePlayer,
  midiOutput,
  panic,
  playInto,
  startRecording,
  stopRecording,
} from "./page_midi.js";

const $ = (id) => document.getElementById(id);
const roll = $("roll");

const state = {
  notes: [],
  result: null,
  abort: null,
  audio: null,
  playStart: 0,
  playing: false,
  // The last request as sent (its seed filled in when the server drew it): what regenerate and vary resend.
  lastRequest: null,
  // A prompt recorded from a MIDI input: {base64, notes}.
  recorded: null,
  live: null,
  midiUrl: null,
  // Bars picked on the roll for infilling: {from, to} (1-based), or null.
  selection: null,
  // GET /api/models' entries by name (what each model supports).
  models: {},
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
  for (const id of ["regenerate", "vary"]) $(id).disabled = busy || !state.result || !state.lastRequest;
  $("drag-mid").setAttribute("aria-disabled", String(busy || !state.midiUrl));
  infill.update(busy);
}

// ---- sliders: ranges, steps and defaults come from GET /api/params (the server's narrowed GENERATE_PARAMS) ----
let limits = null;
const SLIDERS = ["temperature", "topK", "topP", "guidanceScale", "keyGuidanceScale", "densityGuidanceScale"];
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
  buildControls(limits, $("steer"));
  for (const c of limits.style?.choices ?? []) $("style").append(new Option(c, c));
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
    state.models = Object.fromEntries(models.map((m) => [m.name, m]));
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
  modelChanged();
}
// A model trained with conditioning and infilling: the style picker and bar regeneration are offered.
const conditioned = () => !!state.models[$("model").value]?.conditioning;
function modelChanged() {
  $("style-field").hidden = !conditioned() || !limits?.style;
  // the sliders start at the model's own sampling defaults (its generation_config.json), else the table's
  const own = state.models[$("model").value]?.sampling ?? {};
  for (const id of SLIDERS) {
    if (!limits?.[id]) continue;
    $(id).value = String(own[id] ?? limits[id].default);
    $(`${id}-out`).textContent = $(id).value;
  }
  infill.update(!!state.abort);
}
$("model").addEventListener("change", modelChanged);

// ---- piano roll ----
function fitCanvas() {
  const r = roll.getBoundingClientRect();
  const dpr = globalThis.devicePixelRatio || 1;
  roll.width = Math.max(300, Math.round(r.width * dpr));
  roll.height = Math.max(200, Math.round(r.height * dpr));
  draw();
}

function draw(cursorTick = -1) {
  const tpb = state.result?.ticksPerBeat ?? state.tpb ?? 480;
  drawRoll(roll, state.notes, tpb, cursorTick, state.selection, state.result?.timeSignatures ?? []);
  $("notes-count").textContent = String(state.notes.length);
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

// The request the form describes: sliders, length, seed, the steering controls, the prompt (file or recorded).
async function formRequest() {
  const params = {
    model: $("model").value || "default",
    temperature: Number($("temperature").value),
    topK: Number($("topK").value),
    topP: Number($("topP").value),
    grammar: $("grammar").checked,
    ...readControls(limits),
  };
  params[$("unit").value] = Number($("length").value);
  if (conditioned() && $("style").value) params.style = $("style").value;
  if (conditioned()) params.guidanceScale = Number($("guidanceScale").value);
  if (conditioned()) params.keyGuidanceScale = Number($("keyGuidanceScale").value);
  if (conditioned()) params.densityGuidanceScale = Number($("densityGuidanceScale").value);
  if ($("seed").value !== "") params.seed = Number($("seed").value);
  const file = $("prompt").files[0];
  if (file) params.prompt = await readFileBase64(file);
  else if (state.recorded) params.prompt = state.recorded.base64;
  return params;
}

// `given`: a request to send again (regenerate, vary); else the form's. `keep`: notes shown while it runs.
async function generate(given, keep = []) {
  stopAudio();
  state.notes = keep;
  state.result = null;
  const abort = new AbortController();
  state.abort = abort;
  setBusy(true);
  draw();
  setStatus("waiting for the model…");
  try {
    const params = given ?? await formRequest();
    state.lastRequest = params;
    const out = midiOutput();
    // Live MIDI: ticks → ms at the asked tempo (120 BPM unless steered), 480 ticks a beat until the piece says.
    state.live = out ? livePlayer(out, 60000 / ((params.tempo ?? 120) * (state.tpb ?? 480))) : null;
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
    // Stopped or failed: nothing more plays into the MIDI output.
    if (state.live) panic(midiOutput());
    state.live = null;
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
    if (state.lastRequest) state.lastRequest.seed = data.seed;
    if (data.position > 0) {
      $("queue-pos").textContent = `${data.position} of ${data.waiting}`;
      setStatus(`waiting in line: number ${data.position} (${data.running} generating)…`);
    }
  } else if (event === "started") {
    $("queue-pos").textContent = "generating";
    setStatus("generating…");
  } else if (event === "notes") {
    for (const n of data.notes) state.notes.push(n);
    state.live?.push(data.notes);
    setStatus(`generating… ${state.notes.length} notes`);
    draw();
  } else if (event === "done") {
    state.result = data;
    state.notes = data.notes;
    $("tokens").textContent = String(data.tokens);
    $("tps").textContent = data.tokensPerSecond.toFixed(1);
    $("adapter").textContent = data.adapter;
    $("seed-used").textContent = String(data.seed);
    state.tpb = data.ticksPerBeat;
    if (state.lastRequest) state.lastRequest.seed = data.seed;
    setDragOut(data);
    setStatus(`done: ${data.notes.length} notes`);
    draw();
  } else if (event === "error") {
    setStatus(`error: ${data.error}${data.allowed ? ` (allowed: ${data.allowed})` : ""}`, true);
  }
}

// ---- playback (WebAudio, page_audio.js; and the MIDI output when one is chosen) ----
function play() {
  if (!state.result) return;
  stopAudio();
  const ac = new AudioContext();
  const sec = secondsFn(state.result);
  const t0 = ac.currentTime + 0.1;
  scheduleVoice(ac, state.result.notes, sec, t0);
  const out = midiOutput();
  if (out) playInto(out, state.result.notes, sec, 100);
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
  if (state.playing || state.live) panic(midiOutput());
  state.live = null;
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

// Drag-out: the .mid as a link a DAW accepts as a file drop (Chromium's DownloadURL: "type:name:url").
function setDragOut(result) {
  if (state.midiUrl) URL.revokeObjectURL(state.midiUrl);
  const name = `etude-${result.seed}.mid`;
  state.midiUrl = URL.createObjectURL(new Blob([b64ToBytes(result.midiBase64)], { type: "audio/midi" }));
  Object.assign($("drag-mid"), { href: state.midiUrl, download: name });
}
$("drag-mid").addEventListener("dragstart", (e) => {
  if (!state.midiUrl) return e.preventDefault();
  e.dataTransfer.setData("DownloadURL", `audio/midi:${$("drag-mid").download}:${state.midiUrl}`);
  e.dataTransfer.effectAllowed = "copy";
});

// Regenerate: the last request again (same seed: the same piece). Vary: the same with the next seed.
$("regenerate").addEventListener("click", () => state.lastRequest && generate({ ...state.lastRequest }));
$("vary").addEventListener("click", () => {
  const r = state.lastRequest;
  if (!r) return;
  const seed = r.seed >= limits.seed.max ? limits.seed.min : r.seed + 1;
  $("seed").value = String(seed);
  generate({ ...r, seed });
});

// Infilling (page_infill.js): the piece on the roll is the prompt, the selected bars are regenerated.
const infill = setupInfill({
  roll,
  button: $("infill"),
  info: $("infill-info"),
  state,
  redraw: () => draw(),
  supported: conditioned,
  formRequest,
  generate,
});

// ---- MIDI devices ----
$("midi-connect").addEventListener("click", async () => {
  try {
    const n = await connectMidi();
    $("panic").disabled = false;
    $("record").disabled = false;
    setStatus(`MIDI: ${n.outputs} outputs, ${n.inputs} inputs`);
  } catch (e) {
    setStatus(`MIDI: ${e.message}`, true);
  }
});
$("panic").addEventListener("click", () => panic(midiOutput()));
$("record").addEventListener("click", () => {
  try {
    if (!isRecording()) {
      startRecording();
      $("record").textContent = "■ Stop";
      $("prompt-info").textContent = "recording… play, then stop";
      return;
    }
    $("record").textContent = "● Record";
    const take = stopRecording();
    if (!take) return void ($("prompt-info").textContent = "nothing recorded");
    let bin = "";
    for (const b of take.bytes) bin += String.fromCharCode(b);
    state.recorded = { base64: btoa(bin), notes: take.notes };
    $("prompt").value = "";
    $("prompt-info").textContent = `prompt: ${take.notes} recorded notes (a chosen file replaces them)`;
  } catch (e) {
    setStatus(e.message, true);
  }
});
$("prompt").addEventListener("change", () => {
  state.recorded = null;
  $("prompt-info").textContent = "";
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
