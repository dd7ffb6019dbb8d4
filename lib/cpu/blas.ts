/**
 * The matrix products of the CPU backend: a system CBLAS (OpenBLAS on Linux and Windows, Accelerate on macOS) opened
 * through Deno's FFI, or a pure-TypeScript fallback with the same interface (slow, for correctness) where none is
 * found. Row-major only; matrices are `Float32Array` views passed straight to the library (a `subarray` view starts
 * where its `byteOffset` says: the library sees the view, not the whole buffer).
 *
 * Nothing happens at import: {@link loadBlas} looks for a library when first called and never throws.
 *
 * @module
 */

/** `cblas_*` transpose flags, as booleans: `true` = use the transpose of the stored matrix. */
export type Trans = boolean;

/**
 * Row-major single-precision BLAS: the two calls the CPU backend needs, plus thread control.
 *
 * @example
 * ```ts
 * import { getBlas } from "./blas.ts";
 * const blas = getBlas();
 * const c = new Float32Array(4);
 * blas.sgemm(false, false, 2, 2, 2, 1, new Float32Array([1, 2, 3, 4]), 2, new Float32Array([1, 0, 0, 1]), 2, 0, c, 2);
 * c; // [1, 2, 3, 4]
 * ```
 */
export interface Blas {
  /** `native` (a CBLAS through FFI) or `fallback` (TypeScript). */
  readonly kind: "native" | "fallback";
  /** What was loaded: the library path or name, or `typescript`. */
  readonly name: string;
  /**
   * C ← α·op(A)·op(B) + β·C with op(A) [M, K], op(B) [K, N], C [M, N]; `lda`, `ldb`, `ldc` are the row strides of the
   * stored A, B, C. When β = 0, C is not read (NaN in C does not propagate).
   */
  sgemm(
    transA: Trans,
    transB: Trans,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    lda: number,
    B: Float32Array,
    ldb: number,
    beta: number,
    C: Float32Array,
    ldc: number,
  ): void;
  /**
   * y ← α·op(A)·x + β·y for the stored A [M, N] (row stride `lda`): op = A (y has M entries, x has N) or Aᵀ (y has
   * N, x has M). Unit strides for x and y.
   */
  sgemv(
    trans: Trans,
    M: number,
    N: number,
    alpha: number,
    A: Float32Array,
    lda: number,
    x: Float32Array,
    beta: number,
    y: Float32Array,
  ): void;
  /** Sets the library's thread count (no-op where it cannot be set). */
  setThreads(n: number): void;
  /** The library's thread count (1 for the fallback; 0 where it cannot be told). */
  getThreads(): number;
}

/** What {@link loadBlas} found. */
export interface BlasResult {
  /** The native BLAS, or undefined when none could be opened. */
  blas: Blas | undefined;
  /** Why none was opened (every candidate and its error) and how to install one; empty when found. */
  reason: string;
}

const ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  cblas_sgemv: {
    parameters: ["i32", "i32", "i32", "i32", "f32", "buffer", "i32", "buffer", "i32", "f32", "buffer", "i32"],
    result: "void",
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
  // Accelerate (macOS 13.3+ new LAPACK/BLAS interface) and MKL thread knobs
  MKL_Set_Num_Threads: { parameters: ["i32"], result: "void", optional: true },
  MKL_Get_Max_Threads: { parameters: [], result: "i32", optional: true },
} as const;

/**
 * Library names tried in order for this OS (after `ETUDE_BLAS`).
 *
 * @example
 * ```ts
 * import { blasCandidates } from "./blas.ts";
 * blasCandidates("linux")[0]; // "libopenblas.so.0"
 * ```
 */
export function blasCandidates(os: string = Deno.build.os): string[] {
  if (os === "darwin") {
    return [
      "/System/Library/Frameworks/Accelerate.framework/Accelerate",
      "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
      "/usr/local/opt/openblas/lib/libopenblas.dylib",
      "libopenblas.dylib",
    ];
  }
  if (os === "windows") return ["libopenblas.dll", "openblas.dll", "mkl_rt.2.dll", "mkl_rt.dll", "cblas.dll"];
  return [
    "libopenblas.so.0",
    "libopenblas.so",
    "libopenblasp.so.0",
    "libcblas.so.3",
    "libblas.so.3",
    "libmkl_rt.so.2",
    "libmkl_rt.so",
  ];
}

