// Embedding gather: out[row] = table[ids[row]] for n ids, rows of width d (lib/cpu/ops.ts embeddingForward).
// ids sit at idOff (in 32-bit words) of the step's token buffer; table at tOff floats. One thread per output.
const WG: u32 = 64u;

struct P { n: u32, d: u32, idOff: u32, tOff: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> tok: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(num_workgroups) nw: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let idx = (wg.y * nw.x + wg.x) * WG + li;
  if (idx >= p.n * p.d) {
    return;
  }
  let row = idx / p.d;
  out[idx] = table[p.tOff + tok[p.idOff + row] * p.d + idx % p.d];
}
