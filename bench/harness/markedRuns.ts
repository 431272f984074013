// Stream-timed runs of a native probe: a mark before the first and after each, so every sample is
// the stream time of one run (the floor's read and the FMA probe sample this way beside the rows).
import type { Context } from '../../src/index';

/** `count` runs of `run` (each enqueued on `sq`'s stream), ms each. */
export async function markedRuns(sq: Context, count: number, run: () => Promise<unknown>): Promise<number[]> {
  const marks: Array<Promise<number>> = [sq.mark()];
  const runs: Array<Promise<unknown>> = [];
  for (let i = 0; i < count; i++) {
    runs.push(run());
    marks.push(sq.mark());
  }
  await Promise.all(runs);
  const t = await Promise.all(marks);
  return t.slice(1).map((v, i) => v - t[i]);
}
