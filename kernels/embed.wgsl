// Embedding gather: x[m, :] = embed[token(m), :]. In prefill mode the tokens come from `prompt`; in decode mode row m
// is sequence m and its token is the one the sampler last wrote into `state` (so many steps run without the CPU).
struct P { m: u32, d: u32, prefill: u32, seq: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> emb: array<f32>;
@group(0) @binding(2) var<storage, read> prompt: array<u32>;
@group(0) @binding(3) var<storage, read> state: array<u32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  let m = g.y;
  if (i >= p.d || m >= p.m) {
    return;
  }
  var tok: u32;
  if (p.prefill == 1u) {
    tok = prompt[m];
  } else {
    tok = state[m * 16u];
  }
  x[m * p.d + i] = emb[tok * p.d + i];
}
