import { fork, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { comm, open, SparqArgumentError, SparqDisposedError, SparqTimeoutError, toF16, type Comm, type Context, type Tensor } from '../src';
import { addonPath, native } from '../src/native';
import { type CommCall, type RankJob, type RankReport } from './comm/commInputs';
import { contractDiffs, runRanks as runCommRanks, type Launch } from './comm/commRun';
import { compiledScript } from './helpers/compiled';
import { allreduceRmsnormContract } from './allreduceReference';
import { freshSeed, rng } from './reference';

const script = compiledScript(path.join('test', 'comm', 'commRank'));
const hex = (id: Uint8Array): string => Buffer.from(id).toString('hex');

/** Runs one rank per job and collects every report until each rank has ended. */
const runRanks = (jobs: RankJob[], launch: Launch | Launch[]): Promise<RankReport[]> => runCommRanks(script, jobs, launch);

/** Every rank's result of every call against the contract, bit for bit. */
function expectContract(reports: RankReport[], seed: number, size: number, calls: CommCall[]): void {
  expect({ seed, diffs: contractDiffs(reports, seed, size, calls) }).toEqual({ seed, diffs: [] });
}

/**
 * One process, one rank: a comm of size 1 works on its own and is the plain fused residual + norm
 * (x = residual = 1 everywhere: residual 1 + 1 = 2, out 2 / rms(2) = 1). Returns the open comm.
 */
async function expectOneRankComm(sq: Context): Promise<{ c: Comm; x: Tensor<'f16'>; g: Tensor<'f16'> }> {
  const c = await sq.comm({ id: comm.create(), rank: 0, size: 1, timeoutMs: 1000 });
  const x = sq.tensor(new Uint16Array(16).fill(0x3c00), [2, 8], 'f16');
  const g = sq.tensor(new Uint16Array(8).fill(0x3c00), [8], 'f16');
  const r = c.allreduceRmsnorm(x, x, g, { eps: 0 });
  expect(Array.from(await r.residual.read())).toEqual(new Array(16).fill(0x4000));
  expect(Array.from(await r.out.read())).toEqual(new Array(16).fill(0x3c00));
  return { c, x, g };
}

/**
 * Runs `body` in a child node with --expose-gc (a comm's collection is the point) and `sparq` bound
 * to this checkout's dist; it prints one JSON line, returned parsed. Anything on stderr fails.
 */
function runWithGc(body: string): unknown {
  const indexJs = path.join(__dirname, '..', 'dist', 'src', 'index.js');
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', `const sparq = require(${JSON.stringify(indexJs)});\n${body}`], {
    encoding: 'utf8',
    timeout: 60000,
  });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as unknown;
}

