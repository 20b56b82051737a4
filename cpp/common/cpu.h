// Instruction-set paths and run-time dispatch.
// x86-64: one build holds generic, AVX2 and AVX-512 kernels; the best one the CPU supports is chosen at run time.
// aarch64: generic and NEON (NEON is baseline on aarch64), and inside NEON the dotprod files (SDOT) where the CPU
// has them (HWCAP_ASIMDDP), chosen at run time like the x86 paths.
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
// PYSPARSE_NO_DOTPROD=1 the aarch64 dotprod files (*_neondot.cpp, built with -march=armv8.2-a+dotprod).
enum class CpuFeature { avx512_vnni = 0, avx_vnni = 1, dotprod = 2 };
const char* feature_name(CpuFeature f);
CpuFeature feature_from_name(const std::string& name);  // throws ValueError on an unknown name
bool cpu_has_feature(CpuFeature f);                      // the CPU (and build) has it, enabled or not
bool feature_enabled(CpuFeature f);                      // has it and it is not switched off: kernels ask this
void set_feature_enabled(CpuFeature f, bool on);         // throws ValueError when enabling one the CPU lacks

// Path selection, split from detection so the rules can be tested with made-up feature sets (test_common.cpp).
// CpuFeatures: what the CPU (x86: cpuid, and XGETBV for the OS saving the wide registers; aarch64: HWCAP) reports.
struct CpuFeatures {
    bool os_ymm = false, os_zmm = false;  // the OS saves the AVX (ymm) / AVX-512 (zmm, opmask) state
    bool avx2 = false, fma = false, f16c = false, bmi2 = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
    bool avx512vnni = false, avx_vnni = false;
    bool neon = false, dotprod = false;  // aarch64: Advanced SIMD, and SDOT/UDOT (armv8.2-a dotprod)
};
CpuFeatures detect_cpu_features();  // this CPU (all false on a CPU family this build has no paths for)

// Which paths and in-path features a CPU with features f can run. A path needs every flag its files are compiled
// with (CMakeLists.txt PYSPARSE_ISA_FLAGS_*): *_avx2.cpp -mavx2 -mfma -mf16c -mbmi2; *_avx512.cpp those plus
// -mavx512f -mavx512bw -mavx512vl -mavx512dq; *_avx512vnni.cpp plus -mavx512vnni; *_avxvnni.cpp the AVX2 flags
// plus -mavxvnni.
// NEON is baseline on aarch64, but a build compiled for dotprod as a whole (-march=armv8.2-a+dotprod: every NEON
// file then uses SDOT) needs the CPU to have it: neon_needs_dotprod says whether this build was. *_neondot.cpp
// files are always built for dotprod and chosen only where the CPU has it (neon_dotprod).
struct PathSupport {
    bool avx2 = false, avx512 = false, avx512_vnni = false, avx_vnni = false, neon = false;
    bool neon_dotprod = false;
};
#if defined(__ARM_FEATURE_DOTPROD)
constexpr bool kNeonNeedsDotprod = true;
#else
constexpr bool kNeonNeedsDotprod = false;
#endif
PathSupport path_support(const CpuFeatures& f, bool neon_needs_dotprod = kNeonNeedsDotprod);
Isa best_isa(const PathSupport& p);  // the fastest path p allows

}  // namespace pysparse
