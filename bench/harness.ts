// The benchmark harness: machine description, statistics, the timed run loop, progress, tables,
// result files and the reference check. Each concern lives in bench/harness/<concern>.ts.
export * from './harness/cliArgs';
export * from './harness/halfFloat';
export * from './harness/machineInfo';
export * from './harness/progress';
export * from './harness/randomData';
export * from './harness/referenceCheck';
export * from './harness/results';
export * from './harness/rotation';
export * from './harness/stats';
export * from './harness/svgChart';
export * from './harness/table';
export * from './harness/timeLoop';