describe('comm.allreduceRmsnorm [cpu]: ranks in other workers and processes', () => {
  const calls: CommCall[] = [
    { tokens: 7, hidden: 24 },
    { tokens: 1, hidden: 8 },
    { tokens: 64, hidden: 4104 },
    { tokens: 3, hidden: 8192 },
  ];

  it('3 worker_threads ranks: every rank gets the contract bits of every call', async () => {
    const seed = freshSeed();
    const id = hex(comm.create());
    const jobs = [0, 1, 2].map((rank) => ({ id, rank, size: 3, seed, calls, timeoutMs: 30000 }));
    expectContract(await runRanks(jobs, 'worker'), seed, 3, calls);
  });

  it('2 child processes and 2 worker_threads in one comm (POSIX shared memory across processes)', async () => {
    const seed = freshSeed();
    const id = hex(comm.create({ maxBytes: 2 ** 20 }));
    const jobs = [0, 1, 2, 3].map((rank) => ({ id, rank, size: 4, seed, calls, timeoutMs: 30000 }));
    expectContract(await runRanks(jobs, ['process', 'worker', 'process', 'worker']), seed, 4, calls);
  });

  it('eps defaults to 1e-6 (a one-rank comm: rows whose mean square is ~1e-6 give the bits of { eps: 1e-6 })', async () => {
    const sq = await open({ backend: 'cpu', threads: 1 });
    try {
      const c = await sq.comm({ id: comm.create({ maxBytes: 4096 }), rank: 0, size: 1, timeoutMs: 1000 });
      const x = sq.tensor(new Uint16Array(8), [1, 8], 'f16');
      const residual = sq.tensor(new Uint16Array(8).fill(0x1400), [1, 8], 'f16'); // 2^-10: mean square 2^-20
      const gamma = sq.tensor(new Uint16Array(8).fill(0x3c00), [8], 'f16');
      const byDefault = Array.from(await c.allreduceRmsnorm(x, residual, gamma).out.read());
      expect(byDefault).toEqual(Array.from(await c.allreduceRmsnorm(x, residual, gamma, { eps: 1e-6 }).out.read()));
      expect(byDefault[0]).not.toBe(0x3c00); // with eps 0 every output would be exactly 1
      c.close();
    } finally {
      await sq.close();
    }
  });

  it('a call on a comm this rank closed is a SparqDisposedError (its own doing), not a peer timeout; closed says so', async () => {
    const sq = await open({ backend: 'cpu', threads: 1 });
    try {
      const c = await sq.comm({ id: comm.create({ maxBytes: 4096 }), rank: 0, size: 1, timeoutMs: 1000 });
      const x = sq.tensor(toF16([1, 2, 3, 4, 5, 6, 7, 8]), [1, 8], 'f16');
      const gamma = sq.tensor(toF16(new Array(8).fill(1)), [8], 'f16');
      expect(c.closed).toBe(false);
      // ~50+ ms of matmuls first, so the call enqueued before close() runs only after it
      const w = sq.tensor(toF16(Array.from({ length: 1024 * 1024 }, (_, i) => ((i * 7919) % 13) / 13 - 0.5)), [1024, 1024], 'f16');
      const a = sq.tensor(toF16(Array.from({ length: 64 * 1024 }, (_, i) => ((i * 31) % 11) / 11)), [64, 1024], 'f16');
      for (let i = 0; i < 50; i++) sq.dense.matmul(w, a).dispose();
      const queued = c.allreduceRmsnorm(x, x, gamma);
      c.close();
      expect(c.closed).toBe(true);
      await expect(queued.out.read()).rejects.toThrow(SparqDisposedError);
      await expect(sq.synchronize()).rejects.toThrow(/this rank closed the comm \(comm.close\(\) or its context's close\(\)\) before this call, enqueued earlier, could complete/);
      expect(String(c)).toBe('Comm(rank 0 of 1, closed)');
      let err: unknown;
      try {
        c.allreduceRmsnorm(x, x, gamma);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SparqDisposedError);
      expect((err as SparqDisposedError).argument).toBe('comm');
      expect((err as Error).message).toMatch(/comm must be an open comm, got one this rank closed/);
      expect(Array.from(await x.read())).toEqual(Array.from(toF16([1, 2, 3, 4, 5, 6, 7, 8]))); // the context works on
    } finally {
      await sq.close();
    }
  });

  it('a call queued before comm.close() stays a SparqDisposedError when close() is called again or the context closes before it runs', async () => {
    // The second close (the context's close() runs the comm's interrupt, which closes it again while
    // the queued call still holds it) found the comm already handed back and once overwrote the
    // first close's verdict: the queued call then rejected as a peer's SparqTimeoutError.
    for (const second of ['comm.close()', 'ctx.close()'] as const) {
      const sq = await open({ backend: 'cpu', threads: 1 });
      let closing: Promise<void> | undefined;
      try {
        const c = await sq.comm({ id: comm.create({ maxBytes: 4096 }), rank: 0, size: 1, timeoutMs: 1000 });
        const x = sq.tensor(toF16([1, 2, 3, 4, 5, 6, 7, 8]), [1, 8], 'f16');
        const gamma = sq.tensor(toF16(new Array(8).fill(1)), [8], 'f16');
        const w = sq.tensor(toF16(Array.from({ length: 1024 * 1024 }, (_, i) => ((i * 7919) % 13) / 13 - 0.5)), [1024, 1024], 'f16');
        const a = sq.tensor(toF16(Array.from({ length: 64 * 1024 }, (_, i) => ((i * 31) % 11) / 11)), [64, 1024], 'f16');
        for (let i = 0; i < 50; i++) sq.dense.matmul(w, a).dispose();
        const queued = c.allreduceRmsnorm(x, x, gamma);
        const got = queued.out.read().then(
          () => 'resolved',
          (e: unknown) => (e instanceof SparqDisposedError ? 'SparqDisposedError' : e instanceof SparqTimeoutError ? 'SparqTimeoutError' : String(e)),
        );
        c.close();
        if (second === 'comm.close()') c.close();
        else closing = sq.close();
        expect({ second, got: await got }).toEqual({ second, got: 'SparqDisposedError' });
      } finally {
        await (closing ?? sq.close());
      }
    }
  });

  it('a comm dropped without close() is closed once collected: its peer learns it, and its context joins the id again', () => {
    const got = runWithGc(`
        (async () => {
          const [a, b] = [await sparq.open({ backend: 'cpu', threads: 1 }), await sparq.open({ backend: 'cpu', threads: 1 })];
          const id = sparq.comm.create({ maxBytes: 4096 });
          const join = () => Promise.all([a.comm({ id, rank: 0, size: 2, timeoutMs: 3000 }), b.comm({ id, rank: 1, size: 2, timeoutMs: 3000 })]);
          let [ca, cb] = await join();
          ca = null; // dropped without close()
          for (let i = 0; i < 5; i++) { global.gc(); await new Promise((r) => setTimeout(r, 10)); }
          const peerSaw = cb.broken;
          [ca, cb] = await join();
          const x = (sq) => sq.tensor(new Uint16Array(16).fill(0x3c00), [2, 8], 'f16');
          const g = (sq) => sq.tensor(new Uint16Array(8).fill(0x3c00), [8], 'f16');
          const [ra, rb] = [ca.allreduceRmsnorm(x(a), x(a), g(a)), cb.allreduceRmsnorm(x(b), x(b), g(b))];
          const residual = Array.from(await ra.residual.read()).concat(Array.from(await rb.residual.read()));
          ca.close(); cb.close();
          await a.close(); await b.close();
          console.log(JSON.stringify({ peerSaw, residual: [...new Set(residual)] }));
        })().catch((e) => { console.error(e.name + ': ' + e.message); process.exit(1); });`);
    // x = residual = 1 on both ranks: residual 1 + 1 + 1 = 3 (0x4200) everywhere
    expect(got).toEqual({ peerSaw: 'rank 0 closed the comm', residual: [0x4200] });
  });

  it('a comm collected while its call waits for a peer is closed only after that call: both ranks get the contract', () => {
    // The close a collected comm gets ran at once (it broke its own queued call and the peer's) —
    // first because a temporary's destructor closed it on the JS thread, before the stream got to it.
    const got = runWithGc(`
        const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
        async function rank(sq, id, rank, delayMs) {
          const c = await sq.comm({ id, rank, size: 2, timeoutMs: 10000 });
          const t = () => sq.tensor(new Uint16Array(8).fill(0x3c00), [1, 8], 'f16');
          if (delayMs) await sleep(delayMs);
          const { residual } = c.allreduceRmsnorm(t(), t(), sq.tensor(new Uint16Array(8).fill(0x3c00), [8], 'f16'));
          return residual.read().then((v) => Array.from(v)); // not awaited here: c is unreachable once this returns
        }
        (async () => {
          const [a, b] = [await sparq.open({ backend: 'cpu', threads: 1 }), await sparq.open({ backend: 'cpu', threads: 1 })];
          const id = sparq.comm.create({ maxBytes: 4096 });
          const calls = [rank(a, id, 0, 0), rank(b, id, 1, 300)];
          await sleep(100);
          for (let i = 0; i < 3; i++) { global.gc(); await sleep(20); } // rank 0 waits for rank 1 meanwhile
          const got = await Promise.allSettled(calls);
          console.log(JSON.stringify(got.map((g) => (g.status === 'fulfilled' ? [...new Set(g.value)] : g.reason.message))));
          await a.close(); await b.close();
        })().catch((e) => { console.error(e.name + ': ' + e.message); process.exit(1); });`);
    expect(got).toEqual([[0x4200], [0x4200]]); // 1 + 1 + 1 on both ranks
  });

  it('close() lets go of a comm\'s shared memory at once: 40 comms joined and closed on one context leave no mapping, fd or lock behind', async () => {
    // A service making an id per job on a long-lived context kept a mapping (maxBytes × size), an
    // fd and a flock per closed comm until its handle was collected (and the handles were held).
    const shmMaps = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('/dev/shm/sparq-')).length;
    const shmFds = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('/dev/shm/sparq-');
        } catch {
          return false; // closed meanwhile (readdir's own fd)
        }
      }).length;
    // the shared flocks every member holds on its segment ("1: FLOCK ADVISORY READ <pid> …")
    const flocks = () => fs.readFileSync('/proc/locks', 'utf8').split('\n').filter((l) => l.split(/\s+/)[1] === 'FLOCK' && l.split(/\s+/)[4] === String(process.pid)).length;
    const sq = await open({ backend: 'cpu', threads: 1 });
    try {
      const x = sq.tensor(new Uint16Array(16).fill(0x3c00), [2, 8], 'f16');
      const gamma = sq.tensor(new Uint16Array(8).fill(0x3c00), [8], 'f16');
      const before = [shmMaps(), shmFds(), flocks()];
      const kept: Comm[] = []; // referenced, so only close() can release them
      for (let i = 0; i < 40; i++) {
        const c = await sq.comm({ id: comm.create({ maxBytes: 65536 }), rank: 0, size: 1, timeoutMs: 2000 });
        await c.allreduceRmsnorm(x, x, gamma).out.read();
        c.close();
        kept.push(c);
      }
      await sq.synchronize();
      // no growth (at most what it was: an earlier suite's dropped comm may be collected meanwhile)
      const after = [shmMaps(), shmFds(), flocks()];
      expect(after.map((v, i) => Math.max(v - before[i]!, 0))).toEqual([0, 0, 0]); // growth per kind
      expect(kept.every((c) => c.broken === 'rank 0 closed the comm')).toBe(true);
    } finally {
      await sq.close();
    }
  });

  it('a rank that never joins: the others reject with SparqTimeoutError naming it', async () => {
    const id = hex(comm.create());
    const jobs = [0, 1].map((rank) => ({ id, rank, size: 3, seed: 1, calls, timeoutMs: 1500 }));
    const reports = await runRanks(jobs, 'worker');
    for (const r of reports) {
      expect(r.joined).toBe(false);
      expect(r.error?.name).toBe('SparqTimeoutError');
      expect(r.error?.code).toBe('ERR_SPARQ_TIMEOUT');
      // the join's op (sq.comm), not the all-reduce no one has called yet; a rank that finds the
      // comm already broken by a peer's timeout quotes it
      expect(r.error?.message).toMatch(/^comm: (the comm is broken: )?rank 2 did not join within 1500 ms/);
    }
  });

  it('a rank that joins but never calls: the call fails on the others naming it, and the comm stays broken', async () => {
    const id = hex(comm.create());
    const jobs: RankJob[] = [0, 1, 2].map((rank) => ({ id, rank, size: 3, seed: 2, calls, timeoutMs: 1500, after: rank === 1 ? 'never-call' : undefined }));
    const reports = await runRanks(jobs, 'worker');
    for (const rank of [0, 2]) {
      const r = reports.find((m) => m.rank === rank && m.call === 0);
      expect(r?.error?.name).toBe('SparqTimeoutError');
      // the rank that timed out names rank 1; the other may instead see the comm broken by it
      expect(r?.error?.message).toMatch(/rank 1 did not arrive at call 1 within 1500 ms/);
      expect(r?.broken).toMatch(/rank 1 did not arrive/);
      expect(r?.nextCallError?.name).toBe('SparqTimeoutError');
      expect(r?.nextCallError?.message).toMatch(/comm must be a usable comm, got one that is broken/);
    }
  });

  it('a rank whose process exits: the others fail at once naming its pid, not after the timeout', async () => {
    const id = hex(comm.create());
    const jobs: RankJob[] = [0, 1].map((rank) => ({ id, rank, size: 2, seed: 3, calls, timeoutMs: 60000, after: rank === 1 ? 'exit' : undefined }));
    const t0 = Date.now();
    const reports = await runRanks(jobs, 'process');
    const r = reports.find((m) => m.rank === 0 && m.call === 0);
    expect(r?.error?.name).toBe('SparqTimeoutError');
    expect(r?.error?.message).toMatch(/rank 1 \(pid \d+\) exited before call 1/);
    expect(Date.now() - t0).toBeLessThan(30000); // far below the 60 s timeout: a correctness bound, not a speed claim
  });

  // issue 12 item 5: waits that only a peer can end never hold up close() or process exit
  it('close() returns at once while a join waits for a rank that never comes (and an op is queued behind it)', async () => {
    const sq = await open({ backend: 'cpu' });
    const joining = sq.comm({ id: comm.create(), rank: 0, size: 2, timeoutMs: 60000 });
    joining.catch(() => undefined);
    const w = sq.tensor(new Uint16Array(64).fill(0x3c00), [8, 8], 'f16');
    sq.dense.matmul(w, w); // queued behind the join
    const t0 = Date.now();
    await sq.close();
    const ms = Date.now() - t0;
    // The caller's own doing: SparqDisposedError, as for a call enqueued before the close (was a timeout).
    await expect(joining).rejects.toBeInstanceOf(SparqDisposedError);
    await expect(joining).rejects.toThrow("comm: rank 0's context was closed while it joined");
    expect(ms).toBeLessThan(10000); // not the 60 s timeout (a bound on correctness, not a speed claim)
  });

  it('close() returns at once while a call waits for a peer that never calls; the peer is told', async () => {
    const id = comm.create();
    // the peer joins, then idles for 3 × its 1 s timeout and leaves
    const peer = runRanks([{ id: hex(id), rank: 1, size: 2, seed: 4, calls, timeoutMs: 1000, after: 'never-call' }], 'worker');
    const sq = await open({ backend: 'cpu' });
    const c = await sq.comm({ id, rank: 0, size: 2, timeoutMs: 60000 });
    const x = sq.tensor(new Uint16Array(16).fill(0x3c00), [2, 8], 'f16');
    const g = sq.tensor(new Uint16Array(8).fill(0x3c00), [8], 'f16');
    const r = c.allreduceRmsnorm(x, x, g);
    const t0 = Date.now();
    await sq.close();
    expect(Date.now() - t0).toBeLessThan(10000);
    expect(c.broken).toMatch(/rank 0 closed the comm/);
    await expect(r.out.read()).rejects.toBeInstanceOf(SparqDisposedError); // the context is closed
    expect((await peer).filter((m) => m.error)).toEqual([]);
  });

  it('process.exit with a comm call in flight ends the process promptly, exit code 0, no crash', async () => {
    const id = hex(comm.create());
    const t0 = Date.now();
    const exits: (number | null)[] = [];
    await new Promise<void>((resolve, reject) => {
      const c = fork(script, [JSON.stringify({ id, rank: 0, size: 2, seed: 5, calls, timeoutMs: 60000, after: 'exit-in-flight' })], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const peer = fork(script, [JSON.stringify({ id, rank: 1, size: 2, seed: 5, calls, timeoutMs: 2000, after: 'never-call' })], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      c.on('error', reject);
      c.on('exit', (code, signal) => {
        exits.push(code, signal === null ? null : -1);
        peer.kill();
        resolve();
      });
    });
    expect(exits).toEqual([0, null]);
    expect(Date.now() - t0).toBeLessThan(30000); // the call's own timeout is 60 s
  });

  it('a rank whose input failed earlier skips the call and leaves the comm: its peer fails at once, not at its timeout', async () => {
    const [a, b] = await Promise.all([open({ backend: 'cpu', threads: 1 }), open({ backend: 'cpu', threads: 1 })]);
    try {
      const id = comm.create({ maxBytes: 4096 });
      const [ca, cb] = await Promise.all([a.comm({ id, rank: 0, size: 2, timeoutMs: 20000 }), b.comm({ id, rank: 1, size: 2, timeoutMs: 20000 })]);
      const ones = (sq: Context, shape: number[]): Tensor<'f16'> => sq.tensor(new Uint16Array(shape.reduce((x, y) => x * y)).fill(0x3c00), shape, 'f16');
      const poisoned = a.wrap(native().injectFault(a.handle, 6, 'injected: the op that made x failed', [2, 8])) as Tensor<'f16'>;
      const t0 = Date.now();
      const ra = ca.allreduceRmsnorm(poisoned, ones(a, [2, 8]), ones(a, [8]));
      // rank 0's stream may already have left the comm when rank 1 calls (then the call throws at
      // once), or not yet (then its read rejects): the same error either way
      let rbError: unknown;
      try {
        await cb.allreduceRmsnorm(ones(b, [2, 8]), ones(b, [2, 8]), ones(b, [8])).out.read();
      } catch (e) {
        rbError = e;
      }
      await expect(ra.out.read()).rejects.toMatchObject({ message: expect.stringMatching(/injected/) });
      expect(rbError).toMatchObject({ name: 'SparqTimeoutError', message: expect.stringMatching(/rank 0 skipped a call/) });
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(cb.broken).toMatch(/rank 0 skipped a call/);
      await a.synchronize().catch(() => undefined);
      await b.synchronize().catch(() => undefined);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('bad arguments give typed errors', async () => {
    const sq = await open({ backend: 'cpu' });
    try {
      await expect(sq.comm({ id: new Uint8Array(5), rank: 0, size: 2 })).rejects.toMatchObject({ argument: 'id' });
      const detached = comm.create();
      structuredClone(detached.buffer, { transfer: [detached.buffer as ArrayBuffer] });
      await expect(sq.comm({ id: detached, rank: 0, size: 2 })).rejects.toMatchObject({ name: 'SparqArgumentError', argument: 'id' });
      await expect(sq.comm({ id: comm.create(), rank: 2, size: 2 })).rejects.toBeInstanceOf(SparqArgumentError);
      await expect(sq.comm({ id: comm.create(), rank: 0, size: 9 })).rejects.toMatchObject({ argument: 'size' });
      await expect(sq.comm({ id: comm.create(), rank: 0, size: 1, transport: 'nccl' as 'host' })).rejects.toMatchObject({ argument: 'transport' });
      // node names a machine of an NCCL comm; a shared-memory comm's ranks share one by construction
      await expect(sq.comm({ id: comm.create(), rank: 0, size: 1, node: 'a' })).rejects.toMatchObject({
        name: 'SparqArgumentError',
        argument: 'node',
        message: expect.stringMatching(/comm: node must be left out for a comm of sparq.comm.create\(\)/),
      });
      expect(() => comm.create({ maxBytes: -1 })).toThrow(SparqArgumentError);
      const { c, x, g } = await expectOneRankComm(sq);
      expect(c.transport).toBe('host');
      expect(() => c.allreduceRmsnorm(x, x, g, { out: x })).toThrow(SparqArgumentError);
      expect(() => c.allreduceRmsnorm(sq.tensor(new Uint16Array(12), [1, 12], 'f16'), x, g)).toThrow(/multiple of 8/);
      c.close();
      expect(c.broken).toMatch(/rank 0 closed the comm/);
      expect(() => c.allreduceRmsnorm(x, x, g)).toThrow(SparqDisposedError);
    } finally {
      await sq.close();
    }
  });

  /** id with its maxBytes field (bytes 20..27, little-endian) set to `bytes`. */
  const withMaxBytes = (id: Uint8Array, bytes: number): Uint8Array => {
    const copy = Uint8Array.from(id);
    new DataView(copy.buffer).setBigUint64(20, BigInt(bytes), true);
    return copy;
  };

  it.each([2048, 8192])(
    'an id whose maxBytes differs from the first rank\'s (%d against 4096) is refused (each rank read its peers at its own slot offsets: wrong sums, no error)',
    async (other) => {
      const [a, b] = [await open({ backend: 'cpu', threads: 1 }), await open({ backend: 'cpu', threads: 1 })];
      try {
        const id = comm.create({ maxBytes: 4096 });
        const first = a.comm({ id, rank: 0, size: 2, timeoutMs: 1500 });
        const segment = `/dev/shm/sparq-${Buffer.from(id.subarray(4, 20)).toString('hex')}`;
        for (let i = 0; i < 200 && !fs.existsSync(segment); i++) await new Promise((r) => setTimeout(r, 5)); // rank 0 made it
        await new Promise((r) => setTimeout(r, 20)); // and initialized its header (microseconds after)
        await expect(b.comm({ id: withMaxBytes(id, other), rank: 1, size: 2, timeoutMs: 1500 })).rejects.toMatchObject({
          name: 'SparqArgumentError',
          argument: 'id',
          message: `comm: id must be the one every rank was given, got one whose maxBytes (${other}) differs from the first rank's (4096)`,
        });
        // the refused rank never joined, and the waiting rank's message names that possibility
        await expect(first).rejects.toBeInstanceOf(SparqTimeoutError);
        await expect(first).rejects.toThrow(/no other rank joined this id: .*or their join was refused \(they passed another size, or an id whose maxBytes differs\)$/);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  );

  it('an id with its reserved bytes set is refused', async () => {
    const sq = await open({ backend: 'cpu', threads: 1 });
    try {
      const id = comm.create({ maxBytes: 4096 });
      id[30] = 0xff;
      await expect(sq.comm({ id, rank: 0, size: 1, timeoutMs: 1000 })).rejects.toMatchObject({ name: 'SparqArgumentError', argument: 'id' });
    } finally {
      await sq.close();
    }
  });

  it('an id joined again after its comm ended, in the same process: a fresh comm (was "rank 0 twice" until the old handles were collected)', async () => {
    const id = comm.create({ maxBytes: 4096 });
    for (let round = 0; round < 2; round++) {
      const [a, b] = [await open({ backend: 'cpu', threads: 1 }), await open({ backend: 'cpu', threads: 1 })];
      try {
        const [ca, cb] = await Promise.all([a.comm({ id, rank: 0, size: 2, timeoutMs: 3000 }), b.comm({ id, rank: 1, size: 2, timeoutMs: 3000 })]);
        // x = 1 on both ranks, residual 0: residual 2 everywhere, out 2 / rms(2) = 1
        const run = (sq: Context, c: Comm) =>
          c.allreduceRmsnorm(sq.tensor(new Uint16Array(16).fill(0x3c00), [2, 8], 'f16'), sq.tensor(new Uint16Array(16), [2, 8], 'f16'), sq.tensor(new Uint16Array(8).fill(0x3c00), [8], 'f16'), { eps: 0 });
        const [ra, rb] = [run(a, ca), run(b, cb)];
        for (const r of [ra, rb]) {
          expect({ round, residual: Array.from(await r.residual.read()) }).toEqual({ round, residual: new Array(16).fill(0x4000) });
          expect({ round, out: Array.from(await r.out.read()) }).toEqual({ round, out: new Array(16).fill(0x3c00) });
        }
        ca.close();
        cb.close();
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    }
  });

  it('the same contexts join an id again once its comm ended (closed, or broken by a peer closing), not while it lives', async () => {
    const id = comm.create({ maxBytes: 4096 });
    const [a, b] = [await open({ backend: 'cpu', threads: 1 }), await open({ backend: 'cpu', threads: 1 })];
    try {
      const join = () => Promise.all([a.comm({ id, rank: 0, size: 2, timeoutMs: 3000 }), b.comm({ id, rank: 1, size: 2, timeoutMs: 3000 })]);
      const check = async (phase: string, [ca, cb]: Comm[]) => {
        const run = (sq: Context, c: Comm) =>
          c.allreduceRmsnorm(sq.tensor(new Uint16Array(16).fill(0x3c00), [2, 8], 'f16'), sq.tensor(new Uint16Array(16), [2, 8], 'f16'), sq.tensor(new Uint16Array(8).fill(0x3c00), [8], 'f16'), { eps: 0 });
        for (const r of [run(a, ca!), run(b, cb!)])
          expect({ phase, residual: Array.from(await r.residual.read()) }).toEqual({ phase, residual: new Array(16).fill(0x4000) });
      };
      let comms = await join();
      await check('first', comms);
      // a live comm of the id: a second join from the same context is refused at once
      await expect(a.comm({ id, rank: 0, size: 2, timeoutMs: 3000 })).rejects.toMatchObject({ name: 'SparqArgumentError', argument: 'id' });
      comms[0]!.close();
      comms[1]!.close();
      comms = await join();
      await check('after both closed', comms);
      comms[0]!.close(); // rank 1's comm is now broken ("rank 0 closed the comm"), not closed
      expect(comms[1]!.broken).toMatch(/rank 0 closed/);
      comms = await join();
      await check('after one closed, the other broken', comms);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  // Two containers of one pod sharing /dev/shm: each its own pid namespace. A peer's pid means
  // nothing here, so it must not be judged by kill(pid, 0) (a live peer was "exited" at once).
  const unshare = spawnSync('unshare', ['-p', '-f', '--mount-proc', 'true']).status === 0;
  (unshare ? it : it.skip)(
    `a rank in another pid namespace is not taken for an exited one${unshare ? '' : ' (skipped: unshare -p needs root here)'}`,
    async () => {
      const id = hex(comm.create({ maxBytes: 4096 }));
      const indexJs = path.join(__dirname, '..', 'dist', 'src', 'index.js');
      const rank = (r: number) => `
        const sparq = require(${JSON.stringify(indexJs)});
        (async () => {
          const sq = await sparq.open({ backend: 'cpu', threads: 1 });
          const c = await sq.comm({ id: Uint8Array.from(Buffer.from('${id}', 'hex')), rank: ${r}, size: 2, timeoutMs: 10000 });
          await new Promise((res) => setTimeout(res, ${r} * 600)); // rank 0 waits in the call meanwhile
          const x = sq.tensor(new Uint16Array(16).fill(0x3c00), [2, 8], 'f16');
          const y = await c.allreduceRmsnorm(x, sq.tensor(new Uint16Array(16), [2, 8], 'f16'), sq.tensor(new Uint16Array(8).fill(0x3c00), [8], 'f16'), { eps: 0 }).residual.read();
          console.log('rank ${r} pid ' + process.pid + ' residual ' + y[0].toString(16));
          c.close();
          await sq.close();
        })().catch((e) => { console.log('rank ${r} pid ' + process.pid + ' failed: ' + e.message); });`;
      const run = (cmd: string, args: string[]) =>
        new Promise<string>((resolve) => {
          const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          p.stdout.on('data', (d: Buffer) => (out += d.toString()));
          p.on('exit', () => resolve(out.trim()));
        });
      const outs = await Promise.all([
        run('unshare', ['-p', '-f', '--mount-proc', process.execPath, '-e', rank(0)]),
        run(process.execPath, ['-e', rank(1)]),
      ]);
      expect(outs[0]).toBe('rank 0 pid 1 residual 4000'); // 1 + 1, in its own namespace
      expect(outs[1]).toMatch(/^rank 1 pid \d+ residual 4000$/);
    },
  );

  it('two ranks of one comm from one context: the second is refused at once (it used to wait 2 × timeoutMs and blame the first)', async () => {
    const sq = await open({ backend: 'cpu' });
    try {
      const id = comm.create();
      const t0 = Date.now();
      const first = sq.comm({ id, rank: 0, size: 2, timeoutMs: 1500 });
      await expect(sq.comm({ id, rank: 1, size: 2, timeoutMs: 1500 })).rejects.toMatchObject({
        name: 'SparqArgumentError',
        argument: 'id',
        message: expect.stringMatching(/^comm: id must not be a comm this context is a rank of, .*or is joining; .*each rank needs its own context/),
      });
      await expect(first).rejects.toBeInstanceOf(SparqTimeoutError); // rank 1 never came from anywhere
      expect(Date.now() - t0).toBeLessThan(4000);
      await expectOneRankComm(sq); // the context computes
    } finally {
      await sq.close();
    }
  });

  // A rank frozen (SIGSTOP) while its peers' join timed out on it, then resumed, used to find
  // every counter reached and resolve its join on a comm already broken (2026-12-06, a review with
  // SIGSTOP/SIGCONT): it fails now as they did, since the break happened at the join.
  (process.platform === 'linux' ? it : it.skip)('a rank stopped through its peers\' join timeout and resumed fails its join too', async () => {
    const indexJs = path.join(__dirname, '..', 'dist', 'src', 'index.js');
    const id = hex(comm.create({ maxBytes: 4096 }));
    const rankCode = (rank: number, timeoutMs: number): string => `
      const sparq = require(${JSON.stringify(indexJs)});
      (async () => {
        const sq = await sparq.open({ backend: 'cpu', threads: 1 });
        console.log('joining');
        try {
          await sq.comm({ id: Buffer.from('${id}', 'hex'), rank: ${rank}, size: 3, timeoutMs: ${timeoutMs} });
          console.log(JSON.stringify({ rank: ${rank}, ok: true }));
        } catch (e) {
          console.log(JSON.stringify({ rank: ${rank}, error: e.name, message: e.message }));
        }
        await sq.close();
      })();`;
    const start = (rank: number, timeoutMs: number) => {
      const p = spawn(process.execPath, ['-e', rankCode(rank, timeoutMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      const joining = new Promise<void>((resolve) => p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('joining')) resolve();
      }));
      const exited = new Promise<{ rank: number; ok?: boolean; error?: string; message?: string }>((resolve) =>
        p.on('exit', () => resolve(JSON.parse(out.split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}'))));
      return { p, joining, exited };
    };
    const frozen = start(2, 3000);
    await frozen.joining;
    await new Promise((r) => setTimeout(r, 300)); // inside its join's wait for the others
    frozen.p.kill('SIGSTOP');
    try {
      const peers = [start(0, 800), start(1, 800)];
      const results = await Promise.all(peers.map((r) => r.exited));
      expect(results.map((r) => r.error)).toEqual(['SparqTimeoutError', 'SparqTimeoutError']);
    } finally {
      frozen.p.kill('SIGCONT');
    }
    const late = await frozen.exited;
    expect(late).toMatchObject({ rank: 2, error: 'SparqTimeoutError', message: expect.stringMatching(/^comm: the comm is broken: rank 2 did not/) });
  }, 30000);
});

// The sim backend's comm: the same shared-memory transport, then the CUDA kernel
// allreduce_gathered_rmsnorm_kernel on the simulator (native/sim/comm_sim.cc).
const describeSim = native().hasSim ? describe : describe.skip;
describeSim('comm.allreduceRmsnorm [sim]: the CUDA comm kernel on the simulator', () => {
  const calls: CommCall[] = [
    { tokens: 7, hidden: 24 },
    { tokens: 1, hidden: 8 },
    { tokens: 19, hidden: 4104 },
    { tokens: 3, hidden: 8192 },
  ];

  // Every rank's view of how rows moved, from its join report.
  const transports = (reports: RankReport[]): Array<string | undefined> =>
    reports.filter((r) => r.joined).sort((a, b) => a.rank - b.rank).map((r) => r.transport);

  it('3 sim ranks in worker_threads of one process: rows device to device (the peers\' slots), contract bits', async () => {
    const seed = freshSeed();
    const id = hex(comm.create({ maxBytes: 2 ** 20 }));
    const jobs = [0, 1, 2].map((rank) => ({ id, rank, size: 3, seed, calls, timeoutMs: 60000, backend: 'sim' as const }));
    const reports = await runRanks(jobs, 'worker');
    expect(transports(reports)).toEqual(['device', 'device', 'device']);
    expectContract(reports, seed, 3, calls);
    // one rank asking for the host transport sends every rank there, with the same bits
    const id2 = hex(comm.create({ maxBytes: 2 ** 20 }));
    const hostJobs = jobs.map((j) => ({ ...j, id: id2, transport: j.rank === 1 ? ('host' as const) : ('auto' as const) }));
    const viaHost = await runRanks(hostJobs, 'worker');
    expect(transports(viaHost)).toEqual(['host', 'host', 'host']);
    expectContract(viaHost, seed, 3, calls);
    for (const r of reports.filter((m) => m.call !== undefined)) {
      const rowBytes = calls[r.call as number].tokens * calls[r.call as number].hidden * 2;
      expect({ rank: r.rank, call: r.call, staging: r.bytesRead?.staging }).toEqual({ rank: r.rank, call: r.call, staging: 2 * rowBytes });
    }
  });

  it('3 sim ranks (2 worker_threads, 1 child process): rows through host memory, contract bits, each peer row read once from staging', async () => {
    const seed = freshSeed();
    const id = hex(comm.create({ maxBytes: 2 ** 20 }));
    const jobs = [0, 1, 2].map((rank) => ({ id, rank, size: 3, seed, calls, timeoutMs: 60000, backend: 'sim' as const }));
    const reports = await runRanks(jobs, ['worker', 'process', 'worker']);
    // a sim slot is host memory of its own process: the child's cannot be read in place, so all three agree on host
    expect(transports(reports)).toEqual(['host', 'host', 'host']);
    expectContract(reports, seed, 3, calls);
    for (const r of reports.filter((m) => m.call !== undefined)) {
      const call = calls[r.call as number];
      const rowBytes = call.tokens * call.hidden * 2;
      expect({ rank: r.rank, call: r.call, kernel: r.kernel, staging: r.bytesRead?.staging, x: r.bytesRead?.x }).toEqual({
        rank: r.rank,
        call: r.call,
        kernel: 'allreduce_gathered_rmsnorm_kernel',
        staging: 2 * rowBytes, // the 2 peers' rows, once each; this rank's own x comes from x itself
        x: rowBytes,
      });
    }
  });

  it('cpu and sim ranks share one comm and get the same bits', async () => {
    const seed = freshSeed();
    const id = hex(comm.create({ maxBytes: 2 ** 20 }));
    const backends = ['sim', 'cpu', 'sim', 'cpu'] as const;
    const jobs = backends.map((backend, rank) => ({ id, rank, size: 4, seed, calls, timeoutMs: 60000, backend }));
    const reports = await runRanks(jobs, ['worker', 'worker', 'process', 'process']);
    expect(transports(reports)).toEqual(['host', 'host', 'host', 'host']);
    expectContract(reports, seed, 4, calls);
  });

  // The NCCL transport (native/runtime/comm_nccl.cc) on sim ranks, through sparq's NCCL test double
  // (native/tests/fixtures/nccl_double.cc, built beside sparq.node; worker_threads only: the double
  // keeps its groups in one process). The real library runs in the device check on cuda.
  it('an NCCL comm (sparq.comm.createNccl, the test double): 3 sim ranks in workers, contract bits; a cpu rank is refused', async () => {
    const saved = process.env.SPARQ_NCCL_PATH;
    process.env.SPARQ_NCCL_PATH = path.join(path.dirname(addonPath()), 'libnccl_double.so');
    try {
      const raw = await comm.createNccl({ maxBytes: 2 ** 20 });
      expect(raw.length).toBe(140);
      const seed = freshSeed();
      const id = hex(raw);
      const jobs = [0, 1, 2].map((rank) => ({ id, rank, size: 3, seed, calls, timeoutMs: 60000, backend: 'sim' as const }));
      const reports = await runRanks(jobs, 'worker');
      expect(transports(reports)).toEqual(['nccl', 'nccl', 'nccl']);
      expectContract(reports, seed, 3, calls);
      const cpu = await open({ backend: 'cpu' });
      try {
        await expect(cpu.comm({ id: await comm.createNccl(), rank: 0, size: 1, timeoutMs: 1000 })).rejects.toMatchObject({
          name: 'SparqBackendError',
          message: expect.stringMatching(/needs a cuda rank/),
        });
      } finally {
        await cpu.close();
      }
    } finally {
      if (saved === undefined) delete process.env.SPARQ_NCCL_PATH;
      else process.env.SPARQ_NCCL_PATH = saved;
    }
  });

  // The hierarchical NCCL form (runtime/comm_topology.h) on sim ranks through the double: 4 ranks
  // naming 2 machines (rank order a, b, b, a), so each machine's ranks meet in its shared memory and
  // the double carries each token shard between the two; the contract's bits, as the flat form.
  it('an NCCL comm over named machines (the test double): 2 × 2 sim ranks take the hierarchical form, contract bits; bad names refused', async () => {
    const saved = process.env.SPARQ_NCCL_PATH;
    process.env.SPARQ_NCCL_PATH = path.join(path.dirname(addonPath()), 'libnccl_double.so');
    try {
      const seed = freshSeed();
      const id = hex(await comm.createNccl({ maxBytes: 2 ** 20 }));
      const nodes = ['a', 'b', 'b', 'a'];
      const jobs = nodes.map((node, rank) => ({ id, rank, size: 4, seed, calls, timeoutMs: 60000, backend: 'sim' as const, node }));
      const reports = await runRanks(jobs, 'worker');
      expect(transports(reports)).toEqual(['nccl-hierarchical', 'nccl-hierarchical', 'nccl-hierarchical', 'nccl-hierarchical']);
      expectContract(reports, seed, 4, calls);
      const sq = await open({ backend: 'sim' });
      try {
        const nccl = await comm.createNccl();
        for (const node of ['', 7, 'x'.repeat(1025)])
          await expect(sq.comm({ id: nccl, rank: 0, size: 1, node: node as string })).rejects.toMatchObject({
            name: 'SparqArgumentError',
            argument: 'node',
          });
      } finally {
        await sq.close();
      }
    } finally {
      if (saved === undefined) delete process.env.SPARQ_NCCL_PATH;
      else process.env.SPARQ_NCCL_PATH = saved;
    }
  });

  it('a rank whose call ended with the comm broken writes nothing into its slot: a peer still reading it never gets its next x', async () => {
    // Rank 1 queues two calls and closes at a random point of the first; rank 0 makes one call. The
    // device transport copied rank 1's second x into its slot (its first call's depart wait broken)
    // while rank 0 still copied the first from it, and rank 0's call then resolved with the second
    // x's sums: 481–539 wrong results in 3000 rounds on the CI box (2026-12-05), none with the check.
    const [a, b] = await Promise.all([open({ backend: 'sim' }), open({ backend: 'sim' })]);
    try {
      const seed = freshSeed();
      const next = rng(seed);
      const hidden = 8;
      const plane = () => Uint16Array.from({ length: hidden }, () => 0x3c00 + Math.floor(next() * 8) * 0x100); // 1 … 128: exact sums
      const gamma = Uint16Array.from({ length: hidden }, () => 0x3c00);
      let wrong = 0;
      let succeeded = 0;
      for (let round = 0; round < 400; round++) {
        const id = comm.create({ maxBytes: 4096 });
        const [ca, cb] = await Promise.all([a.comm({ id, rank: 0, size: 2, timeoutMs: 5000 }), b.comm({ id, rank: 1, size: 2, timeoutMs: 5000 })]);
        const [x0, r0, x1, r1, x1next] = [plane(), plane(), plane(), plane(), plane()];
        const t = (sq: Context, bits: Uint16Array, shape: number[]) => sq.tensor(bits, shape, 'f16');
        const ra = ca.allreduceRmsnorm(t(a, x0, [1, hidden]), t(a, r0, [1, hidden]), t(a, gamma, [hidden]));
        cb.allreduceRmsnorm(t(b, x1, [1, hidden]), t(b, r1, [1, hidden]), t(b, gamma, [hidden]));
        cb.allreduceRmsnorm(t(b, x1next, [1, hidden]), t(b, r1, [1, hidden]), t(b, gamma, [hidden]));
        const spin = next() * 2;
        for (const t0 = performance.now(); performance.now() - t0 < spin; );
        cb.close();
        try {
          const out = await ra.out.read();
          succeeded++;
          const want = allreduceRmsnormContract({ xs: [x0, x1], residuals: [r0, r1], gamma, tokens: 1, hidden, eps: 1e-6 }).out[0]!;
          if (out.some((v, i) => v !== want[i])) wrong++;
        } catch (e) {
          expect(e).toBeInstanceOf(SparqTimeoutError);
        }
        ca.close();
        await Promise.all([a.synchronize().catch(() => undefined), b.synchronize().catch(() => undefined)]);
      }
      expect({ seed, wrong }).toEqual({ seed, wrong: 0 });
      expect(succeeded).toBeGreaterThan(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a device slot whose peer (in this process) lets go only after timeoutMs is still freed, and waiting slots take no thread each', async () => {
    // The slot of a rank that closed first waits for its peers to let go of it, up to timeoutMs; a
    // wait that ran out used to drop the slot (maxBytes of device memory, for good), and each wait
    // had a sleeping thread of its own.
    const threads = () => fs.readdirSync('/proc/self/task').length;
    const [a, b] = await Promise.all([open({ backend: 'sim' }), open({ backend: 'sim' })]);
    try {
      const before = [a.liveAllocations, b.liveAllocations];
      const comms: Comm[] = [];
      for (let i = 0; i < 6; i++) {
        const id = comm.create({ maxBytes: 4096 });
        comms.push(...(await Promise.all([a.comm({ id, rank: 0, size: 2, timeoutMs: 300 }), b.comm({ id, rank: 1, size: 2, timeoutMs: 300 })])));
      }
      const threadsBefore = threads();
      for (let i = 0; i < comms.length; i += 2) comms[i]!.close(); // rank 0 leaves; rank 1 still holds its slot open
      await a.synchronize();
      expect(threads() - threadsBefore).toBeLessThanOrEqual(1); // one reaper for the process, not one per slot
      await new Promise((r) => setTimeout(r, 600)); // past timeoutMs
      for (let i = 0; i < 100 && a.liveAllocations !== before[0]; i++) await new Promise((r) => setTimeout(r, 10));
      expect(a.liveAllocations).toBe(before[0]);
      for (let i = 1; i < comms.length; i += 2) comms[i]!.close();
      await b.synchronize();
      for (let i = 0; i < 100 && b.liveAllocations !== before[1]; i++) await new Promise((r) => setTimeout(r, 10));
      expect(b.liveAllocations).toBe(before[1]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('device-transport ranks hold their slots until close() (freed on the stream once both closed); a one-rank comm holds none', async () => {
    // two ranks on two sim contexts of this thread (each joins on its own stream)
    const [a, b] = await Promise.all([open({ backend: 'sim' }), open({ backend: 'sim' })]);
    try {
      const before = [a.liveAllocations, b.liveAllocations];
      const id = comm.create({ maxBytes: 4096 });
      const [ca, cb] = await Promise.all([a.comm({ id, rank: 0, size: 2, timeoutMs: 5000 }), b.comm({ id, rank: 1, size: 2, timeoutMs: 5000 })]);
      expect([ca.transport, cb.transport]).toEqual(['device', 'device']);
      expect([a.liveAllocations, b.liveAllocations]).toEqual([before[0] + 1, before[1] + 1]); // a slot each
      ca.close();
      cb.close();
      await Promise.all([a.synchronize(), b.synchronize()]);
      // a rank that let go before its peer frees its slot from a thread of its own, shortly after
      for (let i = 0; i < 200 && (a.liveAllocations !== before[0] || b.liveAllocations !== before[1]); i++)
        await new Promise((r) => setTimeout(r, 10));
      expect([a.liveAllocations, b.liveAllocations]).toEqual(before);
      expect(ca.transport).toBe('device'); // what the ranks agreed on; the comm itself is closed
      const t = (shape: number[]): Tensor<'f16'> => a.tensor(new Uint16Array(shape.reduce((x, y) => x * y)), shape, 'f16');
      const args = [t([1, 8]), t([1, 8]), t([8])] as const;
      expect(() => ca.allreduceRmsnorm(...args)).toThrow(SparqDisposedError);
      ca.close(); // idempotent
      // Freed here, not by the GC backstop in the middle of the count below (a collection during the
      // join's await took the three away from `live` once: a flaky 3 vs 0).
      for (const x of args) x.dispose();
      await a.synchronize();
      const live = a.liveAllocations;
      const one = await a.comm({ id: comm.create({ maxBytes: 4096 }), rank: 0, size: 1, timeoutMs: 1000 });
      expect(one.transport).toBe('device');
      expect(a.liveAllocations).toBe(live); // nobody would read a one-rank comm's slot
      one.close();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    // the context's close hands an open comm's slot to its stream; the close completes, and the
    // comm's close() after it does not throw
    const other = await open({ backend: 'sim' });
    const c2 = await other.comm({ id: comm.create({ maxBytes: 4096 }), rank: 0, size: 1, timeoutMs: 1000 });
    await other.close();
    c2.close();
  });

  it('a sim rank whose peer never joins rejects with SparqTimeoutError naming it; size 1 is the fused residual + norm', async () => {
    const id = hex(comm.create());
    const jobs = [0].map((rank) => ({ id, rank, size: 2, seed: 1, calls, timeoutMs: 1500, backend: 'sim' as const }));
    const reports = await runRanks(jobs, 'worker');
    expect(reports).toEqual([{ rank: 0, joined: false, error: expect.objectContaining({ name: 'SparqTimeoutError', message: expect.stringMatching(/rank 1/) }) }]);
    const sim = await open({ backend: 'sim' });
    try {
      const { c } = await expectOneRankComm(sim);
      expect(sim.lastLaunch?.kernel).toBe('allreduce_gathered_rmsnorm_kernel');
      expect(c.transport).toBe('device');
      c.close();
    } finally {
      await sim.close();
    }
  });
});
