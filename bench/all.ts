// `npm run bench`: every op at its default LLM layer shapes on the available backend, one progress
// line, a table per op, a combined summary, and files under bench/results/.
import { allreduceBench, ALLREDUCE_USAGE } from './allreduce';
import { denseBench, DENSE_USAGE } from './dense';
import { int8Bench, INT8_USAGE } from './int8';
import { prepareBench, PREPARE_USAGE } from './prepare';
import { benchMain } from './runner';
import { sparseBench, SPARSE_USAGE } from './sparse';
import { w4a16Bench, W4A16_USAGE } from './w4a16';

const USAGE = `node dist/bench/all.js [options]   (npm run bench)
Runs dense, w4a16, sparse, int8, allreduceRmsnorm, then weight preparation (prepare) with their
default shapes; options are passed to each (--shapes to the matmuls and prepare, --m to all:
allreduceRmsnorm reads it as --tokens; --full to w4a16, sparse, int8 and allreduceRmsnorm; --group
to w4a16; --sparsity and --formats to sparse; --ranks, --tokens and --hidden to allreduceRmsnorm).

${DENSE_USAGE}
${W4A16_USAGE}
${SPARSE_USAGE}
${INT8_USAGE}
${ALLREDUCE_USAGE}
${PREPARE_USAGE}`;

benchMain([denseBench, w4a16Bench, sparseBench, int8Bench, allreduceBench, prepareBench], USAGE);
