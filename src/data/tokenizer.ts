/**
 * A character-level tokenizer with a fixed 49-symbol vocabulary: three special tokens
 * (PAD = 0, BOS = 1, EOS = 2), newline, space, the punctuation the corpus and the arithmetic
 * task use (`. , : ? + - * =`), the digits and the lowercase letters. No uppercase: a small
 * vocabulary keeps the model's `vocab` edge (embedding and LM head) small and fast.
 *
 * Special tokens print as the markers `<pad>`, `<bos>`, `<eos>`. `<` and `>` are not in the
 * character set, so the markers are unambiguous and `encode` reads them back:
 * `encode(decode(ids))` returns `ids` for every id sequence.
 */
import { RicciError } from "../errors.js";

export const PAD_ID = 0;
export const BOS_ID = 1;
export const EOS_ID = 2;

/** The printed form of each special token, indexed by id. */
export const SPECIAL_MARKERS: readonly string[] = ["<pad>", "<bos>", "<eos>"];

/** The ordinary characters, in id order after the specials (id = 3 + index). */
export const CHARACTERS = "\n .,:?+-*=0123456789abcdefghijklmnopqrstuvwxyz";

/** What the data pipeline needs from a tokenizer; `charTokenizer` is the one ricci ships. */
export interface Tokenizer {
  /** The printed symbol of each id (`vocab[id]`), specials as markers. */
  readonly vocab: readonly string[];
  readonly vocabSize: number;
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  /** Text → ids; `<pad>`/`<bos>`/`<eos>` markers become special ids; any other unknown character throws. */
  encode(text: string): number[];
  /** Ids → text, specials printed as markers (nothing is dropped or cut). */
  decode(ids: ArrayLike<number>): string;
  /** Ids → text with the special tokens left out: `decodeText([BOS_ID, 23, EOS_ID])` is `"a"`. */
  decodeText(ids: ArrayLike<number>): string;
  /** The ids that are not special tokens, in order. */
  stripSpecials(ids: ArrayLike<number>): number[];
  /** Whether `id` is PAD, BOS or EOS. */
  isSpecial(id: number): boolean;
}

/** Removes the `<pad>`/`<bos>`/`<eos>` markers from decoded text: `stripSpecialMarkers("=42<eos>")` is `"=42"`. */
export function stripSpecialMarkers(text: string): string {
  return text.replace(/<pad>|<bos>|<eos>/g, "");
}

/** A printable name for a character in error messages (control characters as code points). */
function describeCharacter(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
  return code < 32 || code === 127 ? hex : `"${ch}" (${hex})`;
}

/** A short window of `text` around `position`, for error messages. */
function excerpt(text: string, position: number): string {
  const start = Math.max(0, position - 12);
  const end = Math.min(text.length, position + 12);
  return JSON.stringify(text.slice(start, end));
}

/** Builds a tokenizer over `characters` (each at most once, none of `<`, `>`); specials take ids 0–2. */
export function makeCharTokenizer(characters: string = CHARACTERS): Tokenizer {
  const chars = [...characters];
  const idOf = new Map<string, number>();
  for (const ch of chars) {
    if (idOf.has(ch)) throw new RicciError(`tokenizer: character ${describeCharacter(ch)} listed twice`);
    if (ch === "<" || ch === ">") throw new RicciError(`tokenizer: "${ch}" is reserved for special-token markers`);
    idOf.set(ch, SPECIAL_MARKERS.length + idOf.size);
  }
  const vocab = [...SPECIAL_MARKERS, ...chars];
  const vocabSize = vocab.length;
  const isSpecial = (id: number): boolean => id >= 0 && id < SPECIAL_MARKERS.length;

  const encode = (text: string): number[] => {
    const ids: number[] = [];
    let i = 0;
    while (i < text.length) {
      if (text[i] === "<") {
        const special = SPECIAL_MARKERS.findIndex((m) => text.startsWith(m, i));
        if (special >= 0) {
          ids.push(special);
          i += SPECIAL_MARKERS[special].length;
          continue;
        }
      }
      const ch = String.fromCodePoint(text.codePointAt(i) ?? 0);
      const id = idOf.get(ch);
      if (id === undefined) {
        throw new RicciError(
          `tokenizer: unknown character ${describeCharacter(ch)} at position ${i} in ${excerpt(text, i)}; ` +
            `the vocabulary has ${JSON.stringify(characters)} and the markers ${SPECIAL_MARKERS.join(" ")}`,
        );
      }
      ids.push(id);
      i += ch.length;
    }
    return ids;
  };

  const symbolOf = (id: number, position: number): string => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RicciError(`tokenizer: id ${id} at position ${position} is outside the vocabulary [0, ${vocabSize})`);
    }
    return vocab[id];
  };

  const decode = (ids: ArrayLike<number>): string => {
    let out = "";
    for (let i = 0; i < ids.length; i++) out += symbolOf(ids[i], i);
    return out;
  };

  const stripSpecials = (ids: ArrayLike<number>): number[] => {
    const out: number[] = [];
    for (let i = 0; i < ids.length; i++) if (!isSpecial(ids[i])) out.push(ids[i]);
    return out;
  };

  return {
    vocab,
    vocabSize,
    padId: PAD_ID,
    bosId: BOS_ID,
    eosId: EOS_ID,
    encode,
    decode,
    decodeText: (ids) => decode(stripSpecials(ids)),
    stripSpecials,
    isSpecial,
  };
}

/** The tokenizer of the whole pipeline (49 ids): `charTokenizer.encode("what is 1+2?")`. */
export const charTokenizer: Tokenizer = makeCharTokenizer();
