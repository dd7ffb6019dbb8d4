// The page's MIDI devices (WebMIDI): an output the generated notes play into as they stream (a DAW, a synth), a
// panic that silences it, and an input a prompt is recorded from (note on/off → a MIDI file). Plain browser
// JavaScript, no build step.

const $ = (id) => document.getElementById(id);
let access = null;

/** Asks for MIDI access (the browser may ask the user) and fills the output and input pickers. */
export async function connectMidi() {
  if (!navigator.requestMIDIAccess) throw new Error("this browser has no Web MIDI");
  access = await navigator.requestMIDIAccess({ sysex: false });
  const fill = (sel, ports, none) => {
    const keep = sel.value;
    sel.replaceChildren(new Option(none, ""));
    for (const p of ports.values()) sel.append(new Option(p.name || p.id, p.id));
    sel.value = [...ports.keys()].includes(keep) ? keep : "";
    sel.disabled = false;
  };
  const refresh = () => {
    fill($("midi-out"), access.outputs, "no MIDI output");
    fill($("midi-in"), access.inputs, "no MIDI input");
  };
  refresh();
  access.onstatechange = refresh;
  return { outputs: access.outputs.size, inputs: access.inputs.size };
}

/** The chosen output port, or null. */
export function midiOutput() {
  return (access && $("midi-out").value && access.outputs.get($("midi-out").value)) || null;
}

const clamp = (v) => Math.max(1, Math.min(127, Math.round(v)));

/**
 * Plays notes into `out` as they arrive: the first one `lead` ms from now, the rest at their times (`msPerTick`).
 * When notes come later than they should sound (generation slower than the music), the clock waits for them.
 */
export function livePlayer(out, msPerTick, lead = 150) {
  let t0 = null;
  let lastOff = 0;
  return {
    push(notes) {
      if (!notes.length) return;
      const now = performance.now();
      const first = Math.min(...notes.map((n) => n.start));
      if (t0 === null) t0 = now + lead - first * msPerTick;
      const late = now + 20 - (t0 + first * msPerTick);
      if (late > 0) t0 += late;
      for (const n of notes) {
        const on = t0 + n.start * msPerTick, off = t0 + (n.start + n.duration) * msPerTick;
        out.send([0x90, n.pitch, clamp(n.velocity)], on);
        out.send([0x80, n.pitch, 0], Math.max(off, on + 1));
        lastOff = Math.max(lastOff, off);
      }
    },
    /** When the last scheduled note ends (performance.now() time). */
    end: () => lastOff,
  };
}

/** Plays a whole piece into `out` now (`seconds(tick)`: the piece's tempo map). */
export function playInto(out, notes, seconds, lead = 100) {
  const t0 = performance.now() + lead;
  for (const n of notes) {
    const on = t0 + seconds(n.start) * 1000, off = t0 + seconds(n.start + n.duration) * 1000;
    out.send([0x90, n.pitch, clamp(n.velocity)], on);
    out.send([0x80, n.pitch, 0], Math.max(off, on + 1));
  }
}

/** Stop everything: drops what is scheduled, then All Notes Off and All Sound Off on every channel. */
export function panic(out) {
  if (!out) return;
  out.clear?.();
  for (let ch = 0; ch < 16; ch++) {
    out.send([0xb0 | ch, 123, 0]);
    out.send([0xb0 | ch, 120, 0]);
  }
}

// ---- recording a prompt ----
let rec = null;

/** Starts capturing note on/off from the chosen input. */
export function startRecording() {
  const port = access && $("midi-in").value && access.inputs.get($("midi-in").value);
  if (!port) throw new Error("choose a MIDI input first");
  rec = { port, events: [] };
  port.onmidimessage = (e) => {
    const [status, a, b] = e.data;
    const type = status & 0xf0;
    if (type !== 0x80 && type !== 0x90) return;
    rec.events.push({
      t: e.timeStamp ?? performance.now(),
      on: type === 0x90 && b > 0,
      pitch: a,
      velocity: b,
    });
  };
}

export const isRecording = () => rec !== null;

/** Stops capturing; the take as a MIDI file (120 BPM, 480 ticks a beat), or null when no note was played. */
export function stopRecording() {
  if (!rec) return null;
  rec.port.onmidimessage = null;
  const events = rec.events;
  rec = null;
  const firstOn = events.find((e) => e.on);
  if (!firstOn) return null;
  const end = events.at(-1).t;
  const held = new Map();
  const notes = [];
  for (const e of events) {
    if (e.t < firstOn.t) continue;
    const tick = Math.round((e.t - firstOn.t) * 0.96); // ms → ticks at 120 BPM, 480 a beat
    const open = held.get(e.pitch);
    if (open) notes.push({ ...open, end: tick });
    held.delete(e.pitch);
    if (e.on) held.set(e.pitch, { pitch: e.pitch, velocity: e.velocity, start: tick });
  }
  for (const o of held.values()) notes.push({ ...o, end: Math.round((end - firstOn.t) * 0.96) + 240 });
  return { bytes: smf(notes), notes: notes.length };
}

/** A format 0 MIDI file of `notes` ({pitch, velocity, start, end} in ticks), 480 ticks a beat, 120 BPM. */
export function smf(notes) {
  const ev = [];
  for (const n of notes) {
    ev.push({ t: n.start, b: [0x90, n.pitch, clamp(n.velocity)] });
    ev.push({ t: Math.max(n.end, n.start + 1), b: [0x80, n.pitch, 0] });
  }
  ev.sort((x, y) => x.t - y.t || x.b[0] - y.b[0]); // note-offs (0x80) before note-ons at the same tick
  const vlq = (v) => {
    const out = [v & 0x7f];
    while ((v >>= 7)) out.unshift((v & 0x7f) | 0x80);
    return out;
  };
  const track = [0, 0xff, 0x51, 3, 0x07, 0xa1, 0x20]; // tempo 500,000 µs a beat
  let last = 0;
  for (const e of ev) {
    track.push(...vlq(e.t - last), ...e.b);
    last = e.t;
  }
  track.push(0, 0xff, 0x2f, 0);
  const n = track.length;
  return new Uint8Array([
    ...[0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 0, 0, 1, 0x01, 0xe0],
    ...[0x4d, 0x54, 0x72, 0x6b, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255],
    ...track,
  ]);
}
