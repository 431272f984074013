// test/benchSparqTiming.test.ts: the bench's stream-time sampler of sparq ops (bench/sparqTiming.ts)
// with a fake context whose stream clock each enqueued op advances by a known amount: a sample is
// the time between two marks divided by the ops between them, every op is enqueued once, in order,
// after one unmeasured lead-in. No real duration is asserted.
import type { Context } from '../src/index';
import { sparqSampler } from '../bench/sparqTiming';

/** A context whose mark() resolves to the stream clock at the time it is enqueued. */
function fakeStream(): { sq: Context; advance: (ms: number) => void } {
  let clock = 0;
  const sq = { mark: () => Promise.resolve(clock) } as unknown as Context;
  return { sq, advance: (ms) => { clock += ms; } };
}

describe('sparqSampler (bench)', () => {
  it.each([1, 3, 8])('a sample is the time of %i consecutive ops over their count', async (group) => {
    const { sq, advance } = fakeStream();
    const ops: number[] = [];
    const cost = (i: number): number => 1 + (i % 5);  // op i takes 1..5 ms of stream time
    const sampler = sparqSampler(sq, (i) => { ops.push(i); advance(cost(i)); }, group);
    const samples = await sampler.batch(4);
    const lead = 4 * group >= 4 ? 1 : 0;  // the unmeasured lead-in op, at LEAD_IN_MIN_BATCH ops
    expect(ops).toEqual(Array.from({ length: lead + 4 * group }, (_, i) => i));
    const expected = Array.from({ length: 4 }, (_, s) => {
      let sum = 0;
      for (let j = 0; j < group; j++) sum += cost(lead + s * group + j);
      return sum / group;
    });
    expect(samples).toEqual(expected);
    const next = await sampler.batch(1);  // the next batch goes on from the next op
    expect(ops[ops.length - 1]).toBe(lead + 4 * group + (group >= 4 ? 1 : 0) + group - 1);
    expect(next).toHaveLength(1);
  });
});
