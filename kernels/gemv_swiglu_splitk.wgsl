// Split-K SwiGLU GEMV for batch-1 / small-M decode on real GPUs: Y[m, j] = silu(g) * u with
// g = rms(X[m]) X[m]·Wg[:, j] and u = rms(X[m]) X[m]·Wu[:, j] (RMSNorm weight folded into Wg and Wu), the same
// uniforms and layout as matmul_swiglu.wgsl and the same split-K scheme as gemv_splitk.wgsl: one workgroup per
// (COLS vec4 columns, row), WG = COLS x KS invocations over interleaved K slices, shared-memory tree reductions.
// Dispatch: (ceil(n4 / COLS), m). Correctness is tested on the software adapter; its speed on a real GPU is NOT
// measured yet.
const COLS: u32 = 8u;
const KS: u32 = 32u;
const WG: u32 = COLS * KS;

struct P { m: u32, n4: u32, k: u32, flags: u32, xRow0: u32, yRow0: u32, eps: f32, n: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wg_: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wu: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> pg: array<vec4<f32>, WG>;
var<workgroup> pu: array<vec4<f32>, WG>;
var<workgroup> ssq: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wgid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let tid = l.x;
  let c = tid % COLS;
  let s = tid / COLS;
  let row = wgid.y;
  let xo = (p.xRow0 + row) * p.k;
  var q = 0.0;
  for (var k = tid; k < p.k; k += WG) {
    let v = x[xo + k];
    q += v * v;
  }
  ssq[tid] = q;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (tid < h) {
      ssq[tid] += ssq[tid + h];
    }
    workgroupBarrier();
  }
  let inv = inverseSqrt(ssq[0] / f32(p.k) + p.eps);
  let col = wgid.x * COLS + c;
  let wc = min(col, p.n4 - 1u);
  var ag = vec4<f32>(0.0);
  var au = vec4<f32>(0.0);
  for (var k = s; k < p.k; k += KS) {
    let xv = x[xo + k];
    let o = k * p.n4 + wc;
    ag += xv * wg_[o];
    au += xv * wu[o];
  }
  pg[tid] = ag;
  pu[tid] = au;
  workgroupBarrier();
  for (var h = KS / 2u; h > 0u; h >>= 1u) {
    if (s < h) {
      pg[tid] += pg[tid + h * COLS];
      pu[tid] += pu[tid + h * COLS];
    }
    workgroupBarrier();
  }
  if (s == 0u && col < p.n4) {
    let g = pg[c] * inv;
    let u = pu[c] * inv;
    let a = g / (vec4<f32>(1.0) + exp(-g)) * u;
    for (var e = 0u; e < 4u; e++) {
      let n = col * 4u + e;
      if (n < p.n) {
        y[(p.yRow0 + row) * p.n + n] = a[e];
      }
    }
  }
}
