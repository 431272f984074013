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
  /** mangled name, as cuobjdump prints it after "Function :" (+ " [sm_XX]" when the listing has several architectures) */
  name: string;
  /** instruction count (the listing's numbered lines) */
  instructions: number;
  /** reads of uniform registers that no instruction of the function writes, first few */
  undefinedUniformReads: { pc: string; register: string; text: string }[];
}

const FUNCTION_LINE = /Function : (\S+)/;
// cuobjdump prints "arch = sm_90a" before each architecture's code: a library built for several
// has every kernel once per architecture, and the names say which.
const ARCH_LINE = /\barch = (sm_\w+)/;
// Opcodes whose first operand, even a bare URn, is read: branches, barriers, warp sync.
const SOURCE_FIRST = /^(BRA|BRX|JMP|JMX|CALL|RET|WARPSYNC|BAR|BSSY|BSYNC|NANOSLEEP)\b/;
// ELECT P, URd, mask: the uniform register it writes is the second operand.
const WRITES_SECOND = /^ELECT\b/;
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
  const archs = new Set([...sass.matchAll(new RegExp(ARCH_LINE.source, 'g'))].map((m) => m[1]));
  let arch: string | null = null;
  for (const line of sass.split('\n')) {
    const a = ARCH_LINE.exec(line);
    if (a) arch = a[1];
    const f = FUNCTION_LINE.exec(line);
    if (f) {
      out.push({ name: archs.size > 1 && arch ? `${f[1]} [${arch}]` : f[1], body: [] });
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
      // A bare URn first operand is the destination (stores start with a bracket; branches and
      // barriers read theirs: SOURCE_FIRST; ELECT writes its second); everything else is read.
      const at = WRITES_SECOND.test(opcode) ? 1 : SOURCE_FIRST.test(opcode) ? -1 : 0;
      const dest = at >= 0 && operands.length > at ? UNIFORM_REG.exec(operands[at]) : null;
      if (dest) for (let i = 0; i < destinationWidth(opcode); i++) written.add(Number(dest[1]) + i);
      operands.forEach((operand, i) => {
        if (dest && i === at) return;
        for (const m of operand.matchAll(/\bUR(\d+)\b/g)) reads.push({ pc, register: Number(m[1]), text });
      });
    }
    const undefinedUniformReads = reads
      .filter((r) => !written.has(r.register))
      .slice(0, MAX_REPORTED)
      .map((r) => ({ pc: r.pc, register: `UR${r.register}`, text: r.text }));
    return { name, instructions: body.length, undefinedUniformReads };
  });
}
