/** Names close to a mistyped one, for "unknown name … did you mean" messages. */

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** Up to `max` known names within edit distance ⌈len/3⌉ (case-insensitive) or sharing a dotted part. */
export function closeNames(name: string, known: readonly string[], max = 3): string[] {
  const lower = name.toLowerCase();
  const parts = new Set(lower.split('.'));
  return known
    .map((k) => {
      const d = distance(lower, k.toLowerCase());
      const sharesPart = k
        .toLowerCase()
        .split('.')
        .some((p) => parts.has(p));
      return { k, d, ok: d <= Math.max(2, Math.ceil(name.length / 3)) || sharesPart };
    })
    .filter((x) => x.ok)
    .sort((a, b) => a.d - b.d || a.k.localeCompare(b.k))
    .slice(0, max)
    .map((x) => x.k);
}
