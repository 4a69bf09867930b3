/**
 * Small dense linear algebra for post-processing released statistics (p <= 128): symmetric
 * solves by Cholesky with a growing diagonal jitter when noise made the matrix indefinite.
 */
export type Matrix = number[][];

export const zeros = (n: number): Matrix => Array.from({ length: n }, () => new Array<number>(n).fill(0));

/** Solves (A + lambda I) x = b for symmetric A; raises lambda until the Cholesky succeeds. */
export function ridgeSolve(A: Matrix, b: number[], lambda: number): number[] {
  const n = b.length;
  const scale = Math.max(1e-12, ...A.map((r, i) => Math.abs(r[i]!)));
  let extra = 0;
  for (let attempt = 0; attempt < 60; attempt++) {
    const L = cholesky(A, lambda + extra);
    if (L) return backSubstitute(L, b);
    extra = extra === 0 ? scale * 1e-10 : extra * 4;
  }
  return new Array<number>(n).fill(0);
}

function cholesky(A: Matrix, lambda: number): Matrix | null {
  const n = A.length;
  const L = zeros(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i]![j]! + (i === j ? lambda : 0);
      for (let k = 0; k < j; k++) s -= L[i]![k]! * L[j]![k]!;
      if (i === j) {
        if (!(s > 0)) return null;
        L[i]![i] = Math.sqrt(s);
      } else L[i]![j] = s / L[j]![j]!;
    }
  }
  return L;
}

function backSubstitute(L: Matrix, b: number[]): number[] {
  const n = b.length;
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i]![k]! * y[k]!;
    y[i] = s / L[i]![i]!;
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k]![i]! * x[k]!;
    x[i] = s / L[i]![i]!;
  }
  return x;
}

export const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
export const matVec = (A: Matrix, x: number[]) => A.map((r) => dot(r, x));
export const sigmoid = (m: number) => 1 / (1 + Math.exp(-Math.max(-30, Math.min(30, m))));
