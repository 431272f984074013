// Reads `cuobjdump -sass` output of libsparq_cuda.so: instructions per kernel instance, and one
// check that needs no GPU time to run once the toolkit's disassembler is at hand: a uniform
// register (URn) that an instruction reads but no instruction of the same function writes.
//
// Why this check: on the first H200 run (2026-12-04) every kernel that copied with
// `cp.async…L2::cache_hint` faulted with cudaErrorIllegalInstruction, and in the SASS exactly those
// kernels (13 of 33) had LDGSTS addressed as `[R+UR0], desc[UR1]` with UR0/UR1 written nowhere in
// the function (docs/verification.md "GPU results"). A register read that nothing writes is at best
// garbage; the check is a heuristic (it does not follow control flow: a write anywhere counts).

/** One function of a SASS listing. */
export interface SassFunction {
  /** mangled name, as cuobjdump prints it after "Function :" */
  name: string;
  /** instruction count (the listing's numbered lines) */
  instructions: number;
  /** reads of uniform registers that no instruction of the function writes, first few */
  undefinedUniformReads: { pc: string; register: string; text: string }[];
}

const FUNCTION_LINE = /Function : (\S+)/;
// "        /*1860*/                   LDGSTS.E.BYPASS.128 [R23+UR0], desc[UR1][R18.64] ;"
const INSTRUCTION_LINE = /^\s*\/\*([0-9a-f]{4,})\*\/\s+(.*?)\s*;/;
const GUARD = /^@!?U?P(?:T|\d+)\s+/;
const UNIFORM_REG = /^UR(\d+)$/;
const MAX_REPORTED = 4;

/** Registers written by an instruction whose destination is URn: 1, 2 (.64, .WIDE) or 4 (.128). */
function destinationWidth(opcode: string): number {
  if (opcode.includes('.128')) return 4;
  if (opcode.includes('.64') || opcode.includes('.WIDE')) return 2;
  return 1;
}

/** Splits a listing into functions with their instructions' text (guard predicate removed). */
function functionsOf(sass: string): { name: string; body: { pc: string; text: string }[] }[] {
  const out: { name: string; body: { pc: string; text: string }[] }[] = [];
  for (const line of sass.split('\n')) {
    const f = FUNCTION_LINE.exec(line);
    if (f) {
      out.push({ name: f[1], body: [] });
      continue;
    }
    const ins = INSTRUCTION_LINE.exec(line);
    if (ins && out.length > 0) out[out.length - 1].body.push({ pc: ins[1], text: ins[2].replace(GUARD, '') });
  }
  return out;
}

/** Every function of a `cuobjdump -sass` listing with its instruction count and undefined uniform reads. */
export function checkSass(sass: string): SassFunction[] {
  return functionsOf(sass).map(({ name, body }) => {
    const written = new Set<number>();
    const reads: { pc: string; register: number; text: string }[] = [];
    for (const { pc, text } of body) {
      const space = text.search(/\s/);
      const opcode = space < 0 ? text : text.slice(0, space);
      const operands = space < 0 ? [] : text.slice(space + 1).split(',').map((o) => o.trim());
      // A bare URn first operand is the destination (stores and branches start with a bracket or a
      // label); everything after it, and any URn inside brackets, is read.
      const dest = operands.length > 0 ? UNIFORM_REG.exec(operands[0]) : null;
      if (dest) for (let i = 0; i < destinationWidth(opcode); i++) written.add(Number(dest[1]) + i);
      for (const operand of dest ? operands.slice(1) : operands) {
        for (const m of operand.matchAll(/\bUR(\d+)\b/g)) reads.push({ pc, register: Number(m[1]), text });
      }
    }
    const undefinedUniformReads = reads
      .filter((r) => !written.has(r.register))
      .slice(0, MAX_REPORTED)
      .map((r) => ({ pc: r.pc, register: `UR${r.register}`, text: r.text }));
    return { name, instructions: body.length, undefinedUniformReads };
  });
}
