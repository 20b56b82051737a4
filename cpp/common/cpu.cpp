#include "common/cpu.h"

#include <atomic>
#include <cstdlib>

#include "common/error.h"

#if defined(PYSPARSE_X86)
#include <cpuid.h>
#endif

namespace pysparse {

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::generic: return "generic";
        case Isa::avx2: return "avx2";
        case Isa::avx512: return "avx512";
        case Isa::neon: return "neon";
    }
    return "?";
}

Isa isa_from_name(const std::string& name) {
    if (name == "generic") return Isa::generic;
    if (name == "avx2") return Isa::avx2;
    if (name == "avx512") return Isa::avx512;
    if (name == "neon") return Isa::neon;
    throw ValueError("unknown ISA path '" + name + "' (expected generic, avx2, avx512 or neon)");
}

#if defined(PYSPARSE_X86)
namespace {
// Feature bits read from cpuid, plus the OS's consent (XGETBV) to save the wide registers. Read directly rather than
// with __builtin_cpu_supports, whose feature names differ between compilers (clang 14 has no "f16c").
struct X86Features {
    bool avx2 = false, fma = false, f16c = false, avx512 = false;
};

X86Features read_x86_features() {
    X86Features f;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29), avx = c & (1u << 28);
    if (!osxsave || !avx) return f;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    const bool os_ymm = (xcr0_lo & 0x6) == 0x6;     // SSE + AVX state
    const bool os_zmm = (xcr0_lo & 0xe6) == 0xe6;   // + opmask, ZMM_Hi256, Hi16_ZMM
    if (__get_cpuid_max(0, nullptr) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    const bool avx2 = b & (1u << 5);
    const bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30),
               avx512vl = b & (1u << 31);
    f.fma = fma;
    f.f16c = f16c;
    f.avx2 = os_ymm && avx2 && fma && f16c;
    f.avx512 = f.avx2 && os_zmm && avx512f && avx512dq && avx512bw && avx512vl;
    return f;
}
}  // namespace
#endif

bool cpu_supports(Isa isa) {
    switch (isa) {
        case Isa::generic: return true;
#if defined(PYSPARSE_X86)
        // The AVX2 kernels also use FMA and F16C; the AVX-512 ones use F, BW, VL and DQ.
        case Isa::avx2: {
            static const X86Features f = read_x86_features();
            return f.avx2;
        }
        case Isa::avx512: {
            static const X86Features f = read_x86_features();
            return f.avx512;
        }
        case Isa::neon: return false;
#elif defined(PYSPARSE_ARM)
        case Isa::neon: return true;
        default: return false;
#else
        default: return false;
#endif
    }
    return false;
}

Isa best_isa() {
    for (Isa isa : {Isa::avx512, Isa::avx2, Isa::neon})
        if (cpu_supports(isa)) return isa;
    return Isa::generic;
}

namespace {
std::atomic<int> g_active{-1};

Isa initial_isa() {
    if (const char* env = std::getenv("PYSPARSE_ISA")) {
        if (*env) {
            Isa isa = isa_from_name(env);
            if (!cpu_supports(isa))
                throw ValueError(std::string("PYSPARSE_ISA=") + env + " but this CPU or build cannot run that path");
            return isa;
        }
    }
    return best_isa();
}
}  // namespace

Isa active_isa() {
    int v = g_active.load(std::memory_order_relaxed);
    if (v < 0) {
        v = static_cast<int>(initial_isa());
        g_active.store(v, std::memory_order_relaxed);
    }
    return static_cast<Isa>(v);
}

void set_isa(Isa isa) {
    if (!cpu_supports(isa))
        throw ValueError(std::string("ISA path '") + isa_name(isa) + "' is not supported by this CPU or build");
    g_active.store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace pysparse
