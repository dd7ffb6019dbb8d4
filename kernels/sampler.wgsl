// The GPU sampler, one workgroup per sequence (workgroup i: sequence seq0 + i): grammar mask -> temperature -> top-k
// -> top-p -> draw with Philox 4x32-10 (counter = (draws - origin, stream), key = seed), each sequence with its own
// settings in `rows` (ROW words each: seed, stream, origin, 1/temperature, top-k, top-p, flags; an idle sequence is
// skipped). Flag 4: the row's controls bias (`bias`, V floats per sequence) is added to its logits first; a token
// whose bias is -inf is masked like a grammar-disallowed one (lib/infer/controls.ts). Writes the token where the next step's embedding gather reads it (state), advances the position, the
// draw counter and the grammar state, and appends the token to `out` (row draws - chunkStart, column sequence) for
// the batched readback. rowStride 0: every sequence samples from logits row 0 (after a prefill). lib/infer/sampling.ts
// reproduces every operation (same chunking, reduction order and exp polynomial). Thresholds are keys of the logits
// (order-preserving u32 keys): top-k's is the k-th largest allowed key (a radix select, 8 bits a pass); top-p's is the
// largest candidate key whose kept mass reaches the goal, found by binary search over the candidates' keys sorted in
// workgroup memory (up to NC of them; more, or a degenerate goal, fall back to a bitwise search over all 2^32 keys).
// Both search a monotone predicate, so they find what the reference's bitwise searches find; every mass is the same
// fixed-tree sum of the same per-chunk sums.
const WG: u32 = 256u;
const GTAB: u32 = 16u;
const STATE: u32 = 16u;
const ROW: u32 = 8u;
const NC: u32 = 256u;

