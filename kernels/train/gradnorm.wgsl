// The gradient's global norm, first half: `parts` workgroups each sum g² over a strided share of one range of the
// flat gradient buffer into partial[partOff + wg]; with `rows` > 0 one more workgroup sums the step's per-row losses
// into partial[lossAt]. adamw.wgsl reduces the partials (so the norm, the clip scale and the update take one more
// dispatch, not three).
const WG: u32 = 64u;

struct P { n: u32, parts: u32, partOff: u32, rows: u32, lossAt: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> rowloss: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  if (wg.x < p.parts) {
    for (var i = wg.x * WG + li; i < p.n; i += p.parts * WG) {
      let v = g[i];
      s += v * v;
    }
  } else {
    for (var i = li; i < p.rows; i += WG) {
      s += rowloss[i];
    }
  }
  red[li] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) {
      red[li] += red[li + h];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    if (wg.x < p.parts) {
      partial[p.partOff + wg.x] = red[0];
    } else {
      partial[p.lossAt] = red[0];
    }
  }
}
