// RMSNorm backward in one dispatch with two kinds of workgroup (lib/cpu/ops.ts rmsnormBackward):
// - the first `rowGroups` take rows (strided): dx[row] += dout·w·r − x·r³·⟨dout·w, x⟩ / d (dx is the residual
//   stream's gradient: accumulated; written instead when `accum` is 0, as for the first norm of the backward);
// - the rest take CW columns each, WG / CW lanes over the rows, and reduce in workgroup memory:
//   dw[i] += Σ_rows dout[row, i] · x[row, i] · rstd[row]. No atomics: each column has one owner.
const WG: u32 = 64u;
const CW: u32 = 16u;
const LANES: u32 = WG / CW;

struct P { n: u32, d: u32, wOff: u32, dwOff: u32, rowGroups: u32, accum: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> dw: array<f32>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  if (wg.x < p.rowGroups) {
    for (var row = wg.x; row < p.n; row += p.rowGroups) {
      let o = row * p.d;
      var s = 0.0;
      for (var i = li; i < p.d; i += WG) {
        s += dout[o + i] * w[p.wOff + i] * x[o + i];
      }
      red[li] = s;
      workgroupBarrier();
      for (var h = WG / 2u; h > 0u; h >>= 1u) {
        if (li < h) {
          red[li] += red[li + h];
        }
        workgroupBarrier();
      }
      let r = rstd[row];
      let cc = r * r * r * red[0] / f32(p.d);
      for (var i = li; i < p.d; i += WG) {
        var prev = 0.0;
        if (p.accum == 1u) {
          prev = dx[o + i];
        }
        dx[o + i] = prev + dout[o + i] * w[p.wOff + i] * r - cc * x[o + i];
      }
      workgroupBarrier();
    }
  } else {
    let col = (wg.x - p.rowGroups) * CW + li % CW;
    let lane = li / CW;
    var s = 0.0;
    if (col < p.d) {
      for (var row = lane; row < p.n; row += LANES) {
        let o = row * p.d + col;
        s += dout[o] * x[o] * rstd[row];
      }
    }
    red[li] = s;
    workgroupBarrier();
    for (var h = LANES / 2u; h > 0u; h >>= 1u) {
      if (lane < h) {
        red[li] += red[li + h * CW];
      }
      workgroupBarrier();
    }
    if (lane == 0u && col < p.d) {
      dw[p.dwOff + col] += red[li];
    }
  }
}
