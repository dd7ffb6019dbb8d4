// C[M, N] (+)= A·B (+ R): the tiled product behind every linear layer of training, in the three forms the selector
// (lib/gpu/kernels.ts) compiles through TA / TB: forward Y = X·Wᵀ (TA 0, TB 1), input gradient dX = dY·W (TA 0,
// TB 0), weight gradient dW += dYᵀ·X (TA 1, TB 0). A is [M, K] (TA 0) or stored [K, M] (TA 1); B is [K, N] (TB 0)
// or stored [N, K] (TB 1); C and R are [M, N]. Each workgroup computes a BM × BN tile of C through BK-deep slices
// staged in workgroup memory (loads coalesced along whichever dimension is contiguous); each thread a 4 × 4
// register tile in named vec4 variables (arrays indexed in loops spill on software adapters).
// flags bit 0: C += the product (gradient accumulation); bit 1: + R (a residual add fused into the product).
// Offsets (aOff, …) are in floats from the start of each binding.
const TA: u32 = 0u;
const TB: u32 = 1u;
const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const WX: u32 = BN / 4u;
const WY: u32 = BM / 4u;
const THREADS: u32 = WX * WY;
const LA: u32 = BM * BK / THREADS;
const LB: u32 = BN * BK / THREADS;

struct P { m: u32, n: u32, k: u32, flags: u32, aOff: u32, bOff: u32, cOff: u32, rOff: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> r: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// As[k · SA + i]: rows 4i … 4i + 3 of the tile at depth k; Bs[k · SB + j]: columns 4j … 4j + 3. Rows of the
// staging arrays are padded by one vec4, so that the stores of 16 consecutive depths (the loads of a [M, K] or
// [N, K] operand run along k) fall in different banks.
const SA: u32 = WY + 1u;
const SB: u32 = WX + 1u;
var<workgroup> As: array<vec4<f32>, BK * SA>;
var<workgroup> Bs: array<vec4<f32>, BK * SB>;

fn put(row: u32, col: u32, v: vec4<f32>) {
  if (row >= p.m) {
    return;
  }
  for (var e = 0u; e < 4u; e++) {
    if (col + e < p.n) {
      let o = row * p.n + col + e;
      var x = v[e];
      if ((p.flags & 1u) != 0u) {
        x += c[p.cOff + o];
      }
      if ((p.flags & 2u) != 0u) {
        x += r[p.rOff + o];
      }
      c[p.cOff + o] = x;
    }
  }
}

@compute @workgroup_size(WX, WY)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) l: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < p.k; k0 += BK) {
    for (var j = 0u; j < LA; j++) {
      let e = li + j * THREADS;
      var mm = e / BK;
      var kk = e % BK;
      if (TA == 1u) {
        mm = e % BM;
        kk = e / BM;
      }
      let gm = m0 + mm;
      let gk = k0 + kk;
      var v = 0.0;
      if (gm < p.m && gk < p.k) {
        if (TA == 0u) {
          v = a[p.aOff + gm * p.k + gk];
        } else {
          v = a[p.aOff + gk * p.m + gm];
        }
      }
      As[kk * SA + mm / 4u][mm % 4u] = v;
    }
    for (var j = 0u; j < LB; j++) {
      let e = li + j * THREADS;
      var nn = e % BN;
      var kk = e / BN;
      if (TB == 1u) {
        nn = e / BK;
        kk = e % BK;
      }
      let gn = n0 + nn;
      let gk = k0 + kk;
      var v = 0.0;
      if (gn < p.n && gk < p.k) {
        if (TB == 0u) {
          v = b[p.bOff + gk * p.n + gn];
        } else {
          v = b[p.bOff + gn * p.k + gk];
        }
      }
      Bs[kk * SB + nn / 4u][nn % 4u] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let av = As[kk * SA + l.y];
      let bv = Bs[kk * SB + l.x];
      c0 += av.x * bv;
      c1 += av.y * bv;
      c2 += av.z * bv;
      c3 += av.w * bv;
    }
    workgroupBarrier();
  }
  let row = m0 + l.y * 4u;
  let col = n0 + l.x * 4u;
  put(row, col, c0);
  put(row + 1u, col, c1);
  put(row + 2u, col, c2);
  put(row + 3u, col, c3);
}
