// Split-K GEMV for batch-1 / small-M decode on real GPUs: Y[m, n] (+)= rms(X[m]) * sum_k X[m, k] * W[k, n], with the
// same transposed vec4 layout, uniforms and flags as matmul.wgsl (bit 0: fused RMSNorm, bit 1: add into Y).
// matmul.wgsl's GEMV walks the whole K loop in each invocation (tuned for llvmpipe), so a 512 -> 2048 projection
// launches only a handful of workgroups; here one workgroup handles COLS vec4 columns of one row and its
// WG = COLS x KS invocations split K into KS interleaved slices: invocation (c, s) sums k = s, s + KS, ... over column
// c (adjacent invocations read adjacent vec4s of one W row, so loads coalesce), then a shared-memory tree reduction
// over the KS slices (no subgroups needed). Dispatch: (ceil(n4 / COLS), m). Chosen by lib/infer/_kernels.ts for real
// GPUs. Correctness is tested on the software adapter; its speed on a real GPU is NOT measured yet.
const COLS: u32 = 8u;
const KS: u32 = 32u;
const WG: u32 = COLS * KS;

struct P { m: u32, n4: u32, k: u32, flags: u32, xRow0: u32, yRow0: u32, eps: f32, n: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> part: array<vec4<f32>, WG>;
var<workgroup> ssq: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let tid = l.x;
  let c = tid % COLS;
  let s = tid / COLS;
  let row = wg.y;
  let xo = (p.xRow0 + row) * p.k;
  var inv = 1.0;
  if ((p.flags & 1u) != 0u) {
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
    inv = inverseSqrt(ssq[0] / f32(p.k) + p.eps);
  }
  let col = wg.x * COLS + c;
  let wc = min(col, p.n4 - 1u);
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var k = s;
  for (; k + KS < p.k; k += 2u * KS) {
    a0 += x[xo + k] * w[k * p.n4 + wc];
    a1 += x[xo + k + KS] * w[(k + KS) * p.n4 + wc];
  }
  if (k < p.k) {
    a0 += x[xo + k] * w[k * p.n4 + wc];
  }
  part[tid] = a0 + a1;
  workgroupBarrier();
  for (var h = KS / 2u; h > 0u; h >>= 1u) {
    if (s < h) {
      part[tid] += part[tid + h * COLS];
    }
    workgroupBarrier();
  }
  if (s == 0u && col < p.n4) {
    let a = part[c] * inv;
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
