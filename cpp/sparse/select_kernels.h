// The per-ISA passes of selection (internal to cpp/sparse/select*.cpp). Each works on the absolute values of a
// float array through their bit patterns: for non-negative floats, a >= b exactly when bits(a) >= bits(b) as
// unsigned integers, so every comparison is an exact integer compare and every path gives the same answer.
// abs bits = bits & 0x7FFFFFFF (-0 becomes +0); an abs bit pattern >= 0x7F800000 is Inf or NaN.
#pragma once
#include <cstdint>
#include <cstring>

namespace pysparse::select_detail {

constexpr int kBucketShift = 20;                      // level-1 bucket = abs bits >> 20: exponent + 3 mantissa bits
constexpr int kNumBuckets = 1 << (31 - kBucketShift);  // 2048
constexpr uint32_t kNonFiniteBits = 0x7F800000u;

inline uint32_t abs_bits(float x) {
    uint32_t b;
    std::memcpy(&b, &x, 4);
    return b & 0x7FFFFFFFu;
}
inline float from_bits(uint32_t b) {
    float x;
    std::memcpy(&x, &b, 4);
    return x;
}

// The selection family's kernel set (the dispatch idiom: common/dispatch.h); nullptr where a path has none.
struct SelectKernels {
    // max over i of abs bits(x_i) (0 for n = 0).
    uint32_t (*max_abs_bits)(const float* x, int64_t n);
    // sum[abs_bits(x_i) >> kBucketShift] += double(|x_i|); returns max abs bits. sum has kNumBuckets entries.
    // The order of additions is free (the top-p fast path is exact for any order, see select.h).
    uint32_t (*hist_sum)(const float* x, int64_t n, double* sum);
    // cnt[abs_bits(x_i) >> kBucketShift] += 1; returns max abs bits.
    uint32_t (*hist_count)(const float* x, int64_t n, uint32_t* cnt);
    // Writes |x_i| for every i with lo <= abs bits <= hi into out (in index order); returns the count. out has room
    // for n (the SIMD paths may write scratch past the count).
    int64_t (*collect)(const float* x, int64_t n, uint32_t lo, uint32_t hi, float* out);
    // Writes every i with abs bits(x_i) >= tbits into idx, ascending; returns the count. idx has room for n (the
    // SIMD paths may write scratch past the count).
    int64_t (*emit_ge)(const float* x, int64_t n, uint32_t tbits, int32_t* idx);
};

extern const SelectKernels kSelectGeneric;
#if defined(PYSPARSE_X86)
extern const SelectKernels kSelectAvx2;
extern const SelectKernels kSelectAvx512;
#endif
#if defined(PYSPARSE_ARM)
extern const SelectKernels kSelectNeon;
#endif

// The kernels select_path picks for active_isa(), each member from the first path on the chain that has it.
SelectKernels select_kernels();

}  // namespace pysparse::select_detail
