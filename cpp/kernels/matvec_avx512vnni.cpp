// AVX-512 + VNNI row dot products for the K formats (compiled with the AVX-512 flags and -mavx512vnni; the
// AVX-512 path takes them first when the CPU has AVX-512 VNNI and it is not switched off: kDenseAvx512Vnni at the
// end, common/dispatch.h).
//
// Written for CPUs that run a 512-bit operation as two 256-bit halves (AMD Zen 4): there the win is not the
// register width but fewer operations per weight, and the integer multiplies (vpmaddubsw, vpmaddwd, vpdpbusd,
// vpdpwssd) share one pair of pipes (measured: any mix of them issues one 512-bit operation per cycle). The
// AVX2 kernels spend two multiplies per 32 products (maddubs, madd) plus a shuffle per sub-block scale; here:
//   1. vpdpbusd into a zero register: u8 weights x s8 activations, each int32 lane the sum of 4 products. With
//      4-bit (Q4_K) or 6-bit (Q6_K) weights and |x| <= 127 a lane is at most 4 * 63 * 127 = 32004 in magnitude,
//      so it fits int16 exactly;
//   2. vpackssdw of two such results (exact, no saturation by 1.) and one vpdpwssd with the sub-block scales as
//      int16: the scales of 64 elements cost half a multiply instead of two.
// So 1.5 multiplies per 64 products instead of 4, and the scales are expanded per super-block (two vpermw)
// instead of per sub-block. The integer sums are exact, so the results differ from the AVX2 kernels' only by
// the float summation order (one float FMA per super-block here, as there).
//
// Every kernel is a template over NR rows (rb bytes apart) and NT tokens: NR = NT = 1 is the row dot product,
// NT = 4 the batched matmul's four-token kernel, NR = 4 the matvec's four-row kernel. Each (row, token) runs the
// NR = NT = 1 operations in their order, so every output equals the single-row result bit for bit. Four rows at
// once matter where rows are short (a 1536-wide row is 6 super-blocks): one row's closing horizontal sum, a chain
// of dependent adds, cost about as much as a super-block; four rows share one transposed sum, and their four
// independent streams of work keep the pipes busy where one row's loop-carried FMA would wait.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "common/aligned_bytes.h"
#include "common/simd_avx512.h"
#include "kernels/vec_dot.h"
#include "quant/blocks.h"

namespace pysparse {

namespace {

// The sum over 16 int32 lanes of sc16 (int16 pairs) * the int16 packing of two vpdpbusd results a and b (each
// lane |v| <= 32767, so vpackssdw is exact), added to acc.
inline __m512i scaled_pair(__m512i acc, __m512i a, __m512i b, __m512i sc16) {
    return _mm512_dpwssd_epi32(acc, _mm512_packs_epi32(a, b), sc16);
}

// ---------------------------------------------------------------- Q4_K

// The 12 packed bytes of Q4_K / Q5_K scales (at p; 16 bytes are read, the block continues past them) -> 16 int16
// lanes: scales 0..7, then mins 0..7 (each 6 bits), as get_scale_min_k4 in vec_dot.h, without a branch.
inline __m256i q4k_scales_mins(const uint8_t* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));  // u0 = bytes 0-3, u1 = 4-7, u2 = 8-11
    __m128i a = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));  // u0 u2 u1 u2
    a = _mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4));
    a = _mm_and_si128(a, _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    __m128i h = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));  // 0 u0 0 u1
    h = _mm_and_si128(_mm_srli_epi16(h, 2), _mm_set1_epi8(0x30));  // (top 2 bits) << 4
    return _mm256_cvtepu8_epi16(_mm_or_si128(a, h));
}

// vpermw indices: lanes of the int16 scales for a packed pair of chunk results (see vec_dot_qK_vnni).
alignas(64) const int16_t kQ4KScaleIdx[2][32] = {
    {0, 0, 0, 0, 2, 2, 2, 2, 0, 0, 0, 0, 2, 2, 2, 2, 1, 1, 1, 1, 3, 3, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3},
    {4, 4, 4, 4, 6, 6, 6, 6, 4, 4, 4, 4, 6, 6, 6, 6, 5, 5, 5, 5, 7, 7, 7, 7, 5, 5, 5, 5, 7, 7, 7, 7}};

// Q4_K: chunk c (64 elements = sub-blocks 2c, 2c + 1) is qs[32c .. 32c + 31], low nibbles then high nibbles.
// Broadcast to both halves, the high half shifted by 4, masked: the 64 weights in element order, so x's 64 bytes
// load as they are. vpdpbusd gives R_c: 128-bit lanes 0, 1 hold sub-block 2c, lanes 2, 3 sub-block 2c + 1.
// packs(R_0, R_1) holds, per 128-bit lane, 4 values of sub-block 0 | 2 (lanes 0, 1) or 1 | 3 (lanes 2, 3), which
// one vpdpwssd scales with [sc0 x4, sc2 x4 | sc0, sc2 | sc1, sc3 | sc1, sc3]; packs(R_2, R_3) likewise with 4..7.
// The mins: sum_j m_j (bsum_2j + bsum_2j+1) is one vpmaddwd of the 16 bsums with [m0 m0 m1 m1 .. m7 m7].
//
// Q5_K (BW = block_q5_K) is the same with a fifth bit: element l of sub-block j gets + 16 where bit j of qh[l] is
// set, so chunk c adds 16 where bit 2c (low half) / 2c + 1 (high half) of the broadcast qh is set (one vptestmb,
// one masked add). Its quants are 0..31, so a vpdpbusd lane is at most 4 * 31 * 127 and vpackssdw stays exact.
// The 256 weights of a Q4_K / Q5_K block in element order, as four vectors of 64 (q[c]: chunk c, see above).
template <class BW>
inline void qK_weights(const BW& w, __m512i* q) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    // int16 shift counts: 0 for the lower 256 bits (low nibbles), 4 for the upper (high nibbles). One
    // non-destructive vpsrlvw instead of a register copy plus a merge-masked shift.
    const __m512i nib_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    for (int c = 0; c < 4; ++c) q[c] = _mm512_and_si512(_mm512_srlv_epi16(bcast256(w.qs + 32 * c), nib_shift), m4);
    if constexpr (std::is_same<BW, block_q5_K>::value) {
        const __m512i hb = bcast256(w.qh);
        for (int c = 0; c < 4; ++c) {
            const __m512i bit = join(_mm256_set1_epi8(static_cast<char>(1 << (2 * c))),
                                     _mm256_set1_epi8(static_cast<char>(1 << (2 * c + 1))));
            q[c] = _mm512_mask_add_epi8(q[c], _mm512_test_epi8_mask(hb, bit), q[c], _mm512_set1_epi8(16));
        }
    }
}

