// native/cuda/w4a16_knobs.h: the W4A16 plan's timing switches (cuda/w4a16_plan.cuh), in a header of
// their own so tests can set them without including the kernels.
#pragma once
#include <cstdlib>
#include <cstring>

namespace sparq::w4a16 {

// Two switches a GPU session times, not options: slabs of at most 8 tokens with W as the mma's A
// operand (SPARQ_W4A16_W_AS_A=0: the plain form), and the persistent grid's CTAs per SM
// (SPARQ_W4A16_CTAS_PER_SM, 1..4: two resident CTAs are 16 warps and twice the bytes in flight; the
// kernel is correct for any grid, and its M_BLOCKS = 1 instances fit two per SM — launch bounds).
// Read once per process (getenv on a stream worker could race a setenv on the JS thread); tests
// set them through TimingKnobs() between calls.
struct W4a16Knobs {
  bool w_as_a = true;
  int ctas_per_sm = 1;
};
inline W4a16Knobs& TimingKnobs() {
  static W4a16Knobs knobs = [] {
    W4a16Knobs k;
    const char* form = std::getenv("SPARQ_W4A16_W_AS_A");
    k.w_as_a = form == nullptr || std::strcmp(form, "0") != 0;
    const char* ctas = std::getenv("SPARQ_W4A16_CTAS_PER_SM");
    const int v = ctas == nullptr ? 1 : std::atoi(ctas);
    k.ctas_per_sm = v >= 1 && v <= 4 ? v : 1;
    return k;
  }();
  return knobs;
}

}  // namespace sparq::w4a16
