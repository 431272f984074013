// bench/harness/sassCheck.ts on SASS lines taken from libsparq_cuda.so as cuobjdump printed them on
// the H200 machine (2026-12-04): the w4a16 kernel whose hinted cp.async faulted, and a tiled-CSL
// sparse kernel whose copies use the ordinary descriptor.
import { checkSass } from '../bench/harness/sassCheck';

const listing = [
  '\t\tFunction : _ZN5sparq5w4a1617w4a16_gemm_kernelILi1ELi8EEEvNS0_11W4a16ParamsE',
  '\t.headerflags\t@"EF_CUDA_ACCELERATORS EF_CUDA_SM90 EF_CUDA_VIRTUAL_SM(EF_CUDA_SM90)"',
  '        /*0000*/                   LDC R1, c[0x0][0x28] ;                                         /* 0x00000a00ff017b82 */',
  '                                                                                                  /* 0x000ff00000000800 */',
  '        /*0010*/                   S2UR UR19, SR_CTAID.X ;                                        /* 0x00000000001379c3 */',
  '        /*0050*/                   ULDC.64 UR14, c[0x0][0x288] ;                                  /* 0x0000a200000e7ab9 */',
  '        /*0160*/                   UISETP.LT.U32.AND UP1, UPT, UR6, UR14, UPT ;                   /* 0x0000000e0600728c */',
  '        /*0170*/                   UIMAD.WIDE.U32 UR6, UR19, UR14, URZ ;                          /* 0x0000000e130672a5 */',
  '        /*01d0*/                   UISETP.LT.AND.EX UP1, UPT, UR7, UR15, UPT, UP1 ;               /* 0x0000000f0700728c */',
  '        /*1810*/                   ULEA UR9, UR19, UR14, 0x18 ;                                   /* 0x0000000409097291 */',
  '        /*1830*/              @!PT LDS RZ, [RZ] ;                                                 /* 0x00000000fffff984 */',
  '        /*1860*/                   LDGSTS.E.BYPASS.128 [R23+UR0], desc[UR1][R18.64] ;             /* 0x0000000012177dae */',
  '        /*1870*/              @!P1 BRA 0x19b0 ;                                                   /* 0x00000000004c9947 */',
  '\t\tFunction : _ZN5sparq4spmm20sparse_matmul_kernelILi1ELi1EEEvNS0_12SparseParamsE',
  '        /*0030*/                   ULDC.64 UR10, c[0x0][0x268] ;                                   /* 0x00009a00000a7ab9 */',
  '        /*1880*/                   ULDC.64 UR20, c[0x0][0x208] ;                                   /* 0x0000820000147ab9 */',
  '        /*1940*/                   LDG.E R33, desc[UR20][R4.64] ;                                  /* 0x0000001404217981 */',
  '        /*3130*/                   LDGSTS.E.BYPASS.128 [R27], desc[UR20][R20.64], !P1 ;            /* 0x00000000141b7fae */',
  '        /*3140*/              @UP0 UIADD3 UR11, UR10, 0x1, URZ ;                                  /* 0x0000000a0b0b7890 */',
].join('\n');

describe('sassCheck (cuobjdump -sass of the shipped library)', () => {
  const fns = checkSass(listing);

  test('splits the listing into functions and counts their instructions (not the encoding lines)', () => {
    expect(fns.map((f) => f.name)).toEqual([
      '_ZN5sparq5w4a1617w4a16_gemm_kernelILi1ELi8EEEvNS0_11W4a16ParamsE',
      '_ZN5sparq4spmm20sparse_matmul_kernelILi1ELi1EEEvNS0_12SparseParamsE',
    ]);
    expect(fns.map((f) => f.instructions)).toEqual([10, 5]);
  });

  test('flags the faulting copy: UR0 and UR1 are read and written nowhere in the function', () => {
    expect(fns[0].undefinedUniformReads.map((r) => [r.pc, r.register])).toEqual([
      ['1860', 'UR0'],
      ['1860', 'UR1'],
    ]);
  });

  test('passes registers written by ULDC.64 / UIMAD.WIDE (two registers), S2UR, ULEA and guarded writes', () => {
    // UR7 and UR15 are the high halves of a .WIDE and a .64 destination; UR11 is written under a guard.
    expect(fns[1].undefinedUniformReads).toEqual([]);
    const w4a16Others = fns[0].undefinedUniformReads.filter((r) => r.register !== 'UR0' && r.register !== 'UR1');
    expect(w4a16Others).toEqual([]);
  });

  test('a read of a register no instruction writes is flagged even when another register of the pair is written', () => {
    const odd = checkSass(['Function : k', '        /*0000*/   ULDC UR4, c[0x0][0x0] ;', '        /*0010*/   LDG.E R2, desc[UR4][R4.64+UR5] ;'].join('\n'));
    expect(odd[0].undefinedUniformReads.map((r) => r.register)).toEqual(['UR5']);
  });

  test('a branch reads its uniform register, ELECT writes its second operand, and several architectures name each copy', () => {
    const fns = checkSass(
      [
        'arch = sm_80',
        'Function : k',
        '        /*0000*/   BRA.DIV UR4, 0x100 ;',
        'arch = sm_90a',
        'Function : k',
        '        /*0000*/   ELECT P0, UR6, PT ;',
        '        /*0010*/   UMOV UR7, UR6 ;',
      ].join('\n'),
    );
    expect(fns.map((f) => f.name)).toEqual(['k [sm_80]', 'k [sm_90a]']);
    expect(fns[0].undefinedUniformReads.map((r) => r.register)).toEqual(['UR4']);
    expect(fns[1].undefinedUniformReads).toEqual([]);
  });
});
