// "Steer it": the hard controls (key, pitch range, tempo, …), built from GET /api/params like the sliders: every
// entry marked `control` gets a row, off unless switched on. Plain browser JavaScript, no build step.

const words = (field) => field.replace(/([A-Z])/g, " $1").replace(/^./, (c) => c.toUpperCase());

function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** Fills `root` with one row per control of `limits` (the /api/params answer). */
export function buildControls(limits, root) {
  root.querySelectorAll(".field").forEach((f) => f.remove());
  for (const [field, l] of Object.entries(limits)) {
    if (!l.control) continue;
    const id = `c-${field}`;
    const row = el("div", { className: "field", title: l.doc });
    row.dataset.control = field;
    if (l.kind === "text") {
      // A picker: "off", then the values the server offers.
      const sel = el("select", { id, name: field });
      sel.append(el("option", { value: "", textContent: "off" }));
      for (const c of l.choices) sel.append(el("option", { value: c, textContent: c }));
      row.append(el("label", { htmlFor: id, textContent: words(field) }), sel);
    } else {
      // A switch (none for a control that follows another, like key strength), then a slider or two boxes.
      const label = el("label", { htmlFor: id });
      const name = el("span", { textContent: words(field) });
      if (!l.requires) {
        const on = el("input", {
          type: "checkbox",
          id: `${id}-on`,
          title: `use ${words(field).toLowerCase()}`,
        });
        name.prepend(on, " ");
      }
      label.append(name);
      row.append(label);
      const box = (suffix, value) =>
        el("input", {
          type: "number",
          id: `${id}${suffix}`,
          min: String(l.min),
          max: String(l.max),
          step: String(l.step),
          value: String(value),
        });
      if (l.kind === "range") {
        row.append(el("div", { className: "row" }, box("-lo", l.default[0]), box("-hi", l.default[1])));
      } else {
        const out = el("output", { id: `${id}-out`, textContent: String(l.default) });
        label.append(out);
        const slider = el("input", {
          type: "range",
          id,
          min: String(l.min),
          max: String(l.max),
          step: String(l.step),
          value: String(l.default),
        });
        slider.addEventListener("input", () => (out.textContent = slider.value));
        row.append(slider);
      }
    }
    root.append(row);
  }
  const sync = () => {
    for (const [field, l] of Object.entries(limits)) {
      if (!l.control || l.kind === "text") continue;
      const on = l.requires ? isOn(limits, l.requires) : document.getElementById(`c-${field}-on`).checked;
      for (const s of ["", "-lo", "-hi"]) {
        const input = document.getElementById(`c-${field}${s}`);
        if (input) input.disabled = !on;
      }
    }
  };
  root.addEventListener("change", sync);
  sync();
}

function isOn(limits, field) {
  const l = limits[field];
  if (l.kind === "text") return document.getElementById(`c-${field}`).value !== "";
  if (l.requires) return isOn(limits, l.requires);
  return document.getElementById(`c-${field}-on`).checked;
}

/** The controls switched on, as request fields: `{key: "E minor", keyStrength: 0.8, pitchRange: [48, 84]}`. */
export function readControls(limits) {
  const out = {};
  for (const [field, l] of Object.entries(limits ?? {})) {
    if (!l.control || !isOn(limits, field)) continue;
    const v = (s = "") => document.getElementById(`c-${field}${s}`).value;
    out[field] = l.kind === "text"
      ? v()
      : l.kind === "range"
      ? [Number(v("-lo")), Number(v("-hi"))]
      : Number(v());
  }
  return out;
}