template <class BW, int NR, int NT>
void vec_dot_qK_vnni(int64_t n, const void* vw, size_t rb, const block_q8_K* const* xs, float* out) {
    const int64_t nb = n / QK_K;
    const __m512i idx01 = load512(kQ4KScaleIdx[0]), idx23 = load512(kQ4KScaleIdx[1]);
    const __m256i idxm = _mm256_setr_epi16(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    __m512 acc[NR][NT];
    __m256 acc_m[NR][NT];
    for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps(), acc_m[r][t] = _mm256_setzero_ps();
    // Rows one after another (each row's blocks in address order: interleaving the rows block by block broke the
    // hardware prefetcher's streams and ran 2.7x slower from DRAM); unrolled, so that acc stays in registers.
    PYSPARSE_UNROLL
    for (int r = 0; r < NR; ++r) {
        for (int64_t b = 0; b < nb; ++b) {
            const BW& w = reinterpret_cast<const BW*>(static_cast<const uint8_t*>(vw) + r * rb)[b];
            prefetch_ahead(&w, 3);
            const __m256i sm = q4k_scales_mins(w.scales);
            const __m512i s01 = _mm512_permutexvar_epi16(idx01, _mm512_castsi256_si512(sm));
            const __m512i s23 = _mm512_permutexvar_epi16(idx23, _mm512_castsi256_si512(sm));
            const __m256i mins = _mm256_permutexvar_epi16(idxm, sm);
            __m512i q[4];
            qK_weights(w, q);
            // d and dmin are adjacent fp16s: one conversion gives both ({d, dmin, 0, 0}), one multiply scales both
            // by x.d (the same float products as the scalar form, so the same bits)
            const __m128 dmw = _mm_cvtph_ps(_mm_cvtsi32_si128((int)load_u32(reinterpret_cast<const uint8_t*>(&w.d))));
            PYSPARSE_UNROLL
            for (int t = 0; t < NT; ++t) {
                const block_q8_K& x = xs[t][b];
                __m512i rr[4];
                for (int c = 0; c < 4; ++c)
                    rr[c] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[c], load512(x.qs + 64 * c));
                __m512i sumi = scaled_pair(_mm512_setzero_si512(), rr[0], rr[1], s01);
                sumi = scaled_pair(sumi, rr[2], rr[3], s23);
                const __m128 dx = _mm_mul_ps(dmw, _mm_set1_ps(x.d));
                acc[r][t] = _mm512_fmadd_ps(_mm512_broadcastss_ps(dx), _mm512_cvtepi32_ps(sumi), acc[r][t]);
                const __m256i mi = _mm256_madd_epi16(load256(x.bsums), mins);
                acc_m[r][t] = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dx)), _mm256_cvtepi32_ps(mi),
                                              acc_m[r][t]);
            }
        }
    }
    // The mins' sum taken off once the 16 lanes are folded to 8; then the 8-lane tree (four rows at once where
    // there are four: the same additions per row, so the same bits as one row).
    __m256 y[NR * NT];
    for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) y[r * NT + t] = _mm256_sub_ps(fold_f32x16(acc[r][t]), acc_m[r][t]);
    hsum_f32x8_n<NR * NT>(y, out);
}

// ---------------------------------------------------------------- K formats, tokens in the lanes (batched matmul)

// The packed activations of 16 tokens, per super-block (kLanesQ8KBytes, kernels/vec_dot.h): group g (elements
// 4g .. 4g + 3) of token t at (16 g + t) * 4; then the 16 tokens' d as floats; then for each l < 8 the 16 tokens'
// bsum_2l + bsum_2l+1 as floats (exact: |sum| <= 32 * 127; Q4_K / Q5_K's mins); then for each l < 8 the 16 tokens'
// (bsum_2l, bsum_2l+1) as one int32 of two int16 (Q6_K's offset).
constexpr size_t kLaneD = 64 * kLaneTokens * 4;
constexpr size_t kLaneBsumF = kLaneD + kLaneTokens * 4;
constexpr size_t kLaneBsumPairs = kLaneBsumF + 8 * kLaneTokens * 4;
static_assert(kLaneBsumPairs + 8 * kLaneTokens * 4 == kLanesQ8KBytes, "the packed layout fills kLanesQ8KBytes");

void lanes_pack_q8_K(int64_t n, const void* const* xs, void* packed) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t* P = static_cast<uint8_t*>(packed) + b * kLanesQ8KBytes;
        float* d = reinterpret_cast<float*>(P + kLaneD);
        float* bf = reinterpret_cast<float*>(P + kLaneBsumF);
        for (int t = 0; t < kLaneTokens; ++t) {
            const block_q8_K& x = static_cast<const block_q8_K*>(xs[t])[b];
            for (int g = 0; g < 64; ++g) std::memcpy(P + (16 * g + t) * 4, x.qs + 4 * g, 4);
            d[t] = x.d;
            for (int l = 0; l < 8; ++l) bf[l * kLaneTokens + t] = (float)(x.bsums[2 * l] + x.bsums[2 * l + 1]);
            for (int l = 0; l < 8; ++l) std::memcpy(P + kLaneBsumPairs + (l * kLaneTokens + t) * 4, x.bsums + 2 * l, 4);
        }
    }
}

