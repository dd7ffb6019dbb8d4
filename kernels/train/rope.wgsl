// RoPE in place (Hugging Face rotate_half: element j of a head pairs with j + half), forward (sign 1) or backward
// (sign −1: the inverse rotation of the gradient), on `heads` heads of 2·half columns from column `col` of n rows of
// stride `stride`; row r sits at position r % t (lib/cpu/rope.ts). One thread per (row, head, j).
const WG: u32 = 64u;

struct P { n: u32, t: u32, stride: u32, col: u32, heads: u32, half: u32, sign: f32, pad: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> cosT: array<f32>;
@group(0) @binding(2) var<storage, read> sinT: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(num_workgroups) nw: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let idx = (wg.y * nw.x + wg.x) * WG + li;
  let perRow = p.heads * p.half;
  if (idx >= p.n * perRow) {
    return;
  }
  let row = idx / perRow;
  let h = (idx % perRow) / p.half;
  let j = idx % p.half;
  let t = (row % p.t) * p.half + j;
  let c = cosT[t];
  let s = p.sign * sinT[t];
  let o = row * p.stride + p.col + h * 2u * p.half + j;
  let a = x[o];
  let b = x[o + p.half];
  x[o] = a * c - b * s;
  x[o + p.half] = b * c + a * s;
}
