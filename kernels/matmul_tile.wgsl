// Y[m, n] (+)= rms(X[m]) * sum_k X[m, k] * W[k, n] for many rows (prefill, batched decode): each thread holds a
// 4-row x 2-vec4-column register tile in named variables (arrays indexed in loops spill on software adapters).
// W is [K, N] as vec4 columns (N padded to 4). flags bit 0: fused RMSNorm (weight folded into W); bit 1: add into Y.
const WG: u32 = 16u;

struct P { m: u32, n4: u32, k: u32, flags: u32, xRow0: u32, yRow0: u32, eps: f32, n: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<vec4<f32>, WG>;

fn put(row: u32, col: u32, v: vec4<f32>) {
  if (row >= p.m || col >= p.n4) {
    return;
  }
  let o = (p.yRow0 + row) * p.n + col * 4u;
  for (var e = 0u; e < 4u; e++) {
    if (col * 4u + e < p.n) {
      var r = v[e];
      if ((p.flags & 2u) != 0u) {
        r += y[o + e];
      }
      y[o + e] = r;
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let tid = l.x;
  let row0 = wg.y * 4u;
  let last = p.m - 1u;
  let x0 = (p.xRow0 + min(row0, last)) * p.k;
  let x1 = (p.xRow0 + min(row0 + 1u, last)) * p.k;
  let x2 = (p.xRow0 + min(row0 + 2u, last)) * p.k;
  let x3 = (p.xRow0 + min(row0 + 3u, last)) * p.k;
  var inv = vec4<f32>(1.0);
  if ((p.flags & 1u) != 0u) {
    var s = vec4<f32>(0.0);
    for (var k = tid; k < p.k; k += WG) {
      let v = vec4<f32>(x[x0 + k], x[x1 + k], x[x2 + k], x[x3 + k]);
      s += v * v;
    }
    red[tid] = s;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
      if (tid < h) {
        red[tid] += red[tid + h];
      }
      workgroupBarrier();
    }
    inv = inverseSqrt(red[0] / f32(p.k) + p.eps);
  }
  let b = wg.x * WG * 2u + tid;
  let c0 = min(b, p.n4 - 1u);
  let c1 = min(b + WG, p.n4 - 1u);
  var a00 = vec4<f32>(0.0);
  var a01 = vec4<f32>(0.0);
  var a10 = vec4<f32>(0.0);
  var a11 = vec4<f32>(0.0);
  var a20 = vec4<f32>(0.0);
  var a21 = vec4<f32>(0.0);
  var a30 = vec4<f32>(0.0);
  var a31 = vec4<f32>(0.0);
  var wo = 0u;
  for (var k = 0u; k < p.k; k++) {
    let w0 = w[wo + c0];
    let w1 = w[wo + c1];
    let v0 = x[x0 + k];
    let v1 = x[x1 + k];
    let v2 = x[x2 + k];
    let v3 = x[x3 + k];
    a00 += v0 * w0;
    a01 += v0 * w1;
    a10 += v1 * w0;
    a11 += v1 * w1;
    a20 += v2 * w0;
    a21 += v2 * w1;
    a30 += v3 * w0;
    a31 += v3 * w1;
    wo += p.n4;
  }
  put(row0, b, a00 * inv.x);
  put(row0, b + WG, a01 * inv.x);
  put(row0 + 1u, b, a10 * inv.y);
  put(row0 + 1u, b + WG, a11 * inv.y);
  put(row0 + 2u, b, a20 * inv.z);
  put(row0 + 2u, b + WG, a21 * inv.z);
  put(row0 + 3u, b, a30 * inv.w);
  put(row0 + 3u, b + WG, a31 * inv.w);
}
