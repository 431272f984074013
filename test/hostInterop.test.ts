import { MessageChannel } from 'worker_threads';
import { inspect } from 'util';

import { open, SparqArgumentError, toF16 } from '../src';

describe('sparq objects in Node’s host facilities [cpu]', () => {
  it('posting a tensor or a weight to another thread throws a SparqArgumentError that says what to post', async () => {
    const sq = await open({ backend: 'cpu' });
    const t = sq.tensor(toF16([1, 2, 3, 4]), [2, 2], 'f16');
    const qw = await sq.w4a16.quantize(toF16(new Array(2 * 32).fill(0.5)), [2, 32]);
    const { port1, port2 } = new MessageChannel();
    try {
      for (const [obj, what] of [
        [t, /post await tensor\.read\(\) instead/],
        [qw, /post await weight\.read\(\) instead/],
      ] as const) {
        let caught: unknown;
        try {
          port1.postMessage(obj);
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(SparqArgumentError);
        expect((caught as Error).message).toMatch(/^postMessage: a sparq (tensor|weight) cannot be sent to another thread/);
        expect((caught as Error).message).toMatch(what);
      }
      port1.postMessage(await t.read()); // the data itself goes through
    } finally {
      port1.close();
      port2.close();
    }
    await sq.close();
  });

  it('console.log / util.inspect show a one-line summary, not the context’s internals', async () => {
    const sq = await open({ backend: 'cpu' });
    const t = sq.tensor(toF16([1, 2, 3, 4]), [2, 2], 'f16');
    const qw = await sq.w4a16.quantize(toF16(new Array(2 * 32).fill(0.5)), [2, 32]);
    expect(inspect(t)).toBe('Tensor<f16>[2, 2]');
    expect(inspect(qw)).toMatch(/^W4A16Weight\[2, 32\] \d+ bytes$/);
    expect(inspect(sq)).toBe(`Context(${sq.label})`);
    expect(JSON.stringify(t)).toBe('{"dtype":"f16","shape":[2,2],"disposed":false}');
    t.dispose();
    expect(inspect(t)).toBe('Tensor<f16>[2, 2] (disposed)');
    await sq.close();
    expect(inspect(sq)).toBe(`Context(${sq.label}, closed)`);
    expect(inspect(qw)).toBe('W4A16Weight[2, 32] (disposed)');
  });
});
