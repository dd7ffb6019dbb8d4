// SwiGLU forward: act[row, i] = silu(gate) · up, where each row of gu [n, 2f] holds gate then up
// (lib/cpu/ops.ts swigluForward). One thread per output.
const WG: u32 = 64u;

struct P { n: u32, f: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> gu: array<f32>;
@group(0) @binding(2) var<storage, read_write> act: array<f32>;

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
  let g = gu[row * 2u * p.f + i];
  let u = gu[row * 2u * p.f + p.f + i];
  act[idx] = g / (1.0 + exp(-g)) * u;
}
