import { comm, nccl, SparqBackendError } from '../src';

// This box has no NCCL (and CI's neither): the probe must say so clearly, in a child process.
describe('nccl.probe (dlopen in a child process)', () => {
  const saved = process.env.SPARQ_NCCL_PATH;
  afterEach(() => {
    if (saved === undefined) delete process.env.SPARQ_NCCL_PATH;
    else process.env.SPARQ_NCCL_PATH = saved;
  });

  it('without NCCL: SparqBackendError naming libnccl.so.2, SPARQ_NCCL_PATH and how to install it', async () => {
    delete process.env.SPARQ_NCCL_PATH;
    const r = nccl.probe();
    try {
      const found = await r;
      // a machine with NCCL: then it is a real one
      expect(found.version).toBeGreaterThanOrEqual(21800);
      expect(found.path).toMatch(/nccl/);
    } catch (e) {
      expect(e).toBeInstanceOf(SparqBackendError);
      expect((e as Error).message).toMatch(/libnccl\.so\.2: .*SPARQ_NCCL_PATH/);
      expect((e as Error).message).toMatch(/nvidia-nccl-cu12/);
    }
  });

  it('SPARQ_NCCL_PATH at a library that is not NCCL: says so, and tries nothing else', async () => {
    process.env.SPARQ_NCCL_PATH = 'libm.so.6';
    await expect(nccl.probe()).rejects.toThrow(/libm\.so\.6: loads, but has no ncclGetVersion: not NCCL.*only it was tried/);
  });

  it('SPARQ_NCCL_PATH at a missing file: the loader error', async () => {
    process.env.SPARQ_NCCL_PATH = '/nonexistent/libnccl.so.2';
    await expect(nccl.probe()).rejects.toBeInstanceOf(SparqBackendError);
    await expect(nccl.probe()).rejects.toThrow(/\/nonexistent\/libnccl\.so\.2: .*No such file/);
  });

  it('comm.createNccl without a usable NCCL rejects with the probe\'s SparqBackendError (NCCL never loaded here)', async () => {
    process.env.SPARQ_NCCL_PATH = '/nonexistent/libnccl.so.2';
    await expect(comm.createNccl()).rejects.toBeInstanceOf(SparqBackendError);
    await expect(comm.createNccl()).rejects.toThrow(/\/nonexistent\/libnccl\.so\.2/);
    await expect(comm.createNccl({ maxBytes: -1 })).rejects.toMatchObject({ argument: 'maxBytes' });
  });
});