/**
 * How to get a BLAS on this OS (for messages).
 *
 * @example
 * ```ts
 * import { installHint } from "./blas.ts";
 * installHint("linux"); // "install OpenBLAS: `apt-get install libopenblas0-pthread` (Debian/Ubuntu), …"
 * ```
 */
export function installHint(os: string = Deno.build.os): string {
  if (os === "darwin") return "Accelerate ships with macOS; or `brew install openblas`";
  if (os === "windows") {
    return "put OpenBLAS's libopenblas.dll on PATH (github.com/OpenMathLib/OpenBLAS/releases)";
  }
  return "install OpenBLAS: `apt-get install libopenblas0-pthread` (Debian/Ubuntu), `dnf install openblas` " +
    "(Fedora), `apk add openblas` (Alpine)";
}

function openNative(path: string): Blas {
  const lib = Deno.dlopen(path, SYMBOLS);
  const s = lib.symbols;
  const setT = s.openblas_set_num_threads ?? s.MKL_Set_Num_Threads;
  const getT = s.openblas_get_num_threads ?? s.MKL_Get_Max_Threads;
  return {
    kind: "native",
    name: path,
    sgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) {
      if (M === 0 || N === 0) return;
      s.cblas_sgemm(
        ROW_MAJOR,
        tA ? TRANS : NO_TRANS,
        tB ? TRANS : NO_TRANS,
        M,
        N,
        K,
        alpha,
        A,
        lda,
        B,
        ldb,
        beta,
        C,
        ldc,
      );
    },
    sgemv(t, M, N, alpha, A, lda, x, beta, y) {
      if (M === 0 || N === 0) return;
      s.cblas_sgemv(ROW_MAJOR, t ? TRANS : NO_TRANS, M, N, alpha, A, lda, x, 1, beta, y, 1);
    },
    setThreads(n) {
      setT?.(Math.max(1, n | 0));
    },
    getThreads() {
      return getT ? getT() : 0;
    },
  };
}

/**
 * The pure-TypeScript BLAS: the same interface, float64 accumulation within each dot product. Correct everywhere,
 * ≈ 1 GFLOP/s.
 *
 * @example
 * ```ts
 * import { fallbackBlas } from "./blas.ts";
 * const y = new Float32Array(2);
 * fallbackBlas.sgemv(false, 2, 2, 1, new Float32Array([1, 2, 3, 4]), 2, new Float32Array([1, 1]), 0, y); // [3, 7]
 * ```
 */
export const fallbackBlas: Blas = {
  kind: "fallback",
  name: "typescript",
  sgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) {
    const row = new Float64Array(N);
    for (let i = 0; i < M; i++) {
      row.fill(0);
      for (let k = 0; k < K; k++) {
        const a = tA ? A[k * lda + i] : A[i * lda + k];
        if (a === 0) continue;
        if (tB) { for (let j = 0; j < N; j++) row[j] += a * B[j * ldb + k]; }
        else {
          const bo = k * ldb;
          for (let j = 0; j < N; j++) row[j] += a * B[bo + j];
        }
      }
      const co = i * ldc;
      if (beta === 0) { for (let j = 0; j < N; j++) C[co + j] = alpha * row[j]; }
      else for (let j = 0; j < N; j++) C[co + j] = alpha * row[j] + beta * C[co + j];
    }
  },
  sgemv(t, M, N, alpha, A, lda, x, beta, y) {
    if (!t) {
      for (let i = 0; i < M; i++) {
        let s = 0;
        const o = i * lda;
        for (let j = 0; j < N; j++) s += A[o + j] * x[j];
        y[i] = beta === 0 ? alpha * s : alpha * s + beta * y[i];
      }
    } else {
      const acc = new Float64Array(N);
      for (let i = 0; i < M; i++) {
        const xi = x[i], o = i * lda;
        if (xi !== 0) { for (let j = 0; j < N; j++) acc[j] += A[o + j] * xi; }
      }
      for (let j = 0; j < N; j++) y[j] = beta === 0 ? alpha * acc[j] : alpha * acc[j] + beta * y[j];
    }
  },
  setThreads() {},
  getThreads() {
    return 1;
  },
};

