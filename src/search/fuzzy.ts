// Typo tolerance shared by both engines: a query token of FUZZY_MIN_LENGTH characters or more
// matches an indexed term at most one edit away (insertion, deletion, substitution or a swap of
// two neighbours), the same rule Elasticsearch applies with `fuzziness: "AUTO:4,100"`.
// The embedded engine finds candidates with single-deletion variants (the SymSpell idea): two
// words one edit apart always share a variant, so an indexed table of variants answers by
// equality, without any PostgreSQL extension; `editDistanceAtMostOne` then drops the false friends.

export const FUZZY_MIN_LENGTH = 4;
/** Elasticsearch's spelling of the same rule. */
export const ES_FUZZINESS = `AUTO:${FUZZY_MIN_LENGTH},100`;

/** The word itself and every string made by deleting one character of it. */
export function deletionVariants(word: string): string[] {
  const chars = [...word];
  const out = new Set<string>([word]);
  for (let i = 0; i < chars.length; i++) out.add(chars.slice(0, i).join("") + chars.slice(i + 1).join(""));
  return [...out];
}

/** Optimal string alignment distance <= 1 (Damerau: an adjacent swap counts as one edit). */
export function editDistanceAtMostOne(a: string, b: string): boolean {
  if (a === b) return true;
  const x = [...a];
  const y = [...b];
  if (Math.abs(x.length - y.length) > 1) return false;
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  const rest = (p: string[], q: string[]) => p.join("") === q.join("");
  if (x.length === y.length) {
    if (rest(x.slice(i + 1), y.slice(i + 1))) return true; // substitution
    return x[i] === y[i + 1] && x[i + 1] === y[i] && rest(x.slice(i + 2), y.slice(i + 2)); // swap
  }
  return x.length > y.length ? rest(x.slice(i + 1), y.slice(i)) : rest(x.slice(i), y.slice(i + 1));
}

/** Whether some prefix of `text` is at most one edit from `prefix` (the completion suggester's fuzzy prefix rule, first letter fixed). */
export function fuzzyPrefixMatch(text: string, prefix: string): boolean {
  if (text.startsWith(prefix)) return true;
  if ([...prefix].length < 3 || text[0] !== prefix[0]) return false;
  const t = [...text];
  const n = [...prefix].length;
  for (const length of [n - 1, n, n + 1]) {
    if (length < 1 || length > t.length) continue;
    if (editDistanceAtMostOne(t.slice(0, length).join(""), prefix)) return true;
  }
  return false;
}
