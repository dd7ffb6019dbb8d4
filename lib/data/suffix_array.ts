/**
 * Suffix arrays by SA-IS, in linear time (Nong, Zhang & Chan 2009; the AtCoder Library's `sa_is`, ported): what the
 * copy index (./copy_index.ts) builds its Burrows-Wheeler transform from.
 *
 * @module
 */
function saNaive(s: Int32Array): Int32Array {
  const n = s.length;
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => {
    if (a === b) return 0;
    while (a < n && b < n) {
      if (s[a] !== s[b]) return s[a] - s[b];
      a++;
      b++;
    }
    return a === n ? -1 : 1;
  });
  return Int32Array.from(idx);
}

/**
 * Suffix array of `s` (values in [0, upper]) by SA-IS, in linear time. A suffix that is a prefix of another sorts
 * first.
 *
 * @example
 * ```ts
 * import { suffixArray } from "./suffix_array.ts";
 * Array.from(suffixArray(Int32Array.from([2, 1, 2, 1, 0]), 2)); // [4, 3, 1, 2, 0]
 * ```
 */
export function suffixArray(s: Int32Array, upper: number): Int32Array {
  const n = s.length;
  if (n === 0) return new Int32Array(0);
  if (n === 1) return Int32Array.of(0);
  if (n === 2) return s[0] < s[1] ? Int32Array.of(0, 1) : Int32Array.of(1, 0);
  if (n < 40) return saNaive(s);
  const sa = new Int32Array(n);
  const ls = new Uint8Array(n); // 1 = S-type
  for (let i = n - 2; i >= 0; i--) ls[i] = s[i] === s[i + 1] ? ls[i + 1] : s[i] < s[i + 1] ? 1 : 0;
  const sumL = new Int32Array(upper + 2), sumS = new Int32Array(upper + 2);
  for (let i = 0; i < n; i++) {
    if (!ls[i]) sumS[s[i]]++;
    else sumL[s[i] + 1]++;
  }
  for (let i = 0; i <= upper; i++) {
    sumS[i] += sumL[i];
    if (i < upper) sumL[i + 1] += sumS[i];
  }
  const buf = new Int32Array(upper + 2);
  const induce = (lms: Int32Array) => {
    sa.fill(-1);
    buf.set(sumS);
    for (let k = 0; k < lms.length; k++) {
      const d = lms[k];
      if (d === n) continue;
      sa[buf[s[d]]++] = d;
    }
    buf.set(sumL);
    sa[buf[s[n - 1]]++] = n - 1;
    for (let i = 0; i < n; i++) {
      const v = sa[i];
      if (v >= 1 && !ls[v - 1]) sa[buf[s[v - 1]]++] = v - 1;
    }
    buf.set(sumL);
    for (let i = n - 1; i >= 0; i--) {
      const v = sa[i];
      if (v >= 1 && ls[v - 1]) sa[--buf[s[v - 1] + 1]] = v - 1;
    }
  };
  const lmsMap = new Int32Array(n + 1).fill(-1);
  let m = 0;
  for (let i = 1; i < n; i++) if (!ls[i - 1] && ls[i]) lmsMap[i] = m++;
  const lms = new Int32Array(m);
  for (let i = 1, k = 0; i < n; i++) if (!ls[i - 1] && ls[i]) lms[k++] = i;
  induce(lms);
  if (m) {
    const sorted = new Int32Array(m);
    for (let i = 0, k = 0; i < n; i++) {
      const v = sa[i];
      if (v >= 0 && lmsMap[v] !== -1) sorted[k++] = v;
    }
    const rec = new Int32Array(m);
    let recUpper = 0;
    rec[lmsMap[sorted[0]]] = 0;
    for (let i = 1; i < m; i++) {
      let l = sorted[i - 1], r = sorted[i];
      const endL = lmsMap[l] + 1 < m ? lms[lmsMap[l] + 1] : n;
      const endR = lmsMap[r] + 1 < m ? lms[lmsMap[r] + 1] : n;
      let same = true;
      if (endL - l !== endR - r) same = false;
      else {
        while (l < endL) {
          if (s[l] !== s[r]) break;
          l++;
          r++;
        }
        if (l === n || s[l] !== s[r]) same = false;
      }
      if (!same) recUpper++;
      rec[lmsMap[sorted[i]]] = recUpper;
    }
    const recSa = suffixArray(rec, recUpper);
    for (let i = 0; i < m; i++) sorted[i] = lms[recSa[i]];
    induce(sorted);
  }
  return sa;
}
