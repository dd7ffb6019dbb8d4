// RMSNorm forward, one workgroup per row (rows strided by the workgroup count): out = x · rstd · w with
// rstd = 1 / √(mean(x²) + eps), kept in rstd[row] for the backward (lib/cpu/ops.ts rmsnormForward).
const WG: u32 = 64u;

struct P { n: u32, d: u32, wOff: u32, eps: f32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(num_workgroups) nw: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  for (var row = wg.x; row < p.n; row += nw.x) {
    let o = row * p.d;
    var s = 0.0;
    for (var i = li; i < p.d; i += WG) {
      let v = x[o + i];
      s += v * v;
    }
    red[li] = s;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
      if (li < h) {
        red[li] += red[li + h];
      }
      workgroupBarrier();
    }
    let r = inverseSqrt(red[0] / f32(p.d) + p.eps);
    for (var i = li; i < p.d; i += WG) {
      out[o + i] = x[o + i] * r * w[p.wOff + i];
    }
    if (li == 0u) {
      rstd[row] = r;
    }
    workgroupBarrier();
  }
}