// A 4-byte broadcast kept as a memory-operand VPBROADCASTD / VBROADCASTSS (a load, no shuffle). Written as set1 of a
// load, GCC forwarded the just-stored weights from registers and extracted every dword with shuffles: ~2 more
// port-5 operations per VPDPBUSD, and the kernel ran no faster than the four-token one. (SIMDe emulation builds:
// plain set1, as they must hold no AVX-512 instruction.)
inline __m512i bcast_mem_i32(const void* p) {
#if defined(PYSPARSE_EMULATE_AVX512)
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
#else
    __m512i r;
    __asm__("vpbroadcastd %1, %0" : "=v"(r) : "m"(*static_cast<const uint8_t(*)[4]>(p)));
    return r;
#endif
}
inline __m512 bcast_mem_f32(const float* p) {
#if defined(PYSPARSE_EMULATE_AVX512)
    return _mm512_set1_ps(*p);
#else
    __m512 r;
    __asm__("vbroadcastss %1, %0" : "=v"(r) : "m"(*p));
    return r;
#endif
}

// A lane kernel's float accumulators: kAcc vectors (16 tokens each) per row, zeroed, in a per-thread buffer that
// stays in L1 between super-blocks (16 rows x 24 vectors = 24 KB).
inline __m512* lane_accumulators(int64_t nrows, int kAcc) {
    static thread_local AlignedBytes buf;
    const size_t need = static_cast<size_t>(nrows) * kAcc * sizeof(__m512);
    if (buf.size() < need) buf = AlignedBytes(need);
    __m512* acc = reinterpret_cast<__m512*>(buf.data());
    for (int64_t i = 0; i < nrows * kAcc; ++i) acc[i] = _mm512_setzero_ps();
    return acc;
}

// The matvec's close with the tokens in the lanes (fold_f32x16, the mins taken off where the format has them, then
// hsum_f32x8's tree): y_l = acc_l + acc_l+8 (- acc_16+l with kMins), then ((y0 + y4) + (y2 + y6)) + ((y1 + y5) +
// (y3 + y7)); row r of token t to y[t * ldy + r].
template <bool kMins>
inline void lane_close(const __m512* acc_all, int kAcc, int64_t nrows, float* y, int64_t ldy) {
    for (int64_t r = 0; r < nrows; ++r) {
        const __m512* acc = acc_all + r * kAcc;
        __m512 v[8];
        for (int l = 0; l < 8; ++l) {
            v[l] = _mm512_add_ps(acc[l], acc[l + 8]);
            if constexpr (kMins) v[l] = _mm512_sub_ps(v[l], acc[16 + l]);
        }
        const __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(v[0], v[4]), _mm512_add_ps(v[2], v[6])),
                                       _mm512_add_ps(_mm512_add_ps(v[1], v[5]), _mm512_add_ps(v[3], v[7])));
        alignas(64) float out[kLaneTokens];
        _mm512_store_ps(out, s);
        for (int t = 0; t < kLaneTokens; ++t) y[t * ldy + r] = out[t];
    }
}

// nrows Q4_K or Q5_K rows (rb bytes apart) x 16 packed tokens, y[t * ldy + r], each output bit for bit
// vec_dot_qK_vnni's (NR = NT = 1). There, int32 lane j of a super-block's sumi is, by the vpackssdw / vpdpwssd
// pairing, sc[A] * (the 8 products at elements o1 .. o1 + 7) + sc[A + 4] * (the 8 at o1 + 128 ..), with
// o1 = 16 (j / 4) + 8 (j % 2) + (j % 4 >= 2 ? 64 : 0) and A = o1 / 32; the mins' lane l is m_l (bsum_2l + bsum_2l+1).
// Here each run of 8 products is two VPDPBUSD (4 weights broadcast x 16 tokens), the two runs go to one lane's
// int16 halves (each |run| <= 8 * 15 * 127, Q5_K 8 * 31 * 127) and one VPDPWSSD scales both; every lane then takes
// the matvec's float steps (one FMA per super-block with d * x.d, the mins with dmin * x.d: m_l times the float
// bsum pair is the exact integer as a float) and its closing tree. Super-blocks outer, rows inner: the 16 tokens'
// 5 KB of a super-block stay in L1 while every row runs over them.
template <class BW>
void lanes_qK_vnni(int64_t n, const void* vw, size_t rb, int64_t nrows, const void* packed, float* y, int64_t ldy) {
    const int64_t nb = n / QK_K;
    constexpr int kAcc = 24;  // 16 lanes of sumi, then 8 of the mins
    __m512* acc_all = lane_accumulators(nrows, kAcc);
    const __m512i lo16 = _mm512_set1_epi32(0xFFFF);
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* P = static_cast<const uint8_t*>(packed) + b * kLanesQ8KBytes;
        const __m512 dx = _mm512_loadu_ps(reinterpret_cast<const float*>(P + kLaneD));
        const float* bf = reinterpret_cast<const float*>(P + kLaneBsumF);
        for (int64_t r = 0; r < nrows; ++r) {
            const BW& w = reinterpret_cast<const BW*>(static_cast<const uint8_t*>(vw) + r * rb)[b];
            alignas(64) uint8_t q[QK_K];  // the 256 weights in element order, in memory for broadcasts
            __m512i qv[4];
            qK_weights(w, qv);
            for (int c = 0; c < 4; ++c) _mm512_store_si512(q + 64 * c, qv[c]);
            // sub-block scale pairs (sc_A | sc_A+4 << 16, A < 4) and the mins as floats, in memory for broadcasts
            const __m256i smv = q4k_scales_mins(w.scales);  // scales 0..7, mins 0..7 (int16)
            alignas(16) int32_t scp[4];
            alignas(32) float mf[8];
            const __m128i scv = _mm256_castsi256_si128(smv);
            _mm_store_si128(reinterpret_cast<__m128i*>(scp), _mm_unpacklo_epi16(scv, _mm_srli_si128(scv, 8)));
            _mm256_store_ps(mf, _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm256_extracti128_si256(smv, 1))));
            const __m128 dmw = _mm_cvtph_ps(_mm_cvtsi32_si128((int)load_u32(reinterpret_cast<const uint8_t*>(&w.d))));
            const __m512 dd = _mm512_mul_ps(_mm512_set1_ps(_mm_cvtss_f32(dmw)), dx);
            const __m512 ddm = _mm512_mul_ps(_mm512_set1_ps(_mm_cvtss_f32(_mm_movehdup_ps(dmw))), dx);
            __m512* acc = acc_all + r * kAcc;
            PYSPARSE_UNROLL
            for (int j = 0; j < 16; ++j) {
                const int o1 = 16 * (j / 4) + 8 * (j % 2) + (j % 4 >= 2 ? 64 : 0), A = o1 / 32;
                auto run = [&](int o) {
                    const __m512i r0 =
                        _mm512_dpbusd_epi32(_mm512_setzero_si512(), bcast_mem_i32(q + o), load512(P + o * kLaneTokens));
                    return _mm512_dpbusd_epi32(r0, bcast_mem_i32(q + o + 4), load512(P + (o + 4) * kLaneTokens));
                };
                const __m512i r1 = run(o1), r2 = run(o1 + 128);
                // (r1 & 0xffff) | (r2 << 16): ternary-logic table 0xEC is (a & c) | b
                const __m512i pair = _mm512_ternarylogic_epi32(r1, _mm512_slli_epi32(r2, 16), lo16, 0xEC);
                const __m512i sumi = _mm512_dpwssd_epi32(_mm512_setzero_si512(), pair, bcast_mem_i32(scp + A));
                acc[j] = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(sumi), acc[j]);
            }
            PYSPARSE_UNROLL
            for (int l = 0; l < 8; ++l)
                acc[16 + l] = _mm512_fmadd_ps(
                    ddm, _mm512_mul_ps(_mm512_loadu_ps(bf + l * kLaneTokens), bcast_mem_f32(mf + l)), acc[16 + l]);
        }
    }
    lane_close<true>(acc_all, kAcc, nrows, y, ldy);
}

