/** Short deterministic string hashes: the fingerprints behind canonical sort keys (not for security). */

const SEPARATOR = "\u001f";

/** cyrb53 of the parts joined, as base-36 text: `hashOf("v", "W", 3)`. */
export function hashOf(...parts: readonly (string | number)[]): string {
  const text = parts.join(SEPARATOR);
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/** The hash of a multiset (order of `items` does not matter): `hashOfBag("s", [x, y])`. */
export function hashOfBag(tag: string, items: readonly string[]): string {
  return hashOf(tag, ...[...items].sort());
}

/** Plain code-unit comparison, for sorting keys. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
