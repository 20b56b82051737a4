#include "common/cpu.h"

#include <atomic>
#include <cstdlib>

#include "common/error.h"

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

bool cpu_supports(Isa isa) {
    switch (isa) {
        case Isa::generic: return true;
#if defined(PYSPARSE_X86)
        // The AVX2 kernels also use FMA and F16C; the AVX-512 ones use F, BW, VL and DQ.
        case Isa::avx2:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                   __builtin_cpu_supports("f16c");
        case Isa::avx512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                   __builtin_cpu_supports("f16c");
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