struct P {
  v: u32, b: u32, chunkStart: u32, debug: u32,
  nTypes: u32, rowStride: u32, seq0: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
@group(0) @binding(4) var<storage, read> gtab: array<i32>;
@group(0) @binding(5) var<storage, read> allow: array<u32>;
@group(0) @binding(6) var<storage, read_write> kept: array<u32>;
@group(0) @binding(7) var<storage, read> rows: array<u32>;
@group(0) @binding(8) var<storage, read> bias: array<f32>;

var<workgroup> red: array<f32, WG>;
var<workgroup> cnt: atomic<u32>;
var<workgroup> kmax: atomic<u32>;
var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> sel: vec2<u32>;
var<workgroup> ckeys: array<u32, NC>;
var<workgroup> sorted: array<u32, NC>;
var<workgroup> wsum: f32;

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

// The sum of v over the workgroup as a fixed binary tree: node t of level s (s = 128, 64, …, 1) adds node t + s.
// Threads 0–31 compute the three lowest levels of their subtrees in registers and thread 0 the five top levels, in
// that same tree order (3 barriers instead of 9; the CPU reference sums the same tree).
fn treeSum(v: f32, tid: u32) -> f32 {
  red[tid] = v;
  workgroupBarrier();
  var c = 0.0;
  if (tid < 32u) {
    let a0 = red[tid] + red[tid + 128u];
    let a1 = red[tid + 32u] + red[tid + 160u];
    let a2 = red[tid + 64u] + red[tid + 192u];
    let a3 = red[tid + 96u] + red[tid + 224u];
    c = (a0 + a2) + (a1 + a3);
  }
  workgroupBarrier();
  if (tid < 32u) {
    red[tid] = c;
  }
  workgroupBarrier();
  if (tid == 0u) {
    for (var s = 16u; s > 0u; s >>= 1u) {
      for (var t = 0u; t < s; t++) {
        red[t] += red[t + s];
      }
    }
    wsum = red[0];
  }
  return workgroupUniformLoad(&wsum);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let tid = l.x;
  let b = p.seq0 + wg.x;
  let ro = b * ROW;
  let flags = rows[ro + 7u];
  if ((flags & 2u) != 0u) {
    return;
  }
  let useGrammar = (flags & 1u) != 0u;
  let useBias = (flags & 4u) != 0u;
  let invT = bitcast<f32>(rows[ro + 4u]);
  let topP = bitcast<f32>(rows[ro + 6u]);
  let st = b * STATE;
  let gType = state[st + 2u];
  let gPos = bitcast<i32>(state[st + 3u]);
  let draws = state[st + 4u];
  let gBar = state[st + 5u];
  let gPitch = vec4<u32>(state[st + 8u], state[st + 9u], state[st + 10u], state[st + 11u]);
  let lo0 = wg.x * p.rowStride * p.v;
  let ko = b * p.v;
  let chunk = (p.v + WG - 1u) / WG;
  let lo = min(tid * chunk, p.v);
  let hi = min(lo + chunk, p.v);

  // Grammar mask (bit i of `ok` = token lo + i allowed; chunk <= 32 is checked on the CPU).
  var ok = 0u;
  var lmaxk = 0u;
  for (var v = lo; v < hi; v++) {
    if (allowedTok(useGrammar, useBias, ko, v, gType, gPos, gBar, gPitch)) {
      ok |= 1u << (v - lo);
      lmaxk = max(lmaxk, key(lgt(lo0, ko, useBias, v)));
    }
  }
  if (tid == 0u) {
    atomicStore(&kmax, 0u);
    atomicStore(&cnt, 0u);
  }
  workgroupBarrier();
  atomicMax(&kmax, lmaxk);
  atomicAdd(&cnt, countOneBits(ok));
  workgroupBarrier();
  let lmax = unkey(atomicLoad(&kmax));
  let allowed = atomicLoad(&cnt);

  // Top-k: the largest key c with count(allowed, key >= c) >= k, i.e. the k-th largest allowed key (0 when fewer
  // than k are allowed). Radix select, most significant byte first: `sel` holds the byte found and the rank left.
  var k = rows[ro + 5u];
  if (k == 0u) {
    k = p.v;
  }
  var prefix = 0u;
  var rank = min(k, allowed);
  for (var byte = 0u; byte < 4u; byte++) {
    let shift = 24u - 8u * byte;
    let fixed = select(0xffffffffu << (shift + 8u), 0u, byte == 0u);
    atomicStore(&hist[tid], 0u);
    workgroupBarrier();
    for (var v = lo; v < hi; v++) {
      let kv = key(lgt(lo0, ko, useBias, v));
      if ((ok & (1u << (v - lo))) != 0u && (kv & fixed) == prefix) {
        atomicAdd(&hist[(kv >> shift) & 255u], 1u);
      }
    }
    workgroupBarrier();
    if (tid == 0u) {
      var acc = 0u;
      var d = 255u;
      loop {
        let h = atomicLoad(&hist[d]);
        if (acc + h >= rank || d == 0u) {
          break;
        }
        acc += h;
        d -= 1u;
      }
      sel = vec2<u32>(d, rank - acc);
    }
    let found = workgroupUniformLoad(&sel);
    prefix |= found.x << shift;
    rank = found.y;
  }
  var thr = select(prefix, 0u, k > allowed);

  // Top-p: the largest key c >= thr whose kept mass reaches topP of the top-k mass.
  if (topP < 1.0) {
    var ls = 0.0;
    var n = 0u;
    for (var v = lo; v < hi; v++) {
      let lv = lgt(lo0, ko, useBias, v);
      if ((ok & (1u << (v - lo))) != 0u && key(lv) >= thr) {
        ls += fexp((lv - lmax) * invT);
        n++;
      }
    }
    if (tid == 0u) {
      atomicStore(&cnt, 0u);
    }
    workgroupBarrier();
    let slot = atomicAdd(&cnt, n);
    let goal = treeSum(ls, tid) * topP;
    let kept = atomicLoad(&cnt);
    if (tid == 0u) {
      sel.x = select(0u, 1u, kept <= NC && goal > 0.0 && goal <= 3.0e38);
    }
    if (workgroupUniformLoad(&sel).x == 1u) {
      // The candidates' keys, sorted descending by rank (ties in slot order: the same keys in any case).
      if (kept <= NC) {
        var j = slot;
        for (var v = lo; v < hi; v++) {
          let kv = key(lgt(lo0, ko, useBias, v));
          if ((ok & (1u << (v - lo))) != 0u && kv >= thr) {
            ckeys[j] = kv;
            j++;
          }
        }
      }
      workgroupBarrier();
      if (tid < kept) {
        let mine = ckeys[tid];
        var r = 0u;
        for (var i = 0u; i < kept; i++) {
          let o = ckeys[i];
          if (o > mine || (o == mine && i < tid)) {
            r++;
          }
        }
        sorted[r] = mine;
      }
      workgroupBarrier();
      // The first rank whose key keeps a mass >= goal (the last rank keeps all: the whole top-k mass >= goal).
      var a = 0u;
      var z = kept - 1u;
      for (var it = 0u; it < 9u; it++) {
        let mid = (a + z) / 2u;
        let c2 = sorted[mid];
        var s = 0.0;
        for (var v = lo; v < hi; v++) {
          let lv = lgt(lo0, ko, useBias, v);
          if ((ok & (1u << (v - lo))) != 0u && key(lv) >= c2) {
            s += fexp((lv - lmax) * invT);
          }
        }
        let m = treeSum(s, tid);
        if (a < z) {
          if (m >= goal) {
            z = mid;
          } else {
            a = mid + 1u;
          }
        }
      }
      thr = max(sorted[a], thr);
    } else {
      var tp = 0u;
      for (var bit = 31i; bit >= 0i; bit--) {
        let cand = tp | (1u << u32(bit));
        let c2 = max(cand, thr);
        var s = 0.0;
        for (var v = lo; v < hi; v++) {
          let lv = lgt(lo0, ko, useBias, v);
          if ((ok & (1u << (v - lo))) != 0u && key(lv) >= c2) {
            s += fexp((lv - lmax) * invT);
          }
        }
        if (treeSum(s, tid) >= goal) {
          tp = cand;
        }
      }
      thr = max(tp, thr);
    }
  }

  // Draw: per-chunk sums in index order, then thread 0 walks chunks and tokens.
  var cs = 0.0;
  for (var v = lo; v < hi; v++) {
    let lv = lgt(lo0, ko, useBias, v);
    let kp = (ok & (1u << (v - lo))) != 0u && key(lv) >= thr;
    if (kp) {
      cs += fexp((lv - lmax) * invT);
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
    let rnd = philox(vec4<u32>(draws - rows[ro + 3u], rows[ro + 2u], 0u, 0u), vec2<u32>(rows[ro], rows[ro + 1u]));
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
        let lv = lgt(lo0, ko, useBias, v);
        let a = allowedTok(useGrammar, useBias, ko, v, gType, gPos, gBar, gPitch);
        if (a && key(lv) >= thr) {
          let e = fexp((lv - lmax) * invT);
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
        if (allowedTok(useGrammar, useBias, ko, v, gType, gPos, gBar, gPitch) && key(lgt(lo0, ko, useBias, v)) >= atomicLoad(&kmax)) {
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

// Grammar: the token's entry type may follow the state's type, a note in it has a Position in its bar, its first
// Position lies after the current one and its largest Position inside the bar, and none of its pitches already
// sounds at the current step (gtab: GTAB words per token, see lib/infer/grammar.ts).
fn gtabAllowed(useGrammar: bool, v: u32, gType: u32, gPos: i32, gBar: u32, gPitch: vec4<u32>) -> bool {
  if (!useGrammar) {
    return true;
  }
  let o = v * GTAB;
  let ti = gtab[o];
  if (ti < 0 || allow[gType * p.nTypes + u32(ti)] == 0u) {
    return false;
  }
  if ((gtab[o + 6u] & 2) != 0 && gPos < 0) {
    return false; // a note needs a Position in its bar
  }
  let pr = gtab[o + 2u];
  let pm = gtab[o + 4u];
  let pre = bitcast<vec4<u32>>(vec4<i32>(gtab[o + 8u], gtab[o + 9u], gtab[o + 10u], gtab[o + 11u]));
  return !(pr >= 0 && pr <= gPos) && !(pm >= 0 && u32(pm) >= gBar) && all((pre & gPitch) == vec4<u32>(0u));
}

// A token's logit plus its row's controls bias (when the row has one): the f32 sum the reference computes.
fn lgt(lo0: u32, ko: u32, useBias: bool, v: u32) -> f32 {
  let x = logits[lo0 + v];
  if (useBias) {
    return x + bias[ko + v];
  }
  return x;
}

// The grammar mask and the controls' mask (a bias of -inf).
fn allowedTok(useGrammar: bool, useBias: bool, ko: u32, v: u32, gType: u32, gPos: i32, gBar: u32, gPitch: vec4<u32>) -> bool {
  if (useBias && !(bias[ko + v] > -3.4e38)) {
    return false;
  }
  return gtabAllowed(useGrammar, v, gType, gPos, gBar, gPitch);
}
