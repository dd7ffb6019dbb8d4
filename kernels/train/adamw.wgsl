// AdamW over one range of the flat parameter buffer (the whole buffer in one dispatch where the adapter's binding
// limit allows), with global-norm clipping folded in (lib/cpu/adamw.ts, lib/cpu/train.ts): every workgroup first
// reduces the norm's partial sums (gradnorm.wgsl) to the same norm and clip scale, g ← g · scale when
// norm > clip (scale = clip / (norm + 1e-6)); then m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
// p ← p·keep (decayed tensors: bit i of mask) − lr · (m / c₁) / (√(v / c₂) + ε). The first range's workgroup 0
// also records (loss, norm) in the stats ring at s.slot: the only numbers a step ever reads back. With
// s.update 0 (a step that only measures) nothing else is written.
const WG: u32 = 64u;

struct P { n: u32, base: u32, parts: u32, first: u32 }
struct S {
  invTotal: f32, lr: f32, keep: f32, c1: f32, c2: f32, b1: f32, b2: f32, a1: f32,
  a2: f32, eps: f32, clip: f32, slot: u32, update: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<uniform> s: S;
@group(0) @binding(2) var<storage, read> partial: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> prm: array<f32>;
@group(0) @binding(6) var<storage, read_write> m: array<f32>;
@group(0) @binding(7) var<storage, read_write> v: array<f32>;
@group(0) @binding(8) var<storage, read_write> stats: array<f32>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(num_workgroups) nw: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  var sq = 0.0;
  for (var i = li; i < p.parts; i += WG) {
    sq += partial[i];
  }
  red[li] = sq;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) {
      red[li] += red[li + h];
    }
    workgroupBarrier();
  }
  let norm = sqrt(red[0]);
  var scale = 1.0;
  if (norm > s.clip) {
    scale = s.clip / (norm + 1e-6);
  }
  if (p.first == 1u && wg.x == 0u && li == 0u) {
    stats[s.slot * 2u] = partial[p.parts] * s.invTotal;
    stats[s.slot * 2u + 1u] = norm;
  }
  if (s.update == 0u) {
    return;
  }
  for (var i = wg.x * WG + li; i < p.n; i += nw.x * WG) {
    let gi = g[i] * scale;
    let mi = m[i] * s.b1 + gi * s.a1;
    let vi = v[i] * s.b2 + gi * gi * s.a2;
    m[i] = mi;
    v[i] = vi;
    let u = (mi / s.c1) / (sqrt(vi / s.c2) + s.eps);
    let gidx = p.base + i;
    var w = prm[i];
    if (((mask[gidx >> 5u] >> (gidx & 31u)) & 1u) == 1u) {
      w *= s.keep;
    }
    prm[i] = w - u * s.lr;
  }
}
