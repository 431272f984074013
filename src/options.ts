import { types } from 'util';

import { describeValue, SparqArgumentError } from './errors';
import { sparqObjectKind } from './tensor';

/**
 * The keys an options interface allows, as a record over exactly its keys: a key added to the
 * interface must be added here too, or the build fails (and a key here that the interface lacks
 * fails it as well).
 */
export type OptionKeys<T> = { readonly [K in keyof Required<T>]: true };

/**
 * An op's options argument: an object (undefined means the defaults and is handled before this)
 * whose own keys are all options of the op. A misspelled key (`group_size`, `treshold`) would
 * otherwise be ignored and the op would run with its default — a wrong result with no error —, so
 * it is a SparqArgumentError naming the key and, where one is close, the option it resembles.
 */
export function checkOptions<T>(op: string, options: unknown, keys: OptionKeys<T>): asserts options is T {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new SparqArgumentError(`${op}: options must be an object, got ${describeValue(options)}`, { argument: 'options' });
  // Objects whose keys are not options: their own keys are none, so each would pass as "the
  // defaults" — a bias tensor given in the options' place (dense.matmul(w, x, bias)) would run
  // without the bias, a Map's entries would be ignored.
  // None of those has Object.prototype as its own prototype, so an object literal (every op's
  // common case, ~20 ns here) skips the checks (~70 ns).
  if (Object.getPrototypeOf(options) !== Object.prototype) refuseNonOptions(op, options, keys);
  for (const key of ownAndInheritedKeys(options)) {
    if (Object.hasOwn(keys, key)) continue;
    const allowed = Object.keys(keys);
    const near = nearestKey(key, allowed);
    throw new SparqArgumentError(
      `${op}: options must have only the keys ${allowed.join(', ')}, got ${JSON.stringify(key)}` +
        (near === undefined ? '' : ` (did you mean ${near}?)`),
      { argument: key },
    );
  }
}

/** Throws where `options` is a sparq object or a built-in whose keys are not options. */
function refuseNonOptions(op: string, options: object, keys: object): void {
  const kind = sparqObjectKind(options);
  if (kind !== undefined) {
    const byName = Object.keys(keys).filter((key) => key === 'bias' || key === 'out' || key === 'residualOut');
    const hint = kind === 'tensor' && byName.length > 0 ? ` (a tensor goes in by name: ${byName.map((key) => `{ ${key}: t }`).join(' or ')})` : '';
    throw new SparqArgumentError(`${op}: options must be an object of options, got a sparq ${kind}${hint}`, { argument: 'options' });
  }
  if (ArrayBuffer.isView(options) || types.isMap(options) || types.isSet(options) || types.isWeakMap(options) || types.isWeakSet(options) || types.isPromise(options))
    throw new SparqArgumentError(`${op}: options must be a plain object ({ key: value }), got ${describeValue(options)}`, { argument: 'options' });
}

/**
 * The enumerable keys of options and of its prototypes below Object.prototype: the op reads
 * `options.x` through the chain, so Object.create({ treshold: 0 }) is refused too, while a library
 * that adds a property to Object.prototype does not make every call fail. Class methods are not
 * enumerable.
 */
function ownAndInheritedKeys(options: object): string[] {
  const keys: string[] = [];
  for (let o: object | null = options; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null)
    keys.push(...Object.keys(o));
  return keys;
}

/**
 * The allowed key `key` most likely misspells: the same letters ignoring case and `_`/`-`, else
 * within 2 edits, else one of at least 3 letters that begins the other (`epsilon` for `eps`).
 */
function nearestKey(key: string, allowed: readonly string[]): string | undefined {
  const plain = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  const same = allowed.find((a) => plain(a) === plain(key));
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = 3;
  for (const a of allowed) {
    const d = editDistance(plain(key), plain(a));
    if (d < bestDistance) [best, bestDistance] = [a, d];
  }
  if (best !== undefined) return best;
  const k = plain(key);
  const prefixed = allowed.filter((a) => {
    const p = plain(a);
    return Math.min(p.length, k.length) >= 3 && (k.startsWith(p) || p.startsWith(k));
  });
  return prefixed.sort((a, b) => b.length - a.length)[0]; // the longest: `residualOutput` → residualOut, not a shorter one
}

/** Levenshtein distance with adjacent transpositions counted as one edit (`treshold`, `bais`). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}