// ---------------------------------------------------------------- Q6_K

// vpermw indices for half h: 128-bit lane k holds 4 values of sub-block 8h + k, then 4 of sub-block 8h + 4 + k.
alignas(64) const int16_t kQ6KScaleIdx[2][32] = {
    {0, 0, 0, 0, 4, 4, 4, 4, 1, 1, 1, 1, 5, 5, 5, 5, 2, 2, 2, 2, 6, 6, 6, 6, 3, 3, 3, 3, 7, 7, 7, 7},
    {8, 8, 8, 8, 12, 12, 12, 12, 9, 9, 9, 9, 13, 13, 13, 13, 10, 10, 10, 10, 14, 14, 14, 14, 11, 11, 11, 11, 15, 15, 15, 15}};

// Q6_K: per half h (128 elements), ql[64h .. 64h + 63] and qh[32h .. 32h + 31]. Elements 0..31 | 32..63 of the
// half are the low nibbles of ql[0..31] | ql[32..63] with bits 0-1 | 2-3 of qh as bits 4-5; elements 64..95 |
// 96..127 the high nibbles with bits 4-5 | 6-7. So one 64-byte load of ql and qh broadcast to both halves, shifted
// per half, give the 6-bit weights of 64 elements in element order. vpdpbusd with unsigned q (0..63), the -32
// offset taken off at the end as 32 * sum_j sc_j bsum_j (bsums are Q8_K's sums of each 16 x, the Q6_K sub-block
// size). Sub-block = 16 elements = one 128-bit lane of a vpdpbusd result, so packs(R_01, R_23) holds per 128-bit
// lane k sub-blocks 8h + k and 8h + 4 + k.
// The 256 weights of a Q6_K block (0..63) in element order, as four vectors of 64 (q[2h], q[2h + 1]: half h).
inline void q6K_weights(const block_q6_K& w, __m512i* q) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    // qh bits 0-1 | 2-3 to bits 4-5: shift left by 4 | 2; bits 4-5 | 6-7: right by 0 | 2.
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    for (int h = 0; h < 2; ++h) {
        const __m512i l = load512(w.ql + 64 * h);
        const __m512i hb = bcast256(w.qh + 32 * h);
        q[2 * h] = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(_mm512_sllv_epi16(hb, shl), m30));
        q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                       _mm512_and_si512(_mm512_srlv_epi16(hb, shr), m30));
    }
}

template <int NR, int NT>
void vec_dot_q6_K_vnni(int64_t n, const void* vw, size_t rb, const block_q8_K* const* xs, float* out) {
    const int64_t nb = n / QK_K;
    const __m512i idx0 = load512(kQ6KScaleIdx[0]), idx1 = load512(kQ6KScaleIdx[1]);
    __m512 acc[NR][NT];
    for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
    // Rows one after another (each row's blocks in address order: interleaving the rows block by block broke the
    // hardware prefetcher's streams and ran 2.7x slower from DRAM); unrolled, so that acc stays in registers.
    PYSPARSE_UNROLL
    for (int r = 0; r < NR; ++r) {
        for (int64_t b = 0; b < nb; ++b) {
            const block_q6_K& w = reinterpret_cast<const block_q6_K*>(static_cast<const uint8_t*>(vw) + r * rb)[b];
            prefetch_ahead(&w, 4);
            const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales)));
            const __m512i s[2] = {_mm512_permutexvar_epi16(idx0, _mm512_castsi256_si512(sc)),
                                  _mm512_permutexvar_epi16(idx1, _mm512_castsi256_si512(sc))};
            __m512i q[4];
            q6K_weights(w, q);
            const float dw = f16(w.d);
            PYSPARSE_UNROLL
            for (int t = 0; t < NT; ++t) {
                const block_q8_K& x = xs[t][b];
                __m512i sumi = _mm512_setzero_si512();
                for (int h = 0; h < 2; ++h) {
                    const __m512i r01 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[2 * h], load512(x.qs + 128 * h));
                    const __m512i r23 =
                        _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[2 * h + 1], load512(x.qs + 128 * h + 64));
                    sumi = scaled_pair(sumi, r01, r23, s[h]);
                }
                // - 32 sum_j sc_j bsum_j, in the low 8 lanes
                const __m256i off = _mm256_madd_epi16(load256(x.bsums), sc);
                sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(_mm256_slli_epi32(off, 5)));
                acc[r][t] = _mm512_fmadd_ps(_mm512_set1_ps(dw * x.d), _mm512_cvtepi32_ps(sumi), acc[r][t]);
            }
        }
    }
    __m256 y[NR * NT];
    for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) y[r * NT + t] = fold_f32x16(acc[r][t]);
    hsum_f32x8_n<NR * NT>(y, out);
}

