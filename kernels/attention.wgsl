// Causal attention of one query row and one head over the KV cache: softmax(q·k / sqrt(headDim)) v for cache
// positions 0..pos. One workgroup per (head, row); scores live in workgroup memory (MAXPOS = max_position_embeddings).
const WG: u32 = 64u;
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
  for (var e = tid; e < p.hd; e += WG) {
    var a = 0.0;
    for (var t = 0u; t < n; t++) {
      a += sc[t] * vc[kb + t * p.d + e];
    }
    out[qo + e] = a / tot;
  }
}
