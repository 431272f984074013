// What one op's benchmark hands back to the runner, and the cross-op summary row.
import type { Context } from '../src/index';
import { ChartSpec } from './harness/svgChart';
import { ConfigResult } from './harness/results';
import { Table } from './harness/table';
import { Progress } from './harness/progress';
import { OrtRuntime } from './peers/onnx';
import { CpuFloor, FloorProbe } from './harness/cpuFloor';
import { CpuPeak, PeakProbe } from './harness/cpuPeak';
import { ScalingContext } from './harness/threadScaling';

/** One line of the combined summary: the subject against its main baseline on one config. */
export interface SummaryRow {
  readonly op: string;
  readonly shape: string;
  readonly m: number;
  readonly subject: string;
  /** Median ms, or the status (WRONG/ERROR/SKIPPED) where there is no time. */
  readonly subjectMs: number | string | null;
  readonly subjectGbps: number | null;
  readonly baseline: string | null;
  readonly baselineMs: number | string | null;
  /** subject time / baseline time: < 1 means sparq is faster. */
  readonly timeRatio: number | null;
}

export interface OpReport {
  readonly op: string;
  readonly configs: readonly ConfigResult[];
  readonly tables: readonly Table[];
  readonly chart: ChartSpec | null;
  readonly summary: readonly SummaryRow[];
}

/** Receives configs as they finish (the runner appends them to the op's JSON-lines file). */
export type ConfigSink = (configs: readonly ConfigResult[]) => void;

/** A planned benchmark: how many progress steps it has, and how to run it. */
export interface OpBench {
  readonly op: string;
  readonly steps: number;
  /** Reads the CPU floor's probe beside its rows and runs rows on the --threads contexts (dense,
   *  w4a16). Where no bench of a run does, the runner opens neither, and --threads is refused. */
  readonly usesCpuFloor?: boolean;
  /** Times onnxruntime-node beside its rows (dense, w4a16, int8): only then is it loaded, and its
   *  version written on the run's machine line. */
  readonly usesPeers?: boolean;
  /** The m values this bench times (a --threads-m outside every bench's is reported: it times nothing). */
  readonly timedMs?: readonly number[];
  /** `finished` gets each batch of configs as it completes, so a run cut short still leaves them. */
  run(progress: Progress, finished: ConfigSink): Promise<OpReport>;
}

/** What every op benchmark is built from. */
export interface BenchEnv {
  readonly sq: Context;
  /** onnxruntime-node where the peer applies (CPU backend, not disabled), else null. */
  readonly ort: OrtRuntime | null;
  readonly threads: number;
  /** The DRAM read bandwidth of `sq`'s pool, measured at the start of the run; null off the cpu. */
  readonly cpuFloor: CpuFloor | null;
  /** cpu: the floor's read kept for the run, sampled again beside each dense and w4a16 config. */
  readonly floorProbe: FloorProbe | null;
  /** The fp32 FMA peak of `sq`'s pool, measured at the start of the run; null off the cpu and on scalar. */
  readonly cpuPeak: CpuPeak | null;
  /** cpu: the FMA probe kept for the run, sampled again beside each dense and w4a16 config. */
  readonly peakProbe: PeakProbe | null;
  /** cpu: contexts with the other pool sizes of `--threads`; the sparq rows at `scalingM` run on each. */
  readonly scaling: readonly ScalingContext[];
  readonly scalingM: readonly number[];
}
