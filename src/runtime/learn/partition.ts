/**
 * Splitting a labelled dataset across simulated sites, IID or non-IID, deterministically per seed.
 *
 * Non-IID scheme (label skew, as hospitals that each see mostly a few conditions):
 *  - the classes are put in a seeded random order; site i's dominant classes are the next
 *    `dominantClasses` ones of that order, cyclically (site 0 takes 0,1, site 1 takes 2,3, … with the
 *    default 2), so different sites get different dominant classes and, once
 *    sites × dominantClasses ≥ classes, together they cover every class;
 *  - each site gives weight f/d to each of its d dominant classes and β·(1 − f)/(C − d) to each of
 *    the other C − d classes (f = dominantFraction); the samples of every class are shuffled (seeded)
 *    and cut among the sites in proportion to those weights (largest-remainder rounding). β starts
 *    at 1 (exact when classes are balanced and every class is dominant for equally many sites) and
 *    is fitted per site by a few proportional-fitting passes otherwise (a class dominant for two
 *    sites is halved between them, so those sites need less of the others), so that every site's
 *    dominant share comes out ≈ f;
 *  - a class no site has as dominant (fewer sites than needed to cover all) gets one more, virtual
 *    owner of weight f/d whose share is left unused: without it those samples would flood the
 *    sites and their dominant share would fall far below f. Every sample is assigned when the
 *    dominant classes cover all classes; otherwise only that unused share is left out.
 * The sites' index lists are disjoint and sorted ascending.
 */
import { LearnError } from "./errors.js";
import { createRng, shuffleInPlace } from "./random.js";

export type NonIidOptions = {
  /** Classes each site sees mostly (default 2). */
  dominantClasses?: number;
  /** Share of a site's samples drawn from its dominant classes (default 0.8). */
  dominantFraction?: number;
  seed?: number;
  /** Number of classes (default: largest label + 1). */
  classes?: number;
};

function checkSites(labels: Uint8Array, sites: number): void {
  if (!Number.isInteger(sites) || sites < 1 || sites > labels.length) {
    throw new LearnError("ERR_DATA_BAD_ARGUMENT", `sites must be an integer in 1..${labels.length} (one sample per site at least), got ${sites}`, { sites });
  }
}

/** Cuts `n` items into parts proportional to `weights` (largest remainder; ties to the lower index). */
function apportion(n: number, weights: number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (n * w) / total);
  const counts = exact.map(Math.floor);
  let left = n - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (left === 0) break;
    counts[i] = (counts[i] ?? 0) + 1;
    left--;
  }
  return counts;
}

/** The dominant classes of each site (see the scheme above). */
export function dominantClassesOf(sites: number, classes: number, dominant: number, seed: number): number[][] {
  const order = new Uint32Array(classes).map((_, i) => i);
  shuffleInPlace(order, createRng(seed ^ 0x5eed));
  const d = Math.min(dominant, classes);
  return Array.from({ length: sites }, (_, s) => Array.from({ length: d }, (_, j) => order[(s * d + j) % classes] as number));
}

/**
 * Per-class weights of each site (plus the virtual owner of an uncovered class, last), with each
 * site's β fitted so that its expected dominant share is `fraction`.
 */
function fitWeights(dominant: number[][], classSizes: number[], fraction: number, d: number): (c: number) => number[] {
  const classes = classSizes.length;
  // With d = C every class is dominant everywhere and the "other" weight would divide by zero.
  const mine = d < classes ? fraction / d : 1;
  const other = d < classes ? (1 - fraction) / (classes - d) : 0;
  const beta = dominant.map(() => 1);
  const weightsOf = (c: number): number[] => {
    const w = dominant.map((set, s) => (set.includes(c) ? mine : other * (beta[s] as number)));
    if (!dominant.some((set) => set.includes(c))) w.push(mine); // the virtual owner: its share stays unused
    return w;
  };
  if (other === 0) return weightsOf;
  for (let pass = 0; pass < 50; pass++) {
    const own = dominant.map(() => 0);
    const rest = dominant.map(() => 0);
    for (let c = 0; c < classes; c++) {
      const w = weightsOf(c);
      const total = w.reduce((a, b) => a + b, 0);
      dominant.forEach((set, s) => {
        const share = ((classSizes[c] ?? 0) * (w[s] as number)) / total;
        if (set.includes(c)) own[s] = (own[s] as number) + share;
        else rest[s] = (rest[s] as number) + share;
      });
    }
    let worst = 0;
    dominant.forEach((_, s) => {
      const o = own[s] as number;
      const r = rest[s] as number;
      if (o === 0 || r === 0) return; // nothing to fit against (e.g. an empty class)
      worst = Math.max(worst, Math.abs(o / (o + r) - fraction));
      beta[s] = ((beta[s] as number) * (((1 - fraction) / fraction) * o)) / r;
    });
    if (worst < 1e-4) break;
  }
  return weightsOf;
}

/** Label-skewed split of `labels` into `sites` disjoint index lists (scheme in the file comment). */
export function partitionNonIid(labels: Uint8Array, sites: number, options: NonIidOptions = {}): Uint32Array[] {
  checkSites(labels, sites);
  const seed = options.seed ?? 0;
  const fraction = options.dominantFraction ?? 0.8;
  let classes = options.classes ?? 0;
  if (options.classes === undefined) for (const label of labels) classes = Math.max(classes, label + 1);
  const d = Math.min(options.dominantClasses ?? 2, classes);
  if (!Number.isInteger(d) || d < 1)
    throw new LearnError("ERR_DATA_BAD_ARGUMENT", `dominantClasses must be a positive integer, got ${options.dominantClasses}`, {
      dominantClasses: options.dominantClasses,
    });
  if (!(fraction > 0 && fraction <= 1))
    throw new LearnError("ERR_DATA_BAD_ARGUMENT", `dominantFraction must be in (0, 1], got ${fraction}`, { dominantFraction: fraction });

  const dominant = dominantClassesOf(sites, classes, d, seed);
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  labels.forEach((label, i) => {
    const bucket = byClass[label];
    if (bucket === undefined)
      throw new LearnError("ERR_DATA_BAD_ARGUMENT", `label ${label} at index ${i} is not below classes=${classes}`, { index: i, label, classes });
    bucket.push(i);
  });
  const weightsOf = fitWeights(
    dominant,
    byClass.map((b) => b.length),
    fraction,
    d,
  );
  const parts: number[][] = Array.from({ length: sites }, () => []);
  const rng = createRng(seed);
  for (let c = 0; c < classes; c++) {
    const members = Uint32Array.from(byClass[c] ?? []);
    shuffleInPlace(members, rng);
    const weights = weightsOf(c); // the virtual owner: its share stays unused
    const counts = apportion(members.length, weights);
    let at = 0;
    for (let s = 0; s < sites; s++) {
      const n = counts[s] ?? 0;
      const part = parts[s] as number[];
      for (let k = 0; k < n; k++) part.push(members[at + k] as number);
      at += n;
    }
  }
  return parts.map((p) => Uint32Array.from(p).sort());
}

/** Uniform random split into `sites` disjoint lists of (nearly) equal size covering every index. */
export function partitionIid(labels: Uint8Array, sites: number, options: { seed?: number } = {}): Uint32Array[] {
  checkSites(labels, sites);
  const all = new Uint32Array(labels.length).map((_, i) => i);
  shuffleInPlace(all, createRng(options.seed ?? 0));
  const counts = apportion(labels.length, new Array<number>(sites).fill(1));
  let at = 0;
  return counts.map((n) => {
    const part = all.slice(at, at + n).sort();
    at += n;
    return part;
  });
}
