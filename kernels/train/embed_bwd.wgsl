// Embedding backward without atomics: one workgroup per token id v (strided), which sums the gradient rows of the
// positions holding v — listed by a counting sort done with the ids (CSR: positions pos[start[v] … start[v + 1]],
// in increasing order) — and adds the sum to dtable[v] (lib/cpu/ops.ts embeddingBackward; with tied embeddings
// dtable already holds the output head's gradient). Threads split the d columns.
const WG: u32 = 64u;

struct P { v: u32, d: u32, startOff: u32, posOff: u32, tOff: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> tok: array<u32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> dtable: array<f32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(num_workgroups) nw: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  for (var v = wg.x; v < p.v; v += nw.x) {
    let s0 = tok[p.startOff + v];
    let s1 = tok[p.startOff + v + 1u];
    if (s1 == s0) {
      continue;
    }
    for (var i = li; i < p.d; i += WG) {
      var s = 0.0;
      for (var k = s0; k < s1; k++) {
        s += dout[tok[p.posOff + k] * p.d + i];
      }
      dtable[p.tOff + v * p.d + i] += s;
    }
  }
}
