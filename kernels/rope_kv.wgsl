// RoPE (Hugging Face Llama rotate_half convention: pairs (j, j + headDim/2) within each head) on q and k of the fused
// qkv projection; writes the rotated q for attention and appends rotated k and v to the KV cache
// ([sequence, maxPos, d] per layer; a prefill writes nseq sequences' caches at once). Row m is token m of sequence `seq` at posBase + m (prefill) or sequence m at its
// current position in `state` (decode). `rope` holds cos/sin per (position, j), computed once on the CPU.
struct P { m: u32, d: u32, hd: u32, prefill: u32, seq: u32, posBase: u32, maxPos: u32, nseq: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> rope: array<f32>;
@group(0) @binding(3) var<storage, read> state: array<u32>;
@group(0) @binding(4) var<storage, read_write> q: array<f32>;
@group(0) @binding(5) var<storage, read_write> kc: array<f32>;
@group(0) @binding(6) var<storage, read_write> vc: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  let m = g.y;
  let half = p.hd / 2u;
  if (i >= p.d / 2u || m >= p.m) {
    return;
  }
  var seq = m;
  var pos: u32;
  if (p.prefill == 1u) {
    seq = p.seq;
    pos = p.posBase + m;
  } else {
    pos = state[m * 16u + 1u];
  }
  let h = i / half;
  let j = i % half;
  let a = h * p.hd + j;
  let b = a + half;
  let c = rope[(pos * half + j) * 2u];
  let s = rope[(pos * half + j) * 2u + 1u];
  let base = m * 3u * p.d;
  let q0 = qkv[base + a];
  let q1 = qkv[base + b];
  q[m * p.d + a] = q0 * c - q1 * s;
  q[m * p.d + b] = q1 * c + q0 * s;
  let k0 = qkv[base + p.d + a];
  let k1 = qkv[base + p.d + b];
  let v0 = qkv[base + 2u * p.d + a];
  let v1 = qkv[base + 2u * p.d + b];
  // A prefill may fill the caches of nseq sequences at once (a batch continuing the same prompt).
  for (var sq = seq; sq < seq + max(p.nseq, 1u); sq++) {
    let co = (sq * p.maxPos + pos) * p.d;
    kc[co + a] = k0 * c - k1 * s;
    kc[co + b] = k1 * c + k0 * s;
    vc[co + a] = v0;
    vc[co + b] = v1;
  }
}