// nrows Q6_K rows x 16 packed tokens, each output bit for bit vec_dot_q6_K_vnni's (NR = NT = 1). There, int32 lane
// j of a super-block's sumi is, by the packs / VPDPWSSD pairing, sc[k] * (the 8 products at o1 .. o1 + 7) +
// sc[k + 8] * (the 8 at o1 + 128 ..), o1 = 16 (j / 4) + 8 (j % 2) + (j % 4 >= 2 ? 64 : 0), k = o1 / 16, each 8
// products summed as two lanes of 4 (at most 4 * 63 * 127: 8 would not fit int16); lanes j < 8 then lose
// 32 (bsum_2j sc_2j + bsum_2j+1 sc_2j+1). Here each 4 products is one VPDPBUSD of 4 broadcast weights x 16 tokens,
// the two of a run go to one lane's int16 halves and one VPDPWSSD with (sc, sc) scales them; the offset is one
// VPDPWSSD of the packed bsum pairs with (sc_2j, sc_2j+1). Then the matvec's float FMA per lane and its closing
// tree (lane_close). Loop order and buffers as lanes_qK_vnni.
void lanes_q6_K_vnni(int64_t n, const void* vw, size_t rb, int64_t nrows, const void* packed, float* y, int64_t ldy) {
    const int64_t nb = n / QK_K;
    constexpr int kAcc = 16;
    __m512* acc_all = lane_accumulators(nrows, kAcc);
    const __m512i lo16 = _mm512_set1_epi32(0xFFFF);
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* P = static_cast<const uint8_t*>(packed) + b * kLanesQ8KBytes;
        const __m512 dx = _mm512_loadu_ps(reinterpret_cast<const float*>(P + kLaneD));
        const uint8_t* bp = P + kLaneBsumPairs;
        for (int64_t r = 0; r < nrows; ++r) {
            const block_q6_K& w = reinterpret_cast<const block_q6_K*>(static_cast<const uint8_t*>(vw) + r * rb)[b];
            alignas(64) uint8_t q[QK_K];  // the 6-bit weights (0..63) in element order, in memory for broadcasts
            __m512i qv[4];
            q6K_weights(w, qv);
            for (int c = 0; c < 4; ++c) _mm512_store_si512(q + 64 * c, qv[c]);
            // (sc_k, sc_k) for each k < 16, and (sc_2j, sc_2j+1) for each j < 8, in memory for broadcasts
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales)));
            alignas(64) int32_t scc[16];
            alignas(32) int32_t scp[8];
            // unpacklo / unpackhi: k 0-3, 8-11 | 4-7, 12-15
            const __m256i lo = _mm256_unpacklo_epi16(sc16, sc16), hi = _mm256_unpackhi_epi16(sc16, sc16);
            _mm256_store_si256(reinterpret_cast<__m256i*>(scc), _mm256_permute2x128_si256(lo, hi, 0x20));
            _mm256_store_si256(reinterpret_cast<__m256i*>(scc + 8), _mm256_permute2x128_si256(lo, hi, 0x31));
            _mm256_store_si256(reinterpret_cast<__m256i*>(scp), sc16);
            const __m512 dd = _mm512_mul_ps(_mm512_set1_ps(f16(w.d)), dx);
            __m512* acc = acc_all + r * kAcc;
            PYSPARSE_UNROLL
            for (int j = 0; j < 16; ++j) {
                const int o1 = 16 * (j / 4) + 8 * (j % 2) + (j % 4 >= 2 ? 64 : 0), k = o1 / 16;
                // one run: its two lanes of 4 products as int16 halves, scaled by (sc, sc)
                auto run = [&](__m512i into, int o, int s) {
                    const __m512i ra =
                        _mm512_dpbusd_epi32(_mm512_setzero_si512(), bcast_mem_i32(q + o), load512(P + o * kLaneTokens));
                    const __m512i rb2 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), bcast_mem_i32(q + o + 4),
                                                            load512(P + (o + 4) * kLaneTokens));
                    const __m512i pair = _mm512_ternarylogic_epi32(ra, _mm512_slli_epi32(rb2, 16), lo16, 0xEC);
                    return _mm512_dpwssd_epi32(into, pair, bcast_mem_i32(scc + s));
                };
                __m512i sumi = run(_mm512_setzero_si512(), o1, k);
                sumi = run(sumi, o1 + 128, k + 8);
                if (j < 8) {  // - 32 (bsum_2j sc_2j + bsum_2j+1 sc_2j+1)
                    const __m512i off = _mm512_dpwssd_epi32(_mm512_setzero_si512(), load512(bp + j * kLaneTokens * 4),
                                                            bcast_mem_i32(scp + j));
                    sumi = _mm512_sub_epi32(sumi, _mm512_slli_epi32(off, 5));
                }
                acc[j] = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(sumi), acc[j]);
            }
        }
    }
    lane_close<false>(acc_all, kAcc, nrows, y, ldy);
}

// The row dot product (one row, one token), the four-token kernel (one row) and the four-row kernel (one token):
// one template, so each output is the same float operations in the same order, bit for bit.
template <class BW>
float vec_dot_qK_q8_K_vnni(int64_t n, const void* w, const void* x) {
    const block_q8_K* xs = static_cast<const block_q8_K*>(x);
    float out;
    vec_dot_qK_vnni<BW, 1, 1>(n, w, 0, &xs, &out);
    return out;
}

float vec_dot_q6_K_q8_K_vnni(int64_t n, const void* w, const void* x) {
    const block_q8_K* xs = static_cast<const block_q8_K*>(x);
    float out;
    vec_dot_q6_K_vnni<1, 1>(n, w, 0, &xs, &out);
    return out;
}

