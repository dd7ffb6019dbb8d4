// The GPU sampler, one workgroup per sequence: grammar mask -> temperature -> top-k -> top-p -> draw with Philox
// 4x32-10 (counter = (draw index, sequence), key = seed). Writes the token where the next step's embedding gather
// reads it (state), rowStride 0: all sequences sample from logits row 0 (after a shared prefill), advances the position and the grammar state, and appends the token to `out` for the batched
// readback. lib/infer/sampling.ts reproduces every operation (same chunking, reduction order and exp polynomial).
// Thresholds are found by bitwise search over order-preserving u32 keys of the logits, so no sort is needed.
const WG: u32 = 256u;
const GTAB: u32 = 16u;
const STATE: u32 = 16u;

struct P {
  v: u32, b: u32, topK: u32, topP: f32,
  invT: f32, seedLo: u32, seedHi: u32, grammar: u32,
  chunkStart: u32, debug: u32, nTypes: u32, rowStride: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
@group(0) @binding(4) var<storage, read> gtab: array<i32>;
@group(0) @binding(5) var<storage, read> allow: array<u32>;
@group(0) @binding(6) var<storage, read_write> kept: array<u32>;

var<workgroup> red: array<f32, WG>;
var<workgroup> cnt: atomic<u32>;
var<workgroup> kmax: atomic<u32>;

fn key(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  if ((u & 0x80000000u) != 0u) {
    return ~u;
  }
  return u | 0x80000000u;
}

fn unkey(k: u32) -> f32 {
  if ((k & 0x80000000u) != 0u) {
    return bitcast<f32>(k & 0x7fffffffu);
  }
  return bitcast<f32>(~k);
}

fn fexp(x: f32) -> f32 {
  let y = x * 1.4426950408889634;
  if (y < -126.0) {
    return 0.0;
  }
  let n = floor(y);
  let f = y - n;
  var r = 1.525273380405984e-5;
  r = r * f + 0.00015403530393381608;
  r = r * f + 0.0013333558146428443;
  r = r * f + 0.009618129107628477;
  r = r * f + 0.05550410866482158;
  r = r * f + 0.2402265069591007;
  r = r * f + 0.6931471805599453;
  r = r * f + 1.0;
  return ldexp(r, i32(n));
}

fn mulhilo(a: u32, b: u32) -> vec2<u32> {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let ll = al * bl;
  let lh = al * bh;
  let hl = ah * bl;
  let hh = ah * bh;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}

fn philox(ctr: vec4<u32>, key0: vec2<u32>) -> vec4<u32> {
  var c = ctr;
  var k = key0;
  for (var i = 0u; i < 10u; i++) {
    let r0 = mulhilo(0xD2511F53u, c.x);
    let r1 = mulhilo(0xCD9E8D57u, c.z);
    c = vec4<u32>(r1.x ^ c.y ^ k.x, r1.y, r0.x ^ c.w ^ k.y, r0.y);
    k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}

fn treeSum(v: f32, tid: u32) -> f32 {
  red[tid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) {
      red[tid] += red[tid + s];
    }
    workgroupBarrier();
  }
  let t = red[0];
  workgroupBarrier();
  return t;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let tid = l.x;
  let b = wg.x;
  let st = b * STATE;
  let gType = state[st + 2u];
  let gPos = bitcast<i32>(state[st + 3u]);
  let draws = state[st + 4u];
  let gBar = state[st + 5u];
  let gPitch = vec4<u32>(state[st + 8u], state[st + 9u], state[st + 10u], state[st + 11u]);
  let lo0 = b * p.rowStride * p.v;
  let ko = b * p.v;
  let chunk = (p.v + WG - 1u) / WG;
  let lo = min(tid * chunk, p.v);
  let hi = min(lo + chunk, p.v);

  // Grammar mask (bit i of `ok` = token lo + i allowed; chunk <= 32 is checked on the CPU).
  var ok = 0u;
  var lmaxk = 0u;
  for (var v = lo; v < hi; v++) {
    if (gtabAllowed(v, gType, gPos, gBar, gPitch)) {
      ok |= 1u << (v - lo);
      lmaxk = max(lmaxk, key(logits[lo0 + v]));
    }
  }
  if (tid == 0u) {
    atomicStore(&kmax, 0u);
  }
  workgroupBarrier();
  atomicMax(&kmax, lmaxk);
  workgroupBarrier();
  let lmax = unkey(atomicLoad(&kmax));

  // Top-k: the largest key c with count(allowed, key >= c) >= k.
  var k = p.topK;
  if (k == 0u) {
    k = p.v;
  }
  var thr = 0u;
  for (var bit = 31i; bit >= 0i; bit--) {
    let cand = thr | (1u << u32(bit));
    if (tid == 0u) {
      atomicStore(&cnt, 0u);
    }
    workgroupBarrier();
    var c = 0u;
    for (var v = lo; v < hi; v++) {
      if ((ok & (1u << (v - lo))) != 0u && key(logits[lo0 + v]) >= cand) {
        c++;
      }
    }
    atomicAdd(&cnt, c);
    workgroupBarrier();
    if (atomicLoad(&cnt) >= k) {
      thr = cand;
    }
    workgroupBarrier();
  }

  // Top-p: the largest key c >= thr whose kept mass reaches topP of the top-k mass.
  if (p.topP < 1.0) {
    var ls = 0.0;
    for (var v = lo; v < hi; v++) {
      let lv = logits[lo0 + v];
      if ((ok & (1u << (v - lo))) != 0u && key(lv) >= thr) {
        ls += fexp((lv - lmax) * p.invT);
      }
    }
    let goal = treeSum(ls, tid) * p.topP;
    var tp = 0u;
    for (var bit = 31i; bit >= 0i; bit--) {
      let cand = tp | (1u << u32(bit));
      let c2 = max(cand, thr);
      var s = 0.0;
      for (var v = lo; v < hi; v++) {
        let lv = logits[lo0 + v];
        if ((ok & (1u << (v - lo))) != 0u && key(lv) >= c2) {
          s += fexp((lv - lmax) * p.invT);
        }
      }
      if (treeSum(s, tid) >= goal) {
        tp = cand;
      }
    }
    thr = max(tp, thr);
  }

  // Draw: per-chunk sums in index order, then thread 0 walks chunks and tokens.
  var cs = 0.0;
  for (var v = lo; v < hi; v++) {
    let lv = logits[lo0 + v];
    let kp = (ok & (1u << (v - lo))) != 0u && key(lv) >= thr;
    if (kp) {
      cs += fexp((lv - lmax) * p.invT);
    }
    if (p.debug != 0u) {
      kept[ko + v] = select(0u, 1u, kp);
    }
  }
  red[tid] = cs;
  workgroupBarrier();
  if (tid == 0u) {
    var total = 0.0;
    for (var t = 0u; t < WG; t++) {
      total += red[t];
    }
    let rnd = philox(vec4<u32>(draws, b, 0u, 0u), vec2<u32>(p.seedLo, p.seedHi));
    let u = f32(rnd.x >> 8u) * (1.0 / 16777216.0);
    let goal = u * total;
    var acc = 0.0;
    var ct = WG;
    for (var t = 0u; t < WG; t++) {
      if (red[t] > 0.0 && acc + red[t] > goal) {
        ct = t;
        break;
      }
      acc += red[t];
    }
    var chosen = 0xffffffffu;
    var last = 0xffffffffu;
    if (ct < WG) {
      let clo = min(ct * chunk, p.v);
      let chi = min(clo + chunk, p.v);
      for (var v = clo; v < chi; v++) {
        let lv = logits[lo0 + v];
        let a = gtabAllowed(v, gType, gPos, gBar, gPitch);
        if (a && key(lv) >= thr) {
          let e = fexp((lv - lmax) * p.invT);
          if (e > 0.0) {
            acc += e;
            last = v;
            if (acc > goal) {
              chosen = v;
              break;
            }
          }
        }
      }
    }
    if (chosen == 0xffffffffu) {
      chosen = last;
    }
    if (chosen == 0xffffffffu) {
      // Nothing with positive mass: the first allowed token at the maximum.
      for (var v = 0u; v < p.v; v++) {
        if (gtabAllowed(v, gType, gPos, gBar, gPitch) && key(logits[lo0 + v]) >= atomicLoad(&kmax)) {
          chosen = v;
          break;
        }
      }
      if (chosen == 0xffffffffu) {
        chosen = 0u;
      }
    }
    state[st] = chosen;
    state[st + 1u] = state[st + 1u] + 1u;
    let go = chosen * GTAB;
    let to = gtab[go + 1u];
    if (to >= 0) {
      state[st + 2u] = u32(to);
    }
    let po = gtab[go + 3u];
    if (po != -2) {
      state[st + 3u] = bitcast<u32>(po);
    }
    let bo = gtab[go + 5u];
    if (bo >= 0) {
      state[st + 5u] = u32(bo);
    }
    let keep = select(0xffffffffu, 0u, (gtab[go + 6u] & 1) != 0);
    for (var w = 0u; w < 4u; w++) {
      state[st + 8u + w] = (gPitch[w] & keep) | bitcast<u32>(gtab[go + 12u + w]);
    }
    state[st + 4u] = draws + 1u;
    out[(draws - p.chunkStart) * p.b + b] = chosen;
  }
}

// Grammar: the token's entry type may follow the state's type, its first Position lies after the current one and
// its largest Position inside the bar, and none of its pitches already sounds at the current step (gtab: GTAB words
// per token, see lib/infer/grammar.ts).
fn gtabAllowed(v: u32, gType: u32, gPos: i32, gBar: u32, gPitch: vec4<u32>) -> bool {
  if (p.grammar == 0u) {
    return true;
  }
  let o = v * GTAB;
  let ti = gtab[o];
  if (ti < 0 || allow[gType * p.nTypes + u32(ti)] == 0u) {
    return false;
  }
  let pr = gtab[o + 2u];
  let pm = gtab[o + 4u];
  let pre = bitcast<vec4<u32>>(vec4<i32>(gtab[o + 8u], gtab[o + 9u], gtab[o + 10u], gtab[o + 11u]));
  return !(pr >= 0 && pr <= gPos) && !(pm >= 0 && u32(pm) >= gBar) && all((pre & gPitch) == vec4<u32>(0u));
}
