// Tiny argv parser: `--key value`, `--key=value` and bare `--flag`.

/** A mistake on the command line: reported as one line, without a stack. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export class CliArgs {
  private readonly values = new Map<string, string>();
  private readonly read = new Set<string>();

  constructor(argv: readonly string[]) {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(a)} (options look like --name value)`);
      const eq = a.indexOf('=');
      if (eq > 0) this.values.set(a.slice(2, eq), a.slice(eq + 1));
      else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) this.values.set(a.slice(2), argv[++i]);
      else this.values.set(a.slice(2), 'true');
    }
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
    this.read.add(name);
    return this.values.get(name) ?? fallback;
  }

  /** A positive number, or the fallback when absent. */
  number(name: string, fallback: number): number {
    this.read.add(name);
    const v = this.values.get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got ${JSON.stringify(v)}`);
    return n;
  }

  /** A positive integer, or undefined when absent. */
  optionalInt(name: string): number | undefined {
    return this.values.has(name) ? Math.round(this.number(name, 1)) : undefined;
  }

  /** Comma-separated positive integers (`--m 1,16,64`). */
  ints(name: string, fallback: readonly number[]): number[] {
    this.read.add(name);
    const v = this.values.get(name);
    if (v === undefined) return [...fallback];
    return v.split(',').map((s) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} must be comma-separated positive integers, got ${JSON.stringify(v)}`);
      return n;
    });
  }

  /** Comma-separated `NxK` shapes (`--shapes 4096x4096,14336x4096`), n = out features, k = in features. */
  shapes(name: string, fallback: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
    this.read.add(name);
    const v = this.values.get(name);
    if (v === undefined) return fallback.map(([n, k]) => [n, k]);
    return v.split(',').map((s) => {
      const m = /^\s*(\d+)\s*[xX×]\s*(\d+)\s*$/.exec(s);
      if (m === null) throw new UsageError(`--${name} must be comma-separated NxK shapes like 4096x14336, got ${JSON.stringify(s)}`);
      return [Number(m[1]), Number(m[2])];
    });
  }
}