template <class BW>
void dot4_qK_vnni(int64_t n, const void* w, const void* const* xs, float* out) {
    vec_dot_qK_vnni<BW, 1, kDot4Tokens>(n, w, 0, reinterpret_cast<const block_q8_K* const*>(xs), out);
}

void dot4_q6_K_vnni(int64_t n, const void* w, const void* const* xs, float* out) {
    vec_dot_q6_K_vnni<1, kDot4Tokens>(n, w, 0, reinterpret_cast<const block_q8_K* const*>(xs), out);
}

template <class BW>
void rows4_qK_vnni(int64_t n, const void* w, size_t rb, const void* x, float* out) {
    const block_q8_K* xs = static_cast<const block_q8_K*>(x);
    vec_dot_qK_vnni<BW, kDotRows, 1>(n, w, rb, &xs, out);
}

void rows4_q6_K_vnni(int64_t n, const void* w, size_t rb, const void* x, float* out) {
    const block_q8_K* xs = static_cast<const block_q8_K*>(x);
    vec_dot_q6_K_vnni<kDotRows, 1>(n, w, rb, &xs, out);
}

}  // namespace

}  // namespace pysparse

// ---------------------------------------------------------------- register-blocked tiles (batched matmul)
// The 32-element formats' tiles with VPDPBUSD: the single-row kernels the walk picks for these types
// are the same as without VNNI, and the integer sums are exact either way, so the outputs are the same bits.
#define PYSPARSE_GEMM_VNNI 1
#include "kernels/gemm_avx512_impl.h"

namespace pysparse {
namespace {

// ---------------------------------------------------------------- Q4_0, Q5_0, Q8_0: four rows

// The 32-element formats' four-row matvec kernel. The single-row kernels the path picks for these types are the
// AVX2 vec_dot_q4_0_q8_0_avx2 / vec_dot_q8_0_q8_0_avx2 (two float accumulators, even and odd blocks) and
// vec_dot_32_avx512<Q5_0T> (one zmm accumulator, block b in the low and b + 1 in the high 256 bits): both are the
// zmm below, whose low half holds the even blocks and high half the odd ones, with one FMA per block pair of
// d_w * d_x (a float product) times the block's exact int32 lane sums (each the sum of 4 consecutive products, as
// vpmaddubsw + vpmaddwd give them), and each finishes with its kernel's horizontal sum. So out[r] is bit for bit
// the single-row result.
//
// These types ran at 40-55% of read bandwidth, compute-bound (the AVX2 kernels spend ~30 256-bit operations per
// block pair). Here, per block pair and row: two 128-bit broadcast loads and one insert put each block's 16 quant
// bytes in two 128-bit lanes, one masked shift and an and make them nibbles, one vpdpbusd starts from the
// activations' offset term (-8 or -16 times the sum of each 4 x), and the two blocks' scales are converted and
// multiplied in one 128-bit register and spread to the halves by one vpermd. Rows run one after another, each over
// its blocks in address order: interleaving the four rows block by block ran 2x slower from DRAM (the hardware
// prefetcher loses the streams). Measured on Zen 4 (1 thread, hot): 1.25x (4096x11008) to 1.5x (8960x1536) the
// AVX2 kernels' speed; what is left is mostly the per-pair scale work (without it a pair costs ~25% less). Q8_0
// (measured on a Sapphire Rapids class Xeon): 1.1-1.16x the AVX2 kernel from DRAM.
// Per format: its block, the offset that makes its quants unsigned, the bits above a nibble (Q5_0), the unsigned
// quant bytes of block pair (b, b + 1) in the step's layout (below), and the single-row kernel's final sum.
//
// The nibble formats: block b's 16 quant bytes in 128-bit lanes 0 and 1, block b + 1's in 2 and 3; lanes 1 and 3
// shifted to their high nibbles.
inline __m512i nibble_pair(const uint8_t* qa, const uint8_t* qb, bool pair) {
    const __m256i lo = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qa)));
    const __m512i q = pair ? join(lo, _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qb))))
                           : _mm512_zextsi256_si512(lo);
    return _mm512_and_si512(_mm512_mask_srli_epi16(q, 0xFF00FF00u, q, 4), _mm512_set1_epi8(0x0F));
}
// Q4_0 / Q4_1: the nibbles of blocks b and b + 1.
template <class BW>
inline __m512i four_bit_pair(const BW* w, int64_t b, bool pair) {
    return nibble_pair(w[b].qs, w[pair ? b + 1 : b].qs, pair);
}
// Q5_0 / Q5_1: the nibbles plus 16 where bit j of qh is set; blocks b (mask bits 0..31) and b + 1 (32..63).
template <class BW>
inline __m512i five_bit_pair(const BW* w, int64_t b, bool pair) {
    const __m512i q = four_bit_pair(w, b, pair);
    const uint64_t lo = load_u32(w[b].qh), hi = pair ? load_u32(w[b + 1].qh) : 0;
    return _mm512_mask_add_epi8(q, static_cast<__mmask64>(lo | hi << 32), q, _mm512_set1_epi8(16));
}
struct Q4_0R {
    using BW = block_q4_0;
    using BX = block_q8_0;
    static constexpr int kOffset = 8;
    static __m512i quants(const BW* w, int64_t b, bool pair) { return four_bit_pair(w, b, pair); }
    static float finish(__m512 acc) { return gemm::finish_avx2_pair(acc); }
};
struct Q5_0R {
    using BW = block_q5_0;
    using BX = block_q8_0;
    static constexpr int kOffset = 16;
    static __m512i quants(const BW* w, int64_t b, bool pair) { return five_bit_pair(w, b, pair); }
    static float finish(__m512 acc) { return gemm::finish_avx512(acc); }
};
// Q8_0: the signed quants as unsigned bytes w ^ 0x80 = w + 128, so the activations' offset term is -128 * sum x.
// The single-row kernel the path picks is the AVX2 (AVX-VNNI) vec_dot_q8_0_q8_0: two accumulators, even and odd
// blocks, the layout of this zmm's halves; its int32 lanes (sums of 4 products |w| * +-x) are these exactly.
struct Q8_0R {
    using BW = block_q8_0;
    using BX = block_q8_0;
    static constexpr int kOffset = 128;
    static __m512i quants(const BW* w, int64_t b, bool pair) {
        const __m256i lo = load256(w[b].qs);
        const __m512i q = pair ? join(lo, load256(w[b + 1].qs)) : _mm512_zextsi256_si512(lo);
        return _mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80)));
    }
    static float finish(__m512 acc) { return gemm::finish_avx2_pair(acc); }
};
// The formats with a min (w = d * q + m; x as Q8_1, whose s = d_x * sum q_x): no offset, and each row also sums
// m * s per block in float, in the order of the single-row kernel the path picks (`Mins`, `add_mins`, `finish`).
// Q4_1: the AVX2 vec_dot_q4_1_q8_1 (sum_blocks2): even blocks' terms in m0, odd ones' in m1, then
// hsum(a0 + a1) + (m0 + m1); its two float accumulators are this zmm's halves as for Q4_0.
struct Q4_1R {
    using BW = block_q4_1;
    using BX = block_q8_1;
    static constexpr int kOffset = 0;
    struct Mins {
        float m0 = 0.0f, m1 = 0.0f;
    };
    static __m512i quants(const BW* w, int64_t b, bool pair) { return four_bit_pair(w, b, pair); }
    static void add_mins(Mins& s, const BW* w, const BX* x, int64_t b, bool pair) {
        s.m0 += f16(w[b].m) * x[b].s;
        if (pair) s.m1 += f16(w[b + 1].m) * x[b + 1].s;
    }
    static float finish(__m512 acc, const Mins& s) { return gemm::finish_avx2_pair(acc, s.m0 + s.m1); }
};
// Q5_1: matvec_avx512.cpp's vec_dot_32_avx512<Q5_1T>: summs += (m_b s_b + m_b+1 s_b+1) per pair (the odd last
// block's alone), then reduce_add(acc) + summs.
struct Q5_1R {
    using BW = block_q5_1;
    using BX = block_q8_1;
    static constexpr int kOffset = 0;
    struct Mins {
        float summs = 0.0f;
    };
    static __m512i quants(const BW* w, int64_t b, bool pair) { return five_bit_pair(w, b, pair); }
    static void add_mins(Mins& s, const BW* w, const BX* x, int64_t b, bool pair) {
        if (pair) s.summs += f16(w[b].m) * x[b].s + f16(w[b + 1].m) * x[b + 1].s;
        else s.summs += f16(w[b].m) * x[b].s;
    }
    static float finish(__m512 acc, const Mins& s) { return gemm::finish_avx512(acc, s.summs); }
};
// A format's per-row min state (F::Mins), or nothing for the formats without a min.
template <class F, class = void>
struct MinsOf {
    static constexpr bool has = false;
    struct type {};
};
template <class F>
struct MinsOf<F, std::void_t<typename F::Mins>> {
    static constexpr bool has = true;
    using type = typename F::Mins;
};

