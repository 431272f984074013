// A one-line progress indicator on stderr: `[3/18] dense 4096x4096 m=16 …`.

export class Progress {
  private done = 0;
  private lastWidth = 0;
  private readonly tty = process.stderr.isTTY === true;

  constructor(private total: number) {}

  /** Adds planned steps (all.ts plans every op before it runs any). */
  addTotal(steps: number): void {
    this.total += steps;
  }

  /** Announces the next step. */
  step(label: string): void {
    this.done += 1;
    this.show(`[${this.done}/${this.total}] ${label} …`);
  }

  /** A transient note on the current line (e.g. "building ORT sessions"). */
  note(text: string): void {
    this.show(text);
  }

  /** Clears the line so the table starts on a clean one. */
  finish(): void {
    if (this.tty && this.lastWidth > 0) process.stderr.write(`\r${' '.repeat(this.lastWidth)}\r`);
    this.lastWidth = 0;
  }

  private show(text: string): void {
    if (!this.tty) {
      process.stderr.write(`${text}\n`);
      return;
    }
    const width = process.stderr.columns ?? 120;
    const line = text.length >= width ? `${text.slice(0, width - 2)}…` : text;
    process.stderr.write(`\r${line}${' '.repeat(Math.max(0, this.lastWidth - line.length))}`);
    this.lastWidth = line.length;
  }
}
