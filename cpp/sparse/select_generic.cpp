// Portable selection passes (the reference every ISA path must match; see select_kernels.h).
#include "common/cpu.h"
#include "common/dispatch.h"
#include "sparse/select_kernels.h"

namespace pysparse::select_detail {

namespace {

uint32_t max_abs_bits_generic(const float* x, int64_t n) {
    uint32_t m = 0;
    for (int64_t i = 0; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        m = b > m ? b : m;
    }
    return m;
}

uint32_t hist_sum_generic(const float* x, int64_t n, double* sum) {
    uint32_t m = 0;
    for (int64_t i = 0; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        m = b > m ? b : m;
        sum[b >> kBucketShift] += (double)from_bits(b);
    }
    return m;
}

uint32_t hist_count_generic(const float* x, int64_t n, uint32_t* cnt) {
    uint32_t m = 0;
    for (int64_t i = 0; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        m = b > m ? b : m;
        cnt[b >> kBucketShift] += 1;
    }
    return m;
}

int64_t collect_generic(const float* x, int64_t n, uint32_t lo, uint32_t hi, float* out) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; ++i) {
        uint32_t b = abs_bits(x[i]);
        out[k] = from_bits(b);  // branch-free: always write, advance only on a hit (k <= i < n, so in bounds)
        k += (b - lo) <= (hi - lo);
    }
    return k;
}

int64_t emit_ge_generic(const float* x, int64_t n, uint32_t tbits, int32_t* idx) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; ++i) {
        idx[k] = (int32_t)i;
        k += abs_bits(x[i]) >= tbits;
    }
    return k;
}

}  // namespace

constexpr SelectKernels kSelectGeneric = {max_abs_bits_generic, hist_sum_generic, hist_count_generic, collect_generic,
                                      emit_ge_generic};

namespace {
// The family's sets by path (common/dispatch.h).
constexpr PathSets<SelectKernels> kSelectSets = PathSets<SelectKernels>{}
    .with(KernelPath::generic, &kSelectGeneric)
#if defined(PYSPARSE_X86)
    .with(KernelPath::avx2, &kSelectAvx2)
    .with(KernelPath::avx512, &kSelectAvx512)
#endif
#if defined(PYSPARSE_ARM)
    .with(KernelPath::neon, &kSelectNeon)
#endif
    ;
}  // namespace

SelectKernels select_kernels() {
    const Isa isa = active_isa();
    return {select_path(kSelectSets, [](const SelectKernels& k) { return k.max_abs_bits; }, isa),
            select_path(kSelectSets, [](const SelectKernels& k) { return k.hist_sum; }, isa),
            select_path(kSelectSets, [](const SelectKernels& k) { return k.hist_count; }, isa),
            select_path(kSelectSets, [](const SelectKernels& k) { return k.collect; }, isa),
            select_path(kSelectSets, [](const SelectKernels& k) { return k.emit_ge; }, isa)};
}

}  // namespace pysparse::select_detail
