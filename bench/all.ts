// `npm run bench`: every op at its default LLM layer shapes on the available backend, one progress
// line, a table per op, a combined summary, and files under bench/results/.
import { denseBench, DENSE_USAGE } from './dense';
import { benchMain } from './runner';
import { w4a16Bench, W4A16_USAGE } from './w4a16';

const USAGE = `node dist/bench/all.js [options]   (npm run bench)
Runs dense then w4a16 with their default shapes; options are passed to both.

${DENSE_USAGE}
${W4A16_USAGE}`;

benchMain([denseBench, w4a16Bench], USAGE);
