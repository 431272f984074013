// Tiny argv parser: `--key value`, `--key=value` and bare `--flag`.

/** A mistake on the command line: reported as one line, without a stack. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** An option given without a value (`--full`, or `--m` by mistake). */
const BARE = '\u0000bare';

export class CliArgs {
  private readonly values = new Map<string, string>();
  private readonly read = new Set<string>();

  constructor(argv: readonly string[]) {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(a)} (options look like --name value)`);
      const eq = a.indexOf('=');
      const [name, value] =
        eq > 0 ? [a.slice(2, eq), a.slice(eq + 1)] : i + 1 < argv.length && !argv[i + 1].startsWith('--') ? [a.slice(2), argv[++i]] : [a.slice(2), BARE];
      // The last of two would win without a word (--m 1 … --m 2): say so instead.
      if (this.values.has(name)) throw new UsageError(`--${name} is given twice`);
      this.values.set(name, value);
    }
  }

  /** An option's value; an option that needs one but was given bare is a UsageError. */
  private value(name: string): string | undefined {
    this.read.add(name);
    const v = this.values.get(name);
    if (v === BARE) throw new UsageError(`--${name} needs a value; see --help`);
    return v;
  }

  /** A flag (`--full`, `--no-peers`): true when given; a flag given a value is a UsageError. */
  flag(name: string): boolean {
    this.read.add(name);
    const v = this.values.get(name);
    if (v !== undefined && v !== BARE) throw new UsageError(`--${name} takes no value, got ${JSON.stringify(v)}`);
    return v !== undefined;
  }

  /** Options given but never asked for (typos): call after every consumer has read its options. */
  unknown(): string[] {
    return [...this.values.keys()].filter((k) => !this.read.has(k)).map((k) => `--${k}`);
  }

  has(name: string): boolean {
    this.read.add(name);
    return this.values.has(name);
  }

  string(name: string, fallback: string): string {
    return this.value(name) ?? fallback;
  }

  /** A positive number, or the fallback when absent. */
  number(name: string, fallback: number): number {
    const v = this.value(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got ${JSON.stringify(v)}`);
    return n;
  }

  /** A positive integer, or `fallback` when absent. */
  int(name: string, fallback: number): number {
    return this.optionalInt(name) ?? fallback;
  }

  /** A positive integer, or undefined when absent. */
  optionalInt(name: string): number | undefined {
    const v = this.value(name);
    if (v === undefined) return undefined;
    const n = positiveInt(v);
    if (n === undefined) throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(v)}`);
    return n;
  }

  /** Comma-separated positive integers (`--m 1,16,64`). */
  ints(name: string, fallback: readonly number[]): number[] {
    const v = this.value(name);
    if (v === undefined) return [...fallback];
    return v.split(',').map((s) => {
      const n = positiveInt(s);
      if (n === undefined) throw new UsageError(`--${name} must be comma-separated positive integers, got ${JSON.stringify(v)}`);
      return n;
    });
  }

  /** Comma-separated `NxK` shapes (`--shapes 4096x4096,14336x4096`), n = out features, k = in features. */
  shapes(name: string, fallback: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
    const v = this.value(name);
    if (v === undefined) return fallback.map(([n, k]) => [n, k]);
    return v.split(',').map((s) => {
      const m = /^\s*(\d+)\s*[xX×]\s*(\d+)\s*$/.exec(s);
      if (m === null) throw new UsageError(`--${name} must be comma-separated NxK shapes like 4096x14336, got ${JSON.stringify(s)}`);
      const [n, k] = [Number(m[1]), Number(m[2])];
      // n·k ≤ 2^30: a weight of 2 GiB in fp16 (the largest default, 8192x28672, is 2^27.8).
      if (n < 1 || k < 1 || n * k > 2 ** 30)
        throw new UsageError(`--${name}: each dim must be at least 1 and n·k at most 2^30 (${2 ** 30}), got ${JSON.stringify(s.trim())}`);
      return [n, k];
    });
  }
}

/** `s` as a positive safe integer when it is digits alone (spaces around allowed), else undefined:
 *  Number() took '0x2' as 2 and '1e1' as 10. */
function positiveInt(s: string): number | undefined {
  const n = Number(s);
  return /^\s*\d+\s*$/.test(s) && n > 0 && Number.isSafeInteger(n) ? n : undefined;
}
