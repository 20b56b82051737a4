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

// Optional features a path uses when the CPU has them, inside one ISA path (e.g. the AVX-512 sparse kernels use
// VPDPBUSD when AVX-512 VNNI is present, VPMADDUBSW + VPMADDWD otherwise). Checked at run time like the paths;
// tests switch one off to exercise the fallback on a CPU that has it. PYSPARSE_NO_VNNI=1 disables both VNNI kinds,
// PYSPARSE_NO_VBMI=1 AVX-512 VBMI (the sparse Q6_K kernel's 6-bit decode with VPMULTISHIFTQB).
enum class CpuFeature { avx512_vnni = 0, avx_vnni = 1, avx512_vbmi = 2 };
const char* feature_name(CpuFeature f);
CpuFeature feature_from_name(const std::string& name);  // throws ValueError on an unknown name
bool cpu_has_feature(CpuFeature f);                      // the CPU (and build) has it, enabled or not
bool feature_enabled(CpuFeature f);                      // has it and it is not switched off: kernels ask this
void set_feature_enabled(CpuFeature f, bool on);         // throws ValueError when enabling one the CPU lacks

}  // namespace pysparse