let cached: BlasResult | undefined;

/**
 * Finds and opens a CBLAS: `ETUDE_BLAS` (a path) when set, else the usual names for this OS. Cached after the first
 * call (`fresh` opens again). Never throws: without one, `blas` is undefined and `reason` says what was tried and
 * how to install one (and that `--allow-ffi` is needed).
 *
 * @example
 * ```ts
 * import { loadBlas } from "./blas.ts";
 * const { blas, reason } = loadBlas();
 * console.log(blas ? `BLAS: ${blas.name}` : `no BLAS (${reason})`);
 * ```
 */
export function loadBlas(opts: { fresh?: boolean; candidates?: string[] } = {}): BlasResult {
  if (cached && !opts.fresh && !opts.candidates) return cached;
  let env: string | undefined;
  try {
    env = Deno.env.get("ETUDE_BLAS") || undefined;
  } catch { /* no env permission */ }
  const names = opts.candidates ?? (env ? [env] : blasCandidates());
  const errors: string[] = [];
  for (const n of names) {
    try {
      const blas = openNative(n);
      const res = { blas, reason: "" };
      if (!opts.candidates) cached = res;
      return res;
    } catch (e) {
      const msg = (e as Error).message.split("\n")[0];
      errors.push(`${n}: ${msg}`);
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) break;
    }
  }
  const res = {
    blas: undefined,
    reason: `no CBLAS library could be opened (${errors.join("; ")}); ${installHint()}` +
      (env ? "; ETUDE_BLAS names the library path" : "; or set ETUDE_BLAS=/path/to/libcblas") +
      "; Deno needs --allow-ffi",
  };
  if (!opts.candidates) cached = res;
  return res;
}

/**
 * The native BLAS when one is found, else {@link fallbackBlas}.
 *
 * @example
 * ```ts
 * import { getBlas } from "./blas.ts";
 * console.log(getBlas().kind); // "native" or "fallback"
 * ```
 */
export function getBlas(): Blas {
  return loadBlas().blas ?? fallbackBlas;
}

/** Time and work counted by {@link profileBlas}. */
export interface BlasProfile {
  /** Milliseconds in sgemm. */
  gemmMs: number;
  /** Milliseconds in sgemv. */
  gemvMs: number;
  /** Floating-point operations issued (2·M·N·K per sgemm, 2·M·N per sgemv). */
  flops: number;
  /** Calls made. */
  calls: number;
}

/**
 * Wraps a BLAS so every call is timed (for breakdowns in benchmarks; adds ≈ 0.1 µs a call).
 *
 * @example
 * ```ts
 * import { fallbackBlas, profileBlas } from "./blas.ts";
 * const { blas, profile } = profileBlas(fallbackBlas);
 * blas.sgemv(false, 1, 1, 1, new Float32Array([2]), 1, new Float32Array([3]), 0, new Float32Array(1));
 * profile.calls; // 1
 * ```
 */
export function profileBlas(inner: Blas): { blas: Blas; profile: BlasProfile } {
  const profile: BlasProfile = { gemmMs: 0, gemvMs: 0, flops: 0, calls: 0 };
  const blas: Blas = {
    kind: inner.kind,
    name: inner.name,
    sgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) {
      const t = performance.now();
      inner.sgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      profile.gemmMs += performance.now() - t;
      profile.flops += 2 * M * N * K;
      profile.calls++;
    },
    sgemv(tr, M, N, alpha, A, lda, x, beta, y) {
      const t = performance.now();
      inner.sgemv(tr, M, N, alpha, A, lda, x, beta, y);
      profile.gemvMs += performance.now() - t;
      profile.flops += 2 * M * N;
      profile.calls++;
    },
    setThreads: (n) => inner.setThreads(n),
    getThreads: () => inner.getThreads(),
  };
  return { blas, profile };
}
