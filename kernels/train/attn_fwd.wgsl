// Causal attention forward, flash style (no [T, T] matrix in memory): one workgroup per (query block of BR rows,
// sequence × head), one thread per query row; keys and values stream through workgroup memory BC at a time with an
// online softmax (running max and sum, rescaled once per tile). Writes out [B·T, d] (head h at columns h·HD) and
// lse [B, H, T] = logsumexp of the row's scaled scores, from which the backward recomputes the probabilities.
// qkv [B·T, 3d] holds q | k | v per row, RoPE already applied (lib/cpu/attention.ts attentionForward).
const HD: u32 = 64u;
const BR: u32 = 64u;
const BC: u32 = 32u;

struct P { t: u32, h: u32, d: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;

var<workgroup> ks: array<f32, BC * HD>;
var<workgroup> vs: array<f32, BC * HD>;

@compute @workgroup_size(BR)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let bh = wg.y;
  let b = bh / p.h;
  let h = bh % p.h;
  let d3 = 3u * p.d;
  let base = b * p.t * d3 + h * HD;
  let i = wg.x * BR + li;
  let valid = i < p.t;
  var q: array<f32, HD>;
  var o: array<f32, HD>;
  var sc: array<f32, BC>;
  if (valid) {
    for (var c = 0u; c < HD; c++) {
      q[c] = qkv[base + i * d3 + c] * p.scale;
      o[c] = 0.0;
    }
  }
  var m = -3.402823e38;
  var l = 0.0;
  let kend = min(p.t, (wg.x + 1u) * BR);
  for (var j0 = 0u; j0 < kend; j0 += BC) {
    for (var e = li; e < BC * HD; e += BR) {
      let j = j0 + e / HD;
      var kv = 0.0;
      var vv = 0.0;
      if (j < p.t) {
        let at = base + j * d3 + e % HD;
        kv = qkv[at + p.d];
        vv = qkv[at + 2u * p.d];
      }
      ks[e] = kv;
      vs[e] = vv;
    }
    workgroupBarrier();
    if (valid && j0 <= i) {
      let nk = min(BC, i + 1u - j0);
      var mt = m;
      for (var jj = 0u; jj < nk; jj++) {
        var sj = 0.0;
        for (var c = 0u; c < HD; c++) {
          sj += q[c] * ks[jj * HD + c];
        }
        sc[jj] = sj;
        mt = max(mt, sj);
      }
      let corr = exp(m - mt);
      l *= corr;
      for (var c = 0u; c < HD; c++) {
        o[c] *= corr;
      }
      for (var jj = 0u; jj < nk; jj++) {
        let pj = exp(sc[jj] - mt);
        l += pj;
        for (var c = 0u; c < HD; c++) {
          o[c] += pj * vs[jj * HD + c];
        }
      }
      m = mt;
    }
    workgroupBarrier();
  }
  if (valid) {
    let inv = 1.0 / l;
    let at = (b * p.t + i) * p.d + h * HD;
    for (var c = 0u; c < HD; c++) {
      out[at + c] = o[c] * inv;
    }
    lse[bh * p.t + i] = m + log(l);
  }
}
