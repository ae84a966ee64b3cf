/**
 * Small statistics over per-seed results, shared by the seed summaries of `ringmaster train
 * --seeds` and the operator (through api/seeds.ts) and by bench:learning: mean, sample
 * standard deviation, median, a five-figure description, Welch's unequal-variance t test and
 * a confidence interval of the difference of the means with the Student-t quantile for the
 * Welch–Satterthwaite df.
 *
 * No dependency: the t quantile is found by bisection on the t CDF, which comes from the
 * regularized incomplete beta function (Lentz's continued fraction) — exact to ~1e-10, far
 * below what a bench with a handful of seeds can resolve.
 */

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n − 1 in the denominator); NaN below two values. */
export function sampleSd(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (xs.length - 1));
}

/** Median (the mean of the middle two for an even count); NaN for no values. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** What the methodology reports per figure over seeds: n, mean, sd, median, min, max. */
export interface Description {
  n: number;
  mean: number;
  /** Sample sd (n − 1); NaN for one value. */
  sd: number;
  median: number;
  min: number;
  max: number;
}

/** n, mean, sample sd, median, min, max of the values (NaN fields for no values). */
export function describe(xs: readonly number[]): Description {
  return {
    n: xs.length,
    mean: mean(xs),
    sd: sampleSd(xs),
    median: median(xs),
    min: xs.length ? Math.min(...xs) : NaN,
    max: xs.length ? Math.max(...xs) : NaN,
  };
}

export interface Welch {
  /** mean(a) − mean(b). */
  diff: number;
  /** Standard error of the difference, sqrt(sa²/na + sb²/nb). */
  se: number;
  /** diff / se. */
  t: number;
  /** Welch–Satterthwaite degrees of freedom (not necessarily an integer). */
  df: number;
}

/**
 * Welch's t for mean(a) − mean(b). Needs two values per side; NaN fields when a side has
 * fewer or both sides have no spread (a zero standard error makes t and df undefined).
 */
export function welch(a: readonly number[], b: readonly number[]): Welch {
  const diff = mean(a) - mean(b);
  const va = sampleSd(a) ** 2 / a.length;
  const vb = sampleSd(b) ** 2 / b.length;
  const se = Math.sqrt(va + vb);
  if (!(se > 0)) return { diff, se, t: NaN, df: NaN };
  const df = (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  return { diff, se, t: diff / se, df };
}

export interface Interval {
  diff: number;
  halfWidth: number;
  lo: number;
  hi: number;
  /** Confidence level, e.g. 0.95. */
  level: number;
  df: number;
}

/** Two-sided confidence interval of mean(a) − mean(b) from Welch's t (level default 0.95). */
export function welchInterval(a: readonly number[], b: readonly number[], level = 0.95): Interval {
  const w = welch(a, b);
  const halfWidth = Number.isFinite(w.df) ? tQuantile(0.5 + level / 2, w.df) * w.se : NaN;
  return {
    diff: w.diff,
    halfWidth,
    lo: w.diff - halfWidth,
    hi: w.diff + halfWidth,
    level,
    df: w.df,
  };
}

// Lanczos approximation (g = 7, 9 terms): relative error ~1e-15 for positive arguments.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let s = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) s += LANCZOS[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/** Continued fraction of the incomplete beta (modified Lentz), converging for x < (a+1)/(a+b+2). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    num = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b) for 0 ≤ x ≤ 1, a, b > 0. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(
    logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x),
  );
  // The fraction converges fast only on one side of the mean; use the symmetry
  // I_x(a, b) = 1 − I_{1−x}(b, a) on the other.
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** CDF of Student's t with df > 0 degrees of freedom (df need not be an integer). */
export function tCdf(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  // P(|T| > |t|) = I_x(df/2, 1/2) with x = df/(df+t²); near t = 0 x rounds to 1, so there
  // take the complement through 1 − x = t²/(df+t²), computed without cancellation.
  const x = df / (df + t * t);
  const tail =
    x > 0.5
      ? 0.5 * (1 - incompleteBeta((t * t) / (df + t * t), 0.5, df / 2))
      : 0.5 * incompleteBeta(x, df / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

/** Quantile of Student's t: the t with tCdf(t, df) = p, for 0 < p < 1 and df > 0. */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df > 0)) return NaN;
  if (p === 0.5) return 0;
  if (p < 0.5) return -tQuantile(1 - p, df);
  // Bracket [0, hi] by doubling (heavy tails at small df need a large hi), then bisect.
  let lo = 0;
  let hi = 1;
  while (tCdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return Infinity;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-12 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
