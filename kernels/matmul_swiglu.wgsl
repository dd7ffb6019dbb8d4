// The SwiGLU feed-forward input: Y[m, j] = silu(g) * u with g = rms(X[m]) X[m]·Wg[:, j], u = rms(X[m]) X[m]·Wu[:, j].
// Fuses the post-attention RMSNorm (weight folded into Wg and Wu), both projections and the gate in one dispatch.
// Layout and tiling as matmul.wgsl.
const WG: u32 = 64u;
const TM: u32 = 4u;
const TN: u32 = 1u;

struct P { m: u32, n4: u32, k: u32, flags: u32, xRow0: u32, yRow0: u32, eps: f32, n: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wg_: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wu: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, WG * TM>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wgid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let tid = l.x;
  let row0 = wgid.y * TM;
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
  var inv: array<f32, TM>;
  var xo: array<u32, TM>;
  for (var r = 0u; r < TM; r++) {
    inv[r] = inverseSqrt(red[r * WG] / f32(p.k) + p.eps);
    xo[r] = (p.xRow0 + min(row0 + r, p.m - 1u)) * p.k;
  }
  var ag: array<vec4<f32>, TM * TN>;
  var au: array<vec4<f32>, TM * TN>;
  var wc: array<u32, TN>;
  let c0 = wgid.x * WG * TN + tid;
  for (var c = 0u; c < TN; c++) {
    wc[c] = min(c0 + c * WG, p.n4 - 1u);
  }
  for (var k = 0u; k < p.k; k++) {
    var gv: array<vec4<f32>, TN>;
    var uv: array<vec4<f32>, TN>;
    let wo = k * p.n4;
    for (var c = 0u; c < TN; c++) {
      gv[c] = wg_[wo + wc[c]];
      uv[c] = wu[wo + wc[c]];
    }
    for (var r = 0u; r < TM; r++) {
      let xv = x[xo[r] + k];
      for (var c = 0u; c < TN; c++) {
        ag[r * TN + c] += xv * gv[c];
        au[r * TN + c] += xv * uv[c];
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
      let g = ag[r * TN + c] * inv[r];
      let u = au[r * TN + c] * inv[r];
      let a = g / (vec4<f32>(1.0) + exp(-g)) * u;
      for (var e = 0u; e < 4u; e++) {
        let n = col * 4u + e;
        if (n < p.n) {
          y[(p.yRow0 + row) * p.n + n] = a[e];
        }
      }
    }
  }
}
