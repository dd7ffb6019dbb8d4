// Fused softmax + cross-entropy over the vocabulary, one workgroup per row (strided), forward and backward in one
// pass (lib/cpu/loss.ts): lse[row] = logsumexp(logits[row]); rowloss[rowOff + row] = lse − logits[row, target],
// 0 where the target is `ignore` (PAD; 0xffffffff ignores nothing). With flags bit 0 the row is then overwritten in
// place by its gradient (softmax − onehot(target)) · s.invTotal (the step's 1 / counted targets; 0 on ignored rows).
const WG: u32 = 64u;

struct P { n: u32, v: u32, tgtOff: u32, rowOff: u32, ignore: u32, flags: u32 }
// The step's uniform (shared with adamw.wgsl; written once per step).
struct S {
  invTotal: f32, lr: f32, keep: f32, c1: f32, c2: f32, b1: f32, b2: f32, a1: f32,
  a2: f32, eps: f32, clip: f32, slot: u32, update: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<uniform> s: S;
@group(0) @binding(2) var<storage, read> tok: array<u32>;
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<storage, read_write> rowloss: array<f32>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(num_workgroups) nw: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  for (var row = wg.x; row < p.n; row += nw.x) {
    let o = row * p.v;
    var mx = -3.402823e38;
    for (var i = li; i < p.v; i += WG) {
      mx = max(mx, logits[o + i]);
    }
    red[li] = mx;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
      if (li < h) {
        red[li] = max(red[li], red[li + h]);
      }
      workgroupBarrier();
    }
    let m = red[0];
    workgroupBarrier();
    var sum = 0.0;
    for (var i = li; i < p.v; i += WG) {
      sum += exp(logits[o + i] - m);
    }
    red[li] = sum;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
      if (li < h) {
        red[li] += red[li + h];
      }
      workgroupBarrier();
    }
    let l = m + log(red[0]);
    let t = tok[p.tgtOff + row];
    let counted = t != p.ignore;
    if (li == 0u) {
      lse[row] = l;
      var loss = 0.0;
      if (counted) {
        loss = l - logits[o + t];
      }
      rowloss[p.rowOff + row] = loss;
    }
    workgroupBarrier();
    if ((p.flags & 1u) != 0u) {
      var sc = 0.0;
      if (counted) {
        sc = s.invTotal;
      }
      for (var i = li; i < p.v; i += WG) {
        var g = exp(logits[o + i] - l) * sc;
        if (i == t) {
          g -= sc;
        }
        logits[o + i] = g;
      }
    }
  }
}
