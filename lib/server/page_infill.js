// Infilling on the piano roll: drag across bars to select them (in the piece's meters, as the grid draws them), then
// "Regenerate bars" sends the piece on the roll as the prompt with `infill: "FROM:TO"`; every other bar comes back
// as it was. Offered only for a model trained with infilling (GET /api/models: `conditioning`). Plain browser
// JavaScript, no build step.
import { barAtTick, barAtX, barTicks } from "./page_roll.js";

/**
 * Wires the selection on `roll` and the `button`. `state` is the page's (its `notes`, `result`, `selection`);
 * `redraw()` repaints; `supported()` says whether the chosen model infills; `formRequest()` is the form's request
 * and `generate(request, keep)` sends one, showing the `keep` notes while it runs.
 */
export function setupInfill({ roll, button, info, state, redraw, supported, formRequest, generate }) {
  // The form's settings, the piece on the roll as the prompt, bars from..to; the kept notes stay on the roll.
  const regenerate = async (from, to) => {
    const r = await formRequest();
    for (const unit of ["bars", "tokens", "seconds"]) delete r[unit];
    r.prompt = state.result.midiBase64;
    r.infill = `${from}:${to}`;
    const bars = barTicks(sigs(), tpb(), to * 16 * tpb() + lastTick());
    const a = bars[from - 1], b = bars[to];
    generate(r, state.result.notes.filter((n) => n.start < a || n.start >= b));
  };
  let anchor = 0;
  const tpb = () => state.result?.ticksPerBeat ?? 480;
  const sigs = () => state.result?.timeSignatures ?? [];
  const barOf = (e) => {
    const r = roll.getBoundingClientRect();
    return barAtX((e.clientX - r.left) / Math.max(1, r.width), state.notes, tpb(), sigs());
  };
  const lastTick = () => {
    let end = 0;
    for (const n of state.result?.notes ?? []) end = Math.max(end, n.start);
    return end;
  };
  // The bars the piece on the roll has (the last note's bar).
  const lastBar = () => barAtTick(lastTick(), barTicks(sigs(), tpb(), lastTick()));
  const select = (a, b) => {
    const hi = lastBar();
    const from = Math.min(Math.max(1, Math.min(a, b)), hi), to = Math.min(Math.max(a, b), hi);
    state.selection = { from, to };
    update();
    redraw();
  };
  roll.addEventListener("pointerdown", (e) => {
    if (!state.result || !supported()) return;
    anchor = barOf(e);
    roll.setPointerCapture?.(e.pointerId);
    select(anchor, anchor);
  });
  roll.addEventListener("pointermove", (e) => {
    if (anchor && e.buttons & 1) select(anchor, barOf(e));
  });
  roll.addEventListener("pointerup", () => (anchor = 0));
  button.addEventListener("click", () => {
    const s = state.selection;
    if (s && state.result) regenerate(s.from, s.to);
  });
  /** Enables the button (a piece, a selection, a model that infills) and names the bars. */
  function update(busy = false) {
    const s = state.selection;
    const ok = !busy && !!state.result && !!s && supported();
    button.disabled = !ok;
    button.textContent = s && supported() ? `Regenerate bars ${s.from}–${s.to}` : "Regenerate bars";
    info.textContent = supported()
      ? (state.result ? "drag across the roll to pick bars to regenerate" : "")
      : "";
  }
  return { update };
}
