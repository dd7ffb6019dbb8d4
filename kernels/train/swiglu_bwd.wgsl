// SwiGLU backward: dgu [n, 2f] (gate gradient, then up gradient per row) from dact [n, f] and the forward's gu, the
// gate's sigmoid recomputed (lib/cpu/ops.ts swigluBackward). One thread per (row, i).
const WG: u32 = 64u;

struct P { n: u32, f: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dact: array<f32>;
@group(0) @binding(2) var<storage, read> gu: array<f32>;
@group(0) @binding(3) var<storage, read_write> dgu: array<f32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(num_workgroups) nw: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let idx = (wg.y * nw.x + wg.x) * WG + li;
  if (idx >= p.n * p.f) {
    return;
  }
  let row = idx / p.f;
  let i = idx % p.f;
  let o = row * 2u * p.f + i;
  let g = gu[o];
  let u = gu[o + p.f];
  let d = dact[idx];
  let s = 1.0 / (1.0 + exp(-g));
  dgu[o] = d * u * s * (1.0 + g * (1.0 - s));
  dgu[o + p.f] = d * g * s;
}