// The fp16 scales of two blocks (the first 2 bytes of each) -> a 128-bit register {d_a, d_b, ?, ?} of floats
// (exact conversions; lanes 2 and 3 are whatever the blocks' next bytes give and are never used). Two 16-byte
// loads and an unpack instead of two scalar loads, a shift, an or and a move.
template <class B>
inline __m128 two_scales(const B& a, const B& b) {
    static_assert(sizeof(B) >= 16, "a 16-byte load stays inside the block");
    const __m128i va = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&a));
    const __m128i vb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&b));
    return _mm_cvtph_ps(_mm_unpacklo_epi16(va, vb));
}
// The odd last block's: {d_a, 0, 0, 0}.
inline __m128 one_scale(const fp16_t& a) { return _mm_cvtph_ps(_mm_cvtsi32_si128(gemm::fp16_bits(a))); }

// The activations' side of block pair (b, b + 1) (or of the odd last block b and zeros) that the rows share: the
// offset term -offset * (the sum of each 4 bytes) as int32, and {d_x[b], d_x[b + 1], ?, ?}. The bytes themselves
// are loaded by each row from the activations (two loads, no arithmetic).
struct XPair32 {
    __m512i off;
    __m128 d;
};
template <class BX>
inline __m512i x_bytes(const BX* x, int64_t b, bool pair) {
    const __m256i lo = load256(x[b].qs);
    return pair ? join(lo, load256(x[b + 1].qs)) : _mm512_zextsi256_si512(lo);
}
// x's scales: fp16 in Q8_0, float in Q8_1.
inline __m128 x_scales(const block_q8_0* x, int64_t b, bool pair) {
    return pair ? two_scales(x[b], x[b + 1]) : one_scale(x[b].d);
}
inline __m128 x_scales(const block_q8_1* x, int64_t b, bool pair) {
    return _mm_setr_ps(x[b].d, pair ? x[b + 1].d : 0.0f, 0.0f, 0.0f);
}
template <class F>
inline XPair32 x_pair(const typename F::BX* x, int64_t b, bool pair) {
    XPair32 p;
    if constexpr (F::kOffset == 0) {
        p.off = _mm512_setzero_si512();
    } else {
        const __m512i offset = _mm512_set1_epi8(static_cast<char>(F::kOffset));
        p.off = _mm512_sub_epi32(_mm512_setzero_si512(),
                                 _mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, x_bytes(x, b, pair)));
    }
    p.d = x_scales(x, b, pair);
    return p;
}

// Rows with at most kBufferedPairs block pairs (2048 elements) take the shared activations' side from a buffer
// made once for the four rows (8 KiB at most: it stays in L1 beside the weights); longer rows recompute it per
// row (5 operations a pair): with the buffer an 11008-wide row ran 2.1x slower, hot or from DRAM (its 22 KiB and
// four rows of weights overflow L1 and its misses queue behind the weights').
constexpr int64_t kBufferedPairs = 64;

