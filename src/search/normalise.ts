// The one text normaliser of search, used for indexing and for querying alike, so both engines
// see the same tokens: Unicode accent folding ("Café" -> "cafe"), lower case, split on anything
// that is not a letter or a digit, and (for documents only) synonym expansion. The Elasticsearch
// build we run has no analysis-common (no asciifolding, no synonym filter), and PostgreSQL's
// `unaccent` is an extension that is not always there; doing it here keeps the engines equal.

/** Groups of words that mean the same to a shopper. A document containing one member is indexed with all of them. */
export const SYNONYM_GROUPS: readonly (readonly string[])[] = [
  ["phone", "mobile", "smartphone", "cellphone"],
  ["tv", "television"],
  ["laptop", "notebook"],
  ["headphones", "headphone", "earphones", "headset"],
  ["earbuds", "earbud", "tws"],
  ["fridge", "refrigerator"],
  ["sneakers", "trainers", "shoes"],
  ["tshirt", "tee"],
  ["watch", "smartwatch"],
];

const synonymsOf = new Map<string, readonly string[]>();
for (const group of SYNONYM_GROUPS) for (const word of group) synonymsOf.set(word, group);

/** Only ASCII: nothing to decompose, strip or replace, so lower case alone is the folded text. */
const ASCII = /^\p{ASCII}*$/u;

/** Accent-folded, lower-cased text (whole string, spaces kept). */
export function fold(text: string): string {
  // Most catalog text is ASCII; NFKD and the replacements cost most of indexing a document for nothing there.
  if (ASCII.test(text)) return text.toLowerCase();
  return foldUnicode(text);
}

/** The general fold, for any text: compatibility decomposition, marks stripped, the letters NFKD keeps whole spelled out, lower case. */
export function foldUnicode(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .replace(/ß/g, "ss")
    .replace(/[æ]/g, "ae")
    .replace(/[ø]/g, "o")
    .replace(/[łŁ]/g, "l")
    .toLowerCase();
}

/** The tokens of a text: folded, split on every character that is not a letter or a digit. */
export function tokens(text: string): string[] {
  const folded = fold(text);
  // In folded ASCII the letters and digits are exactly a-z and 0-9 (a cheaper split, the same tokens).
  return ASCII.test(folded) ? folded.split(/[^a-z0-9]+/).filter((t) => t.length > 0) : splitUnicode(folded);
}

/** The general split of folded text, on every character that is not a letter or a digit. */
export const splitUnicode = (folded: string): string[] => folded.split(/[^\p{L}\p{N}]+/u).filter((t) => t.length > 0);

/** Tokens of a document field plus every synonym of each (index time expansion, so queries need none). */
export function indexTokens(text: string): string[] {
  const out = new Set<string>();
  for (const token of tokens(text)) {
    out.add(token);
    for (const synonym of synonymsOf.get(token) ?? []) out.add(synonym);
  }
  return [...out];
}

/** A name as the suggester compares it: its tokens joined by single spaces. */
export const normalisedName = (name: string): string => tokens(name).join(" ");

/** Tokens of a query, duplicates dropped, at most `max` of them (long queries are cut, not refused). */
export function queryTokens(q: string, max = 16): string[] {
  return [...new Set(tokens(q))].slice(0, max);
}
