// Y[m, n] (+)= rms(X[m]) * sum_k X[m, k] * W[k, n]: the prefill matmul, the batched decode GEMV (TM = 1) and the tied
// output projection. W is stored transposed ([K, N] as vec4 columns, N padded to a multiple of 4) so each thread reads
// contiguous vec4s; register tiling TM rows x TN vec4 columns per thread, no shared memory for the product (faster on
// software adapters). flags bit 0: fuse RMSNorm (the norm weight is folded into W at load; the workgroup computes
// 1/rms of its rows cooperatively). flags bit 1: add into Y (residual connection).
const WG: u32 = 64u;
const TM: u32 = 4u;
const TN: u32 = 2u;

struct P { m: u32, n4: u32, k: u32, flags: u32, xRow0: u32, yRow0: u32, eps: f32, n: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, WG * TM>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let tid = l.x;
  let row0 = wg.y * TM;
  var inv: array<f32, TM>;
  for (var r = 0u; r < TM; r++) {
    inv[r] = 1.0;
  }
  if ((p.flags & 1u) != 0u) {
    for (var r = 0u; r < TM; r++) {
      var s = 0.0;
      let row = row0 + r;
      if (row < p.m) {
        let xo = (p.xRow0 + row) * p.k;
        for (var k = tid; k < p.k; k += WG) {
          let v = x[xo + k];
          s += v * v;
        }
      }
      red[r * WG + tid] = s;
    }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (tid < s) {
        for (var r = 0u; r < TM; r++) {
          red[r * WG + tid] += red[r * WG + tid + s];
        }
      }
      workgroupBarrier();
    }
    for (var r = 0u; r < TM; r++) {
      inv[r] = inverseSqrt(red[r * WG] / f32(p.k) + p.eps);
    }
  }
  var acc: array<vec4<f32>, TM * TN>;
  var xo: array<u32, TM>;
  for (var r = 0u; r < TM; r++) {
    xo[r] = (p.xRow0 + min(row0 + r, p.m - 1u)) * p.k;
  }
  var wc: array<u32, TN>;
  let c0 = wg.x * WG * TN + tid;
  for (var c = 0u; c < TN; c++) {
    wc[c] = min(c0 + c * WG, p.n4 - 1u);
  }
  for (var k = 0u; k < p.k; k++) {
    var wv: array<vec4<f32>, TN>;
    let wo = k * p.n4;
    for (var c = 0u; c < TN; c++) {
      wv[c] = w[wo + wc[c]];
    }
    for (var r = 0u; r < TM; r++) {
      let xv = x[xo[r] + k];
      for (var c = 0u; c < TN; c++) {
        acc[r * TN + c] += xv * wv[c];
      }
    }
  }
  for (var r = 0u; r < TM; r++) {
    let row = row0 + r;
    if (row >= p.m) {
      break;
    }
    for (var c = 0u; c < TN; c++) {
      let col = c0 + c * WG;
      if (col >= p.n4) {
        continue;
      }
      let a = acc[r * TN + c] * inv[r];
      for (var e = 0u; e < 4u; e++) {
        let n = col * 4u + e;
        if (n < p.n) {
          let idx = (p.yRow0 + row) * p.n + n;
          var v = a[e];
          if ((p.flags & 2u) != 0u) {
            v += y[idx];
          }
          y[idx] = v;
        }
      }
    }
  }
}