template <class F, bool kBuffered>
void rows4_32_vnni(int64_t n, const void* vw, size_t rb, const void* vx, float* out) {
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const auto* x = static_cast<const typename F::BX*>(vx);
    const int64_t nb = n / 32, npairs = (nb + 1) / 2;  // the last pair of an odd nb is block nb - 1 and zeros
    XPair32 buf[kBuffered ? kBufferedPairs : 1];
    if (kBuffered)
        for (int64_t i = 0; i < npairs; ++i) buf[i] = x_pair<F>(x, 2 * i, 2 * i + 1 < nb);
    __m512 acc[kDotRows];
    PYSPARSE_UNROLL
    for (int r = 0; r < kDotRows; ++r) {
        const auto* w = reinterpret_cast<const typename F::BW*>(static_cast<const uint8_t*>(vw) + r * rb);
        acc[r] = _mm512_setzero_ps();
        [[maybe_unused]] typename MinsOf<F>::type mins{};
        auto step = [&](int64_t i, bool pair) {
            const int64_t b = 2 * i;
            prefetch_ahead(&w[b], 2 * sizeof(typename F::BW) > 64 ? 2 : 1);
            const XPair32 xp = kBuffered ? buf[i] : x_pair<F>(x, b, pair);
            __m512i q = F::quants(w, b, pair);
            if (!pair) q = _mm512_zextsi256_si512(_mm512_castsi512_si256(q));
            const __m128 d = _mm_mul_ps(pair ? two_scales(w[b], w[b + 1]) : one_scale(w[b].d), xp.d);
            const __m512 d16 = _mm512_castsi512_ps(
                _mm512_permutexvar_epi32(spread, _mm512_zextsi256_si512(_mm256_castsi128_si256(_mm_castps_si128(d)))));
            const __m512i sums = _mm512_dpbusd_epi32(xp.off, q, x_bytes(x, b, pair));
            acc[r] = _mm512_fmadd_ps(d16, _mm512_cvtepi32_ps(sums), acc[r]);
            if constexpr (MinsOf<F>::has) F::add_mins(mins, w, x, b, pair);
        };
        // Full pairs, then the odd last block with zeros: two loops, so the first has no branch.
        for (int64_t i = 0; i < nb / 2; ++i) step(i, true);
        if (nb % 2) step(nb / 2, false);
        if constexpr (MinsOf<F>::has) out[r] = F::finish(acc[r], mins);
        else out[r] = F::finish(acc[r]);
    }
}

template <class F>
void rows4_32(int64_t n, const void* w, size_t rb, const void* x, float* out) {
    if ((n / 32 + 1) / 2 <= kBufferedPairs)
        rows4_32_vnni<F, true>(n, w, rb, x, out);
    else
        rows4_32_vnni<F, false>(n, w, rb, x, out);
}

void rows4_q4_0_vnni(int64_t n, const void* w, size_t rb, const void* x, float* out) { rows4_32<Q4_0R>(n, w, rb, x, out); }
void rows4_q5_0_vnni(int64_t n, const void* w, size_t rb, const void* x, float* out) { rows4_32<Q5_0R>(n, w, rb, x, out); }
void rows4_q8_0_vnni(int64_t n, const void* w, size_t rb, const void* x, float* out) { rows4_32<Q8_0R>(n, w, rb, x, out); }
void rows4_q4_1_vnni(int64_t n, const void* w, size_t rb, const void* x, float* out) {
    rows4_32<Q4_1R>(n, w, rb, x, out);
}
void rows4_q5_1_vnni(int64_t n, const void* w, size_t rb, const void* x, float* out) {
    rows4_32<Q5_1R>(n, w, rb, x, out);
}

}  // namespace
}  // namespace pysparse

namespace pysparse {

// The K formats above (Q4_K, Q5_K, Q6_K) with their four-token and four-row kernels, the four-row kernels of the
// 32-element formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), and the VPDPBUSD tiles; everything else falls back to
// kDenseAvx512 (then kDenseAvx2).
constexpr DenseKernels kDenseAvx512Vnni = {
    TypeKernels<vec_dot_fn>{}
        .with(GGMLType::Q4_K, vec_dot_qK_q8_K_vnni<block_q4_K>)
        .with(GGMLType::Q5_K, vec_dot_qK_q8_K_vnni<block_q5_K>)
        .with(GGMLType::Q6_K, vec_dot_q6_K_q8_K_vnni),
    TypeKernels<vec_dot4_fn>{}
        .with(GGMLType::Q4_K, dot4_qK_vnni<block_q4_K>)
        .with(GGMLType::Q5_K, dot4_qK_vnni<block_q5_K>)
        .with(GGMLType::Q6_K, dot4_q6_K_vnni),
    TypeKernels<gemm_tile_fn>{}
        .with(GGMLType::Q8_0, gemm::gemm_32_4x4_avx512<gemm::Q8_0F>)
        .with(GGMLType::Q4_0, gemm::gemm_32_4x4_avx512<gemm::Q4_0F>)
        .with(GGMLType::Q5_0, gemm::gemm_32_4x4_avx512<gemm::Q5_0F>),
    TypeKernels<vec_dot_rows_fn>{}
        .with(GGMLType::Q4_K, rows4_qK_vnni<block_q4_K>)
        .with(GGMLType::Q5_K, rows4_qK_vnni<block_q5_K>)
        .with(GGMLType::Q6_K, rows4_q6_K_vnni)
        .with(GGMLType::Q4_0, rows4_q4_0_vnni)
        .with(GGMLType::Q5_0, rows4_q5_0_vnni)
        .with(GGMLType::Q8_0, rows4_q8_0_vnni)
        .with(GGMLType::Q4_1, rows4_q4_1_vnni)
        .with(GGMLType::Q5_1, rows4_q5_1_vnni),
    TypeKernels<lanes_gemm_fn>{}
        .with(GGMLType::Q4_K, lanes_qK_vnni<block_q4_K>)
        .with(GGMLType::Q5_K, lanes_qK_vnni<block_q5_K>)
        .with(GGMLType::Q6_K, lanes_q6_K_vnni),
    lanes_pack_q8_K,
};

}  // namespace pysparse
