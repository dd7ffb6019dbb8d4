// The piano roll: notes as bars on a canvas, pitch up, time across; a cursor while playing. Plain browser
// JavaScript, no build step.

/** The tick at the roll's right edge: the notes' end, at least four 4/4 bars. */
export function rollEnd(notes, tpb) {
  let end = 1;
  for (const n of notes) end = Math.max(end, n.start + n.duration);
  return Math.max(end, tpb * 16);
}

/**
 * The bar (1-based; 4/4, as the roll's grid draws them) under a horizontal position `x` in [0, 1] of the roll.
 */
export function barAtX(x, notes, tpb) {
  const tick = Math.max(0, Math.min(1, x)) * rollEnd(notes, tpb);
  return Math.floor(tick / (tpb * 4)) + 1;
}

/**
 * Draws `notes` (ticks, `tpb` a beat) on `canvas`; a cursor at `cursorTick` when it is 0 or more; bars
 * `selection.from..to` (1-based, 4/4) shaded when given.
 */
export function drawRoll(canvas, notes, tpb, cursorTick = -1, selection = null) {
  const W = canvas.width, H = canvas.height;
  const g = canvas.getContext("2d");
  g.fillStyle = "#1e1c1a";
  g.fillRect(0, 0, W, H);
  let lo = 48, hi = 84;
  for (const n of notes) {
    lo = Math.min(lo, n.pitch);
    hi = Math.max(hi, n.pitch);
  }
  lo -= 2;
  hi += 2;
  const end = rollEnd(notes, tpb);
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
  // the bars selected for infilling
  if (selection) {
    g.fillStyle = "rgba(245, 210, 138, 0.16)";
    const a = x((selection.from - 1) * tpb * 4), b = x(selection.to * tpb * 4);
    g.fillRect(a, 0, b - a, H);
  }
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
}
