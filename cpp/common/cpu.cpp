#include "common/cpu.h"

#include <atomic>
#include <cstdlib>

#include "common/error.h"

#if defined(PYSPARSE_X86)
#include <cpuid.h>
#elif defined(PYSPARSE_ARM) && defined(__linux__)
#include <sys/auxv.h>
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

CpuFeatures detect_cpu_features() {
    CpuFeatures f;
#if defined(PYSPARSE_X86)
    // Read directly rather than with __builtin_cpu_supports, whose feature names differ between compilers (clang 14
    // has no "f16c").
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = c & (1u << 27), avx = c & (1u << 28);
    f.fma = c & (1u << 12);
    f.f16c = c & (1u << 29);
    if (!osxsave || !avx) return f;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    f.os_ymm = (xcr0_lo & 0x6) == 0x6;     // SSE + AVX state
    f.os_zmm = (xcr0_lo & 0xe6) == 0xe6;   // + opmask, ZMM_Hi256, Hi16_ZMM
    if (__get_cpuid_max(0, nullptr) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = b & (1u << 5);
    f.bmi2 = b & (1u << 8);
    f.avx512f = b & (1u << 16);
    f.avx512dq = b & (1u << 17);
    f.avx512bw = b & (1u << 30);
    f.avx512vl = b & (1u << 31);
    f.avx512vnni = c & (1u << 11);
    unsigned a1 = 0, b1, c1, d1;
    if (a >= 1) __cpuid_count(7, 1, a1, b1, c1, d1);  // a = the highest leaf-7 sub-leaf
    f.avx_vnni = a1 & (1u << 4);
#elif defined(PYSPARSE_ARM)
    f.neon = true;  // baseline on aarch64
#if defined(__linux__)
    f.dotprod = getauxval(AT_HWCAP) & (1ul << 20);  // HWCAP_ASIMDDP
#else
    f.dotprod = kNeonNeedsDotprod;  // no portable query: trust the build's target
#endif
#endif
    return f;
}

PathSupport path_support(const CpuFeatures& f, bool neon_needs_dotprod) {
    PathSupport p;
    p.avx2 = f.os_ymm && f.avx2 && f.fma && f.f16c && f.bmi2;
    p.avx512 = p.avx2 && f.os_zmm && f.avx512f && f.avx512dq && f.avx512bw && f.avx512vl;
    p.avx512_vnni = p.avx512 && f.avx512vnni;
    p.avx_vnni = p.avx2 && f.avx_vnni;
    p.neon = f.neon && (f.dotprod || !neon_needs_dotprod);
    p.neon_dotprod = p.neon && f.dotprod;
    return p;
}

Isa best_isa(const PathSupport& p) {
    return p.avx512 ? Isa::avx512 : p.avx2 ? Isa::avx2 : p.neon ? Isa::neon : Isa::generic;
}

namespace {
// This CPU's paths, with the build's own limits: a path this build has no files for is never supported.
PathSupport this_cpu() {
    static const PathSupport p = [] {
        PathSupport s = path_support(detect_cpu_features());
#if !defined(PYSPARSE_X86)
        s.avx2 = s.avx512 = s.avx512_vnni = s.avx_vnni = false;
#elif defined(PYSPARSE_EMULATE_AVX512)
        // Test build (CMake PYSPARSE_EMULATE_AVX512): the *_avx512*.cpp and *_avxvnni.cpp files are AVX2 code
        // emulating the AVX-512 and AVX-VNNI intrinsics (cpp/tests/avx512_emulation), so they run wherever AVX2 does.
        s.avx512 = s.avx512_vnni = s.avx_vnni = s.avx2;
#endif
#if !defined(PYSPARSE_ARM)
        s.neon = s.neon_dotprod = false;
#endif
        return s;
    }();
    return p;
}
}  // namespace

bool cpu_supports(Isa isa) {
    switch (isa) {
        case Isa::generic: return true;
        case Isa::avx2: return this_cpu().avx2;
        case Isa::avx512: return this_cpu().avx512;
        case Isa::neon: return this_cpu().neon;
    }
    return false;
}

const char* feature_name(CpuFeature f) {
    switch (f) {
        case CpuFeature::avx512_vnni: return "avx512_vnni";
        case CpuFeature::avx_vnni: return "avx_vnni";
        case CpuFeature::dotprod: return "dotprod";
    }
    return "?";
}

CpuFeature feature_from_name(const std::string& name) {
    if (name == "avx512_vnni") return CpuFeature::avx512_vnni;
    if (name == "avx_vnni") return CpuFeature::avx_vnni;
    if (name == "dotprod") return CpuFeature::dotprod;
    throw ValueError("unknown CPU feature '" + name + "' (expected avx512_vnni, avx_vnni or dotprod)");
}

bool cpu_has_feature(CpuFeature f) {
    switch (f) {
        case CpuFeature::avx512_vnni: return this_cpu().avx512_vnni;
        case CpuFeature::avx_vnni: return this_cpu().avx_vnni;
        case CpuFeature::dotprod: return this_cpu().neon_dotprod;
    }
    return false;
}

namespace {
std::atomic<unsigned> g_disabled{0};  // bit f: feature f switched off
std::atomic<bool> g_disabled_read{false};

unsigned disabled_mask() {
    if (!g_disabled_read.load(std::memory_order_acquire)) {
        const char* env = std::getenv("PYSPARSE_NO_VNNI");
        auto bit = [](CpuFeature f) { return 1u << static_cast<int>(f); };
        if (env && *env && std::string(env) != "0")
            g_disabled.fetch_or(bit(CpuFeature::avx512_vnni) | bit(CpuFeature::avx_vnni));
        const char* env_dp = std::getenv("PYSPARSE_NO_DOTPROD");
        if (env_dp && *env_dp && std::string(env_dp) != "0") g_disabled.fetch_or(bit(CpuFeature::dotprod));
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

Isa best_isa() { return best_isa(this_cpu()); }

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
