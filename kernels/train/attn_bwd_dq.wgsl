// Causal attention backward, queries: one workgroup per (query block of BR rows, sequence × head), one thread per
// query row i holding q, dO, lse, D = ⟨dO, O⟩ and the dQ accumulator; keys j ≤ i stream through workgroup memory
// BC rows at a time. P = exp(q·k·scale − lse), dS = P·(dO·v − D), dQ = scale·Σ dS·k. Writes the q columns of dqkv
// (attn_bwd_dkv.wgsl writes k and v).
const HD: u32 = 64u;
const BR: u32 = 64u;
const BC: u32 = 32u;

struct P { t: u32, h: u32, d: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> o: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read_write> dqkv: array<f32>;

var<workgroup> ks: array<f32, BC * HD>;
var<workgroup> vs: array<f32, BC * HD>;

@compute @workgroup_size(BR)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let bh = wg.y;
  let b = bh / p.h;
  let h = bh % p.h;
  let d3 = 3u * p.d;
  let base = b * p.t * d3 + h * HD;
  let obase = b * p.t * p.d + h * HD;
  let i = wg.x * BR + li;
  let valid = i < p.t;
  var q: array<f32, HD>;
  var g: array<f32, HD>;
  var dq: array<f32, HD>;
  var dd = 0.0;
  var lv = 0.0;
  if (valid) {
    for (var c = 0u; c < HD; c++) {
      q[c] = qkv[base + i * d3 + c] * p.scale;
      g[c] = dout[obase + i * p.d + c];
      dd += g[c] * o[obase + i * p.d + c];
      dq[c] = 0.0;
    }
    lv = lse[bh * p.t + i];
  }
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
      for (var jj = 0u; jj < nk; jj++) {
        var sj = 0.0;
        var dp = 0.0;
        for (var c = 0u; c < HD; c++) {
          sj += q[c] * ks[jj * HD + c];
          dp += g[c] * vs[jj * HD + c];
        }
        let dsv = exp(sj - lv) * (dp - dd);
        for (var c = 0u; c < HD; c++) {
          dq[c] += dsv * ks[jj * HD + c];
        }
      }
    }
    workgroupBarrier();
  }
  if (valid) {
    for (var c = 0u; c < HD; c++) {
      dqkv[base + i * d3 + c] = dq[c] * p.scale;
    }
  }
}
