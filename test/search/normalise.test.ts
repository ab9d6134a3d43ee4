// The normaliser's ASCII shortcut: folding and splitting ASCII text without NFKD and the Unicode
// classes must give exactly what the general path gives, for ASCII and for mixed text alike.

import { describe, expect, it } from "vitest";
import { fold, foldUnicode, indexTokens, normalisedName, splitUnicode, tokens } from "../../src/search/normalise.js";
import { seededRandom } from "../support/random.js";

/** The general path, which the ASCII shortcut must agree with. */
const foldSlow = foldUnicode;
const tokensSlow = (text: string): string[] => splitUnicode(foldUnicode(text));

describe("normaliser", () => {
  it("folds and splits every ASCII character as the general path does", () => {
    const all = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join("");
    expect(fold(all)).toBe(foldSlow(all));
    expect(tokens(all)).toEqual(tokensSlow(all));
    for (let i = 0; i < 128; i++) {
      const text = `a${String.fromCharCode(i)}B9`;
      expect(tokens(text)).toEqual(tokensSlow(text));
    }
  });

  it("gives the general path's tokens for generated ASCII and mixed text", () => {
    const seed = 20261128;
    const random = seededRandom(seed);
    const alphabet = [..."abcXYZ019 -_./,'()&+", ..."éÉßæøłŁİıüÜñ½²ﬁ①", "\u0301", "\u00a0", "日本", "Ω"];
    for (let n = 0; n < 2_000; n++) {
      const ascii = n % 2 === 0;
      const length = Math.floor(random() * 24);
      let text = "";
      for (let i = 0; i < length; i++) {
        const pick = alphabet[Math.floor(random() * (ascii ? 20 : alphabet.length))]!;
        text += pick;
      }
      expect(fold(text), `seed ${seed}, case ${n}: ${JSON.stringify(text)}`).toBe(foldSlow(text));
      expect(tokens(text), `seed ${seed}, case ${n}: ${JSON.stringify(text)}`).toEqual(tokensSlow(text));
    }
  });

  it("still folds accents, ligatures and letters NFKD keeps", () => {
    expect(tokens("Café Straße æble øl Łódź ﬁne")).toEqual(["cafe", "strasse", "aeble", "ol", "lodz", "fine"]);
    expect(indexTokens("Smart PHONE")).toEqual(["smart", "phone", "mobile", "smartphone", "cellphone"]);
    expect(normalisedName("  Swift   Phone-12 ")).toBe("swift phone 12");
  });
});
