// C[M, N] (+)= A·B (+ R) without workgroup memory: the matmul variant for software adapters (llvmpipe runs a
// workgroup's invocations as SIMD lanes of one CPU thread, so barriers cost and a "shared" tile buys nothing over
// the CPU's caches). Same forms, uniform and bindings as matmul.wgsl (TA / TB, flags, offsets); each thread
// computes 4 rows × 4 columns in named vec4 variables, reading A and B straight from the storage buffers.
const TA: u32 = 0u;
const TB: u32 = 1u;
const WX: u32 = 8u;
const WY: u32 = 8u;
const BM: u32 = WY * 4u;
const BN: u32 = WX * 4u;

struct P { m: u32, n: u32, k: u32, flags: u32, aOff: u32, bOff: u32, cOff: u32, rOff: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> r: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

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
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let row = wg.y * BM + l.y * 4u;
  let col = wg.x * BN + l.x * 4u;
  // clamped indices: out-of-range rows and columns compute garbage that put() drops
  let lm = p.m - 1u;
  let ln = p.n - 1u;
  let m0 = min(row, lm);
  let m1 = min(row + 1u, lm);
  let m2 = min(row + 2u, lm);
  let m3 = min(row + 3u, lm);
  let n0 = min(col, ln);
  let n1 = min(col + 1u, ln);
  let n2 = min(col + 2u, ln);
  let n3 = min(col + 3u, ln);
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var k = 0u; k < p.k; k++) {
    var av: vec4<f32>;
    var bv: vec4<f32>;
    if (TA == 0u) {
      let o = p.aOff + k;
      av = vec4<f32>(a[o + m0 * p.k], a[o + m1 * p.k], a[o + m2 * p.k], a[o + m3 * p.k]);
    } else {
      let o = p.aOff + k * p.m;
      av = vec4<f32>(a[o + m0], a[o + m1], a[o + m2], a[o + m3]);
    }
    if (TB == 0u) {
      let o = p.bOff + k * p.n;
      bv = vec4<f32>(b[o + n0], b[o + n1], b[o + n2], b[o + n3]);
    } else {
      let o = p.bOff + k;
      bv = vec4<f32>(b[o + n0 * p.k], b[o + n1 * p.k], b[o + n2 * p.k], b[o + n3 * p.k]);
    }
    c0 += av.x * bv;
    c1 += av.y * bv;
    c2 += av.z * bv;
    c3 += av.w * bv;
  }
  put(row, col, c0);
  put(row + 1u, col, c1);
  put(row + 2u, col, c2);
  put(row + 3u, col, c3);
}
