// Causal attention backward, keys and values: one workgroup per (key block of BR rows, sequence × head), one
// thread per key row j holding k, v and the dK, dV accumulators; queries i ≥ j stream through workgroup memory BC
// rows at a time with their lse and D = ⟨dO, O⟩. The probabilities are recomputed from the forward's lse:
// P = exp(q·k·scale − lse), dV += P·dO, dS = P·(dO·v − D), dK += dS·q·scale. Writes the k and v columns of dqkv;
// attn_bwd_dq.wgsl writes the q columns (no atomics).
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

var<workgroup> qs: array<f32, BC * HD>;
var<workgroup> dos: array<f32, BC * HD>;
var<workgroup> ls: array<f32, BC>;
var<workgroup> ds: array<f32, BC>;

@compute @workgroup_size(BR)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let bh = wg.y;
  let b = bh / p.h;
  let h = bh % p.h;
  let d3 = 3u * p.d;
  let base = b * p.t * d3 + h * HD;
  let obase = b * p.t * p.d + h * HD;
  let j = wg.x * BR + li;
  let valid = j < p.t;
  var k: array<f32, HD>;
  var v: array<f32, HD>;
  var dk: array<f32, HD>;
  var dv: array<f32, HD>;
  if (valid) {
    for (var c = 0u; c < HD; c++) {
      k[c] = qkv[base + j * d3 + p.d + c];
      v[c] = qkv[base + j * d3 + 2u * p.d + c];
      dk[c] = 0.0;
      dv[c] = 0.0;
    }
  }
  for (var i0 = wg.x * BR; i0 < p.t; i0 += BC) {
    for (var e = li; e < BC * HD; e += BR) {
      let i = i0 + e / HD;
      var qv = 0.0;
      var dov = 0.0;
      if (i < p.t) {
        qv = qkv[base + i * d3 + e % HD] * p.scale;
        dov = dout[obase + i * p.d + e % HD];
      }
      qs[e] = qv;
      dos[e] = dov;
    }
    for (var r = li; r < BC; r += BR) {
      let i = i0 + r;
      var lv = 0.0;
      var dd = 0.0;
      if (i < p.t) {
        lv = lse[bh * p.t + i];
        for (var c = 0u; c < HD; c++) {
          dd += dout[obase + i * p.d + c] * o[obase + i * p.d + c];
        }
      }
      ls[r] = lv;
      ds[r] = dd;
    }
    workgroupBarrier();
    if (valid) {
      for (var r = 0u; r < BC; r++) {
        let i = i0 + r;
        if (i >= p.t) {
          break;
        }
        if (i < j) {
          continue;
        }
        var sj = 0.0;
        var dp = 0.0;
        for (var c = 0u; c < HD; c++) {
          sj += qs[r * HD + c] * k[c];
          dp += dos[r * HD + c] * v[c];
        }
        let pr = exp(sj - ls[r]);
        let dsv = pr * (dp - ds[r]);
        for (var c = 0u; c < HD; c++) {
          dv[c] += pr * dos[r * HD + c];
          dk[c] += dsv * qs[r * HD + c];
        }
      }
    }
    workgroupBarrier();
  }
  if (valid) {
    for (var c = 0u; c < HD; c++) {
      dqkv[base + j * d3 + p.d + c] = dk[c];
      dqkv[base + j * d3 + 2u * p.d + c] = dv[c];
    }
  }
}
