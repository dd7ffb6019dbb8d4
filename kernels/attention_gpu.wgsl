// Causal attention for real GPUs (the `gpu` kernel path, lib/infer/_kernels.ts): softmax(q·k / sqrt(headDim)) v of
// one query row and one head over the KV cache, like attention.wgsl, but with 256 invocations per (head, row)
// workgroup and the weighted sum of V split over cached positions too: invocation (slice j, dim e) sums positions
// j, j + S, ... (S = WG / headDim slices), then the S partial sums are added in workgroup memory. attention.wgsl
// gives each head dimension one invocation that walks every position (fine on llvmpipe, a long serial chain on a
// GPU). Correctness is tested on the software adapter; its speed on a real GPU is NOT measured yet.
const WG: u32 = 256u;
const MAXPOS: u32 = 512u;

struct P { m: u32, d: u32, hd: u32, prefill: u32, seq: u32, posBase: u32, maxPos: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<f32>;
@group(0) @binding(3) var<storage, read> vc: array<f32>;
@group(0) @binding(4) var<storage, read> state: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

var<workgroup> sc: array<f32, MAXPOS>;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let tid = l.x;
  let h = wg.x;
  let m = wg.y;
  var seq = m;
  var pos: u32;
  if (p.prefill == 1u) {
    seq = p.seq;
    pos = p.posBase + m;
  } else {
    pos = state[m * 16u + 1u];
  }
  let n = pos + 1u;
  let qo = m * p.d + h * p.hd;
  let kb = seq * p.maxPos * p.d + h * p.hd;
  var mx = -3.0e38;
  for (var t = tid; t < n; t += WG) {
    var s = 0.0;
    let ko = kb + t * p.d;
    for (var e = 0u; e < p.hd; e++) {
      s += q[qo + e] * kc[ko + e];
    }
    s *= p.scale;
    sc[t] = s;
    mx = max(mx, s);
  }
  red[tid] = mx;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) {
      red[tid] = max(red[tid], red[tid + s]);
    }
    workgroupBarrier();
  }
  let gmax = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var t = tid; t < n; t += WG) {
    let e = exp(sc[t] - gmax);
    sc[t] = e;
    sum += e;
  }
  red[tid] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) {
      red[tid] += red[tid + s];
    }
    workgroupBarrier();
  }
  let tot = red[0];
  workgroupBarrier(); // every invocation has read red[0] before red holds partial sums
  if (p.hd <= WG) {
    let slices = WG / p.hd;
    let e = tid % p.hd;
    let j = tid / p.hd;
    var a = 0.0;
    if (j < slices) {
      for (var t = j; t < n; t += slices) {
        a += sc[t] * vc[kb + t * p.d + e];
      }
    }
    red[tid] = a;
    workgroupBarrier();
    if (tid < p.hd) {
      var o = 0.0;
      for (var i = 0u; i < slices; i++) {
        o += red[i * p.hd + tid];
      }
      out[qo + tid] = o / tot;
    }
  } else {
    for (var e = tid; e < p.hd; e += WG) {
      var a = 0.0;
      for (var t = 0u; t < n; t++) {
        a += sc[t] * vc[kb + t * p.d + e];
      }
      out[qo + e] = a / tot;
    }
  }
}
