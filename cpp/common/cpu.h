// Instruction-set paths and run-time dispatch.
// x86-64: one build holds generic, AVX2 and AVX-512 kernels; the best one the CPU supports is chosen at run time.
// aarch64: generic and NEON (NEON is baseline on aarch64, so it is chosen at build time).
// PYSPARSE_ISA=generic|avx2|avx512|neon forces a path (tests use it to exercise every path on one machine);
// set_isa() does the same from code.
#pragma once
#include <string>

namespace pysparse {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2, neon = 3 };

const char* isa_name(Isa isa);
Isa isa_from_name(const std::string& name);  // throws ValueError on an unknown name

bool cpu_supports(Isa isa);  // can this CPU (and this build) run the path?
Isa best_isa();              // the fastest path the CPU supports
Isa active_isa();            // the path kernels use now (PYSPARSE_ISA at first use, else best_isa())
void set_isa(Isa isa);       // throws ValueError if !cpu_supports(isa)

}  // namespace pysparse
