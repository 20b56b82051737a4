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
    bool avx512_vnni = false, avx_vnni = false, avx512_vbmi = false;
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
    const bool avx2 = b & (1u << 5), bmi2 = b & (1u << 8);
    const bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30),
               avx512vl = b & (1u << 31);
    const bool avx512vnni = c & (1u << 11), avx512vbmi = c & (1u << 1);
    unsigned a1 = 0, b1, c1, d1;
    if (a >= 1) __cpuid_count(7, 1, a1, b1, c1, d1);  // a = the highest leaf-7 sub-leaf
    const bool avxvnni = a1 & (1u << 4);
    f.fma = fma;
    f.f16c = f16c;
    // Every flag the *_avx2.cpp files are compiled with (-mavx2 -mfma -mf16c -mbmi2), and the *_avx512.cpp ones
    // (-mavx512f -mavx512bw -mavx512vl -mavx512dq on top); the VNNI files add -mavx512vnni, the VBMI files
    // -mavx512vnni -mavx512vbmi (so avx512_vbmi here means both).
    f.avx2 = os_ymm && avx2 && fma && f16c && bmi2;
    f.avx512 = f.avx2 && os_zmm && avx512f && avx512dq && avx512bw && avx512vl;
    f.avx512_vnni = f.avx512 && avx512vnni;
    f.avx512_vbmi = f.avx512_vnni && avx512vbmi;
    f.avx_vnni = f.avx2 && avxvnni;
    return f;
}
}  // namespace
#endif

bool cpu_supports(Isa isa) {
    switch (isa) {
        case Isa::generic: return true;
#if defined(PYSPARSE_X86)
        // The AVX2 kernels also use FMA, F16C and BMI2; the AVX-512 ones use F, BW, VL and DQ.
        case Isa::avx2: {
            static const X86Features f = read_x86_features();
            return f.avx2;
        }
        case Isa::avx512: {
            static const X86Features f = read_x86_features();
#if defined(PYSPARSE_EMULATE_AVX512)
            // Test build (CMake PYSPARSE_EMULATE_AVX512): the *_avx512.cpp files are AVX2 code emulating the AVX-512
            // intrinsics (cpp/tests/avx512_emulation), so the path runs wherever AVX2 does.
            return f.avx2;
#else
            return f.avx512;
#endif
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

const char* feature_name(CpuFeature f) {
    switch (f) {
        case CpuFeature::avx512_vnni: return "avx512_vnni";
        case CpuFeature::avx_vnni: return "avx_vnni";
        case CpuFeature::avx512_vbmi: return "avx512_vbmi";
    }
    return "?";
}

CpuFeature feature_from_name(const std::string& name) {
    if (name == "avx512_vnni") return CpuFeature::avx512_vnni;
    if (name == "avx_vnni") return CpuFeature::avx_vnni;
    if (name == "avx512_vbmi") return CpuFeature::avx512_vbmi;
    throw ValueError("unknown CPU feature '" + name + "' (expected avx512_vnni, avx_vnni or avx512_vbmi)");
}

bool cpu_has_feature(CpuFeature f) {
#if defined(PYSPARSE_X86)
    static const X86Features x = read_x86_features();
    switch (f) {
#if defined(PYSPARSE_EMULATE_AVX512)
        // Test build: the AVX-512 VNNI intrinsics are emulated too (SIMDe), wherever the AVX-512 path runs.
        case CpuFeature::avx512_vnni: return cpu_supports(Isa::avx512);
        case CpuFeature::avx512_vbmi: return cpu_supports(Isa::avx512);
#else
        case CpuFeature::avx512_vnni: return x.avx512_vnni;
        case CpuFeature::avx512_vbmi: return x.avx512_vbmi;
#endif
        case CpuFeature::avx_vnni: return x.avx_vnni;
    }
#endif
    (void)f;
    return false;
}

namespace {
std::atomic<unsigned> g_disabled{0};  // bit f: feature f switched off
std::atomic<bool> g_disabled_read{false};

unsigned disabled_mask() {
    if (!g_disabled_read.load(std::memory_order_acquire)) {
        const char* env = std::getenv("PYSPARSE_NO_VNNI");
        if (env && *env && std::string(env) != "0") g_disabled.fetch_or(3u);
        const char* env_vbmi = std::getenv("PYSPARSE_NO_VBMI");
        if (env_vbmi && *env_vbmi && std::string(env_vbmi) != "0") g_disabled.fetch_or(4u);
        g_disabled_read.store(true, std::memory_order_release);
    }
    return g_disabled.load(std::memory_order_relaxed);
}
}  // namespace

bool feature_enabled(CpuFeature f) {
    return cpu_has_feature(f) && !(disabled_mask() & (1u << static_cast<int>(f)));
}

void set_feature_enabled(CpuFeature f, bool on) {
    if (on && !cpu_has_feature(f))
        throw ValueError(std::string("CPU feature '") + feature_name(f) + "' is not supported by this CPU or build");
    disabled_mask();
    const unsigned bit = 1u << static_cast<int>(f);
    if (on) g_disabled.fetch_and(~bit);
    else g_disabled.fetch_or(bit);
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
