// The SwiGLU input for many rows: Y[m, j] = silu(g) * u, g = rms(X[m]) X[m]·Wg[:, j], u = rms(X[m]) X[m]·Wu[:, j]
// (post-attention RMSNorm weight folded into Wg and Wu). Each thread holds 4 rows x 1 vec4 column of both products
// in named variables (see matmul_tile.wgsl).
const WG: u32 = 8u;

struct P { m: u32, n4: u32, k: u32, flags: u32, xRow0: u32, yRow0: u32, eps: f32, n: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wg_: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wu: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<vec4<f32>, WG>;

fn put(row: u32, col: u32, g: vec4<f32>, u: vec4<f32>) {
  if (row >= p.m || col >= p.n4) {
    return;
  }
  let a = g / (vec4<f32>(1.0) + exp(-g)) * u;
  let o = (p.yRow0 + row) * p.n + col * 4u;
  for (var e = 0u; e < 4u; e++) {
    if (col * 4u + e < p.n) {
      y[o + e] = a[e];
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wgid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let tid = l.x;
  let row0 = wgid.y * 4u;
  let last = p.m - 1u;
  let x0 = (p.xRow0 + min(row0, last)) * p.k;
  let x1 = (p.xRow0 + min(row0 + 1u, last)) * p.k;
  let x2 = (p.xRow0 + min(row0 + 2u, last)) * p.k;
  let x3 = (p.xRow0 + min(row0 + 3u, last)) * p.k;
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
  let inv = inverseSqrt(red[0] / f32(p.k) + p.eps);
  let b = wgid.x * WG + tid;
  let c = min(b, p.n4 - 1u);
  var g0 = vec4<f32>(0.0);
  var g1 = vec4<f32>(0.0);
  var g2 = vec4<f32>(0.0);
  var g3 = vec4<f32>(0.0);
  var u0 = vec4<f32>(0.0);
  var u1 = vec4<f32>(0.0);
  var u2 = vec4<f32>(0.0);
  var u3 = vec4<f32>(0.0);
  var wo = 0u;
  for (var k = 0u; k < p.k; k++) {
    let gw = wg_[wo + c];
    let uw = wu[wo + c];
    let v0 = x[x0 + k];
    let v1 = x[x1 + k];
    let v2 = x[x2 + k];
    let v3 = x[x3 + k];
    g0 += v0 * gw;
    u0 += v0 * uw;
    g1 += v1 * gw;
    u1 += v1 * uw;
    g2 += v2 * gw;
    u2 += v2 * uw;
    g3 += v3 * gw;
    u3 += v3 * uw;
    wo += p.n4;
  }
  put(row0, b, g0 * inv.x, u0 * inv.x);
  put(row0 + 1u, b, g1 * inv.y, u1 * inv.y);
  put(row0 + 2u, b, g2 * inv.z, u2 * inv.z);
  put(row0 + 3u, b, g3 * inv.w, u3 * inv.w);
}
