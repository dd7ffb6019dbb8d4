// Playback in the browser: a piece's tempo map (ticks → seconds) and a small WebAudio piano-ish voice. Plain browser
// JavaScript, no build step.

/** Ticks → seconds over `result`'s tempo map (120 BPM when it has none). */
export function secondsFn(result) {
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

/** Schedules `notes` on `ac` from `t0` (seconds, the context's clock), timed by `sec(tick)`. */
export function scheduleVoice(ac, notes, sec, t0) {
  const master = ac.createGain();
  master.gain.value = 0.25;
  const comp = ac.createDynamicsCompressor();
  master.connect(comp).connect(ac.destination);
  for (const n of notes) {
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
}
