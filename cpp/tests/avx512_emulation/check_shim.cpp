// Checks every AVX-512 intrinsic the *_avx512.cpp kernels use (and the AVX-VNNI ones of *_avxvnni.cpp), as the emulated build resolves it (SIMDe 0.7.4 or
// simde_shim.h), against a scalar model of its semantics in the Intel Intrinsics Guide, on random inputs with the
// edge values (0x80, 0x7f, 0xff, shift counts >= the lane width) mixed in. Built with the shim by CMake when
// PYSPARSE_EMULATE_AVX512 is on and run by cpp/tests/run_avx512_emulated.sh: a wrong emulation would make the
// kernel tests pass or fail for the wrong reason. Exit status 1 on any mismatch.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>

#include "quant/blocks.h"  // fp16_to_fp32: the exact half decoder, independent of F16C

namespace {

std::mt19937_64 rng(12345);
int g_bad = 0, g_checked = 0;

template <class T, int N>
struct Lanes {
    T v[N];
    T& operator[](int i) { return v[i]; }
    const T& operator[](int i) const { return v[i]; }
    bool operator==(const Lanes& o) const { return std::memcmp(v, o.v, sizeof(v)) == 0; }
};
template <class T, int N, class V>
Lanes<T, N> lanes(const V& x) {
    static_assert(sizeof(V) == sizeof(T) * N, "size");
    Lanes<T, N> l;
    std::memcpy(l.v, &x, sizeof(V));
    return l;
}
template <class V, class T, int N>
V vec(const Lanes<T, N>& l) {
    static_assert(sizeof(V) == sizeof(T) * N, "size");
    V x;
    std::memcpy(&x, l.v, sizeof(V));
    return x;
}

// Random bytes, one in eight replaced by an edge value.
template <class T, int N>
Lanes<T, N> rand_int() {
    Lanes<T, N> l;
    uint8_t* b = reinterpret_cast<uint8_t*>(l.v);
    static const uint8_t edge[] = {0x00, 0x7f, 0x80, 0xff, 0x01, 0x0f, 0x10, 0x20};
    for (size_t i = 0; i < sizeof(l.v); ++i) b[i] = (rng() & 7) ? (uint8_t)rng() : edge[rng() % 8];
    return l;
}
template <class T, int N>
Lanes<T, N> rand_float() {
    std::normal_distribution<double> nd(0.0, 100.0);
    Lanes<T, N> l;
    for (int i = 0; i < N; ++i) l[i] = (T)nd(rng);
    return l;
}

void report(const char* name, bool ok) {
    ++g_checked;
    static const char* last = nullptr;
    if (!ok) {
        ++g_bad;
        if (last != name) std::printf("MISMATCH %s\n", name);
        last = name;
    }
}

constexpr int kTrials = 300;

int16_t sat16(int32_t v) { return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v); }

void check_integer() {
    for (int t = 0; t < kTrials; ++t) {
        auto a8 = rand_int<int8_t, 64>(), b8 = rand_int<int8_t, 64>(), s8 = rand_int<int8_t, 64>();
        auto a16 = rand_int<int16_t, 32>(), b16 = rand_int<int16_t, 32>();
        auto a32 = rand_int<int32_t, 16>(), b32 = rand_int<int32_t, 16>();
        auto ua32 = lanes<uint32_t, 16>(vec<__m512i>(a32)), ub32 = lanes<uint32_t, 16>(vec<__m512i>(b32));
        const __m512i A8 = vec<__m512i>(a8), B8 = vec<__m512i>(b8), S8 = vec<__m512i>(s8);
        const __m512i A16 = vec<__m512i>(a16), B16 = vec<__m512i>(b16), A32 = vec<__m512i>(a32), B32 = vec<__m512i>(b32);
        const uint64_t k64 = rng();
        const uint32_t k32 = (uint32_t)rng();
        Lanes<int8_t, 64> e8;
        Lanes<int16_t, 32> e16;
        Lanes<int32_t, 16> e32;
        Lanes<uint32_t, 16> eu32;

        for (int i = 0; i < 64; ++i) e8[i] = (int8_t)(uint8_t)(a8[i] < 0 ? -(int)a8[i] : a8[i]);
        report("_mm512_abs_epi8", lanes<int8_t, 64>(_mm512_abs_epi8(A8)) == e8);
        for (int i = 0; i < 16; ++i) e32[i] = (int32_t)((uint32_t)a32[i] + (uint32_t)b32[i]);
        report("_mm512_add_epi32", lanes<int32_t, 16>(_mm512_add_epi32(A32, B32)) == e32);
        for (int i = 0; i < 16; ++i) e32[i] = (int32_t)((uint32_t)a32[i] - (uint32_t)b32[i]);
        report("_mm512_sub_epi32", lanes<int32_t, 16>(_mm512_sub_epi32(A32, B32)) == e32);
        for (int i = 0; i < 32; ++i) e16[i] = (int16_t)(uint16_t)((uint16_t)a16[i] - (uint16_t)b16[i]);
        report("_mm512_sub_epi16", lanes<int16_t, 32>(_mm512_sub_epi16(A16, B16)) == e16);
        for (int i = 0; i < 16; ++i) e32[i] = a32[i] & b32[i];
        report("_mm512_and_si512", lanes<int32_t, 16>(_mm512_and_si512(A32, B32)) == e32);
        for (int i = 0; i < 16; ++i) e32[i] = a32[i] | b32[i];
        report("_mm512_or_si512", lanes<int32_t, 16>(_mm512_or_si512(A32, B32)) == e32);

        auto b32e = b32;  // equal lanes where i % 3 == 0
        for (int i = 0; i < 16; i += 3) b32e[i] = a32[i];
        const __m512i B32E = vec<__m512i>(b32e);
        uint16_t m = 0;
        for (int i = 0; i < 16; ++i) m |= (uint16_t)((a32[i] == b32e[i]) << i);
        report("_mm512_cmpeq_epi32_mask", (uint16_t)_mm512_cmpeq_epi32_mask(A32, B32E) == m);
        m = 0;
        for (int i = 0; i < 16; ++i) m |= (uint16_t)(((uint32_t)a32[i] >= (uint32_t)b32e[i]) << i);
        report("_mm512_cmpge_epu32_mask", (uint16_t)_mm512_cmpge_epu32_mask(A32, B32E) == m);
        m = 0;
        for (int i = 0; i < 16; ++i) m |= (uint16_t)(((uint32_t)a32[i] <= (uint32_t)b32e[i]) << i);
        report("_mm512_cmple_epu32_mask", (uint16_t)_mm512_cmple_epu32_mask(A32, B32E) == m);

        for (int i = 0; i < 16; ++i) eu32[i] = ua32[i] > ub32[i] ? ua32[i] : ub32[i];
        report("_mm512_max_epu32", lanes<uint32_t, 16>(_mm512_max_epu32(A32, B32)) == eu32);
        uint32_t mx = 0;
        for (int i = 0; i < 16; ++i) mx = ua32[i] > mx ? ua32[i] : mx;
        report("_mm512_reduce_max_epu32", (uint32_t)_mm512_reduce_max_epu32(A32) == mx);

        for (int i = 0; i < 16; ++i)
            e32[i] = (int32_t)(uint32_t)((int64_t)a16[2 * i] * b16[2 * i] + (int64_t)a16[2 * i + 1] * b16[2 * i + 1]);
        report("_mm512_madd_epi16", lanes<int32_t, 16>(_mm512_madd_epi16(A16, B16)) == e32);
        for (int i = 0; i < 32; ++i)
            e16[i] = sat16((uint8_t)a8[2 * i] * b8[2 * i] + (uint8_t)a8[2 * i + 1] * b8[2 * i + 1]);
        report("_mm512_maddubs_epi16", lanes<int16_t, 32>(_mm512_maddubs_epi16(A8, B8)) == e16);

        for (int i = 0; i < 64; ++i) e8[i] = ((k64 >> i) & 1) ? (int8_t)(uint8_t)((uint8_t)a8[i] + (uint8_t)b8[i]) : s8[i];
        report("_mm512_mask_add_epi8", lanes<int8_t, 64>(_mm512_mask_add_epi8(S8, k64, A8, B8)) == e8);
        for (int i = 0; i < 64; ++i) e8[i] = ((k64 >> i) & 1) ? (int8_t)(uint8_t)((uint8_t)a8[i] - (uint8_t)b8[i]) : s8[i];
        report("_mm512_mask_sub_epi8", lanes<int8_t, 64>(_mm512_mask_sub_epi8(S8, k64, A8, B8)) == e8);
        {
            Lanes<int8_t, 32> e, s = lanes<int8_t, 32>(_mm512_castsi512_si256(S8)), x = lanes<int8_t, 32>(_mm512_castsi512_si256(A8)),
                                 y = lanes<int8_t, 32>(_mm512_castsi512_si256(B8));
            for (int i = 0; i < 32; ++i) e[i] = ((k32 >> i) & 1) ? (int8_t)(uint8_t)((uint8_t)x[i] + (uint8_t)y[i]) : s[i];
            report("_mm256_mask_add_epi8",
                   lanes<int8_t, 32>(_mm256_mask_add_epi8(vec<__m256i>(s), k32, vec<__m256i>(x), vec<__m256i>(y))) == e);
        }
        uint64_t mm = 0;
        for (int i = 0; i < 64; ++i) mm |= (uint64_t)(a8[i] < 0) << i;
        report("_mm512_movepi8_mask", (uint64_t)_mm512_movepi8_mask(A8) == mm);
        mm = 0;
        for (int i = 0; i < 64; ++i) mm |= (uint64_t)((a8[i] & b8[i]) != 0) << i;
        report("_mm512_test_epi8_mask", (uint64_t)_mm512_test_epi8_mask(A8, B8) == mm);

        for (int i = 0; i < 16; ++i) e32[i] = a32[b32[i] & 15];
        report("_mm512_permutexvar_epi32", lanes<int32_t, 16>(_mm512_permutexvar_epi32(B32, A32)) == e32);

        // The integer sparse kernels (axpy_avx512_impl.h): byte transposes, VPDPBUSD, the Q6_K plane shuffle.
        for (int i = 0; i < 16; ++i) e32[i] = a32[i] ^ b32[i];
        report("_mm512_xor_si512", lanes<int32_t, 16>(_mm512_xor_si512(A32, B32)) == e32);
        for (int L = 0; L < 4; ++L)
            for (int i = 0; i < 8; ++i) {
                e8[16 * L + 2 * i] = a8[16 * L + i], e8[16 * L + 2 * i + 1] = b8[16 * L + i];
            }
        report("_mm512_unpacklo_epi8", lanes<int8_t, 64>(_mm512_unpacklo_epi8(A8, B8)) == e8);
        for (int L = 0; L < 4; ++L)
            for (int i = 0; i < 8; ++i) {
                e8[16 * L + 2 * i] = a8[16 * L + 8 + i], e8[16 * L + 2 * i + 1] = b8[16 * L + 8 + i];
            }
        report("_mm512_unpackhi_epi8", lanes<int8_t, 64>(_mm512_unpackhi_epi8(A8, B8)) == e8);
        for (int L = 0; L < 4; ++L)
            for (int i = 0; i < 4; ++i) {
                e16[8 * L + 2 * i] = a16[8 * L + i], e16[8 * L + 2 * i + 1] = b16[8 * L + i];
            }
        report("_mm512_unpacklo_epi16", lanes<int16_t, 32>(_mm512_unpacklo_epi16(A16, B16)) == e16);
        for (int L = 0; L < 4; ++L)
            for (int i = 0; i < 4; ++i) {
                e16[8 * L + 2 * i] = a16[8 * L + 4 + i], e16[8 * L + 2 * i + 1] = b16[8 * L + 4 + i];
            }
        report("_mm512_unpackhi_epi16", lanes<int16_t, 32>(_mm512_unpackhi_epi16(A16, B16)) == e16);
#define SHUF128(IMM)                                                                                        \
    {                                                                                                       \
        for (int L = 0; L < 4; ++L)                                                                         \
            for (int i = 0; i < 4; ++i)                                                                     \
                e32[4 * L + i] = (L < 2 ? a32 : b32)[4 * (((IMM) >> (2 * L)) & 3) + i];                     \
        report("_mm512_shuffle_i32x4", lanes<int32_t, 16>(_mm512_shuffle_i32x4(A32, B32, IMM)) == e32);    \
    }
        SHUF128(0x44) SHUF128(0xEE) SHUF128(0x88) SHUF128(0xDD) SHUF128(0x1B) SHUF128(0x00)
#undef SHUF128
        for (int i = 0; i < 16; ++i) {  // u8 (a) x s8 (b) quads summed into the int32 lane of s, wrapping
            int64_t acc = lanes<int32_t, 16>(S8)[i];
            for (int j = 0; j < 4; ++j) acc += (int64_t)(uint8_t)a8[4 * i + j] * b8[4 * i + j];
            e32[i] = (int32_t)(uint32_t)(uint64_t)acc;
        }
        report("_mm512_dpbusd_epi32", lanes<int32_t, 16>(_mm512_dpbusd_epi32(S8, A8, B8)) == e32);
        {
            auto a64 = lanes<int64_t, 8>(A32), b64 = lanes<int64_t, 8>(B32);
            Lanes<int64_t, 8> e64;
            for (int i = 0; i < 8; ++i) e64[i] = a64[b64[i] & 7];
            report("_mm512_permutexvar_epi64", lanes<int64_t, 8>(_mm512_permutexvar_epi64(B32, A32)) == e64);
            // VPMULTISHIFTQB: byte j of qword i = the 8 bits of b's qword i from bit (a byte j & 63), wrapping.
            Lanes<uint8_t, 64> em;
            auto ctl = lanes<uint8_t, 64>(A32);
            for (int i = 0; i < 8; ++i)
                for (int j = 0; j < 8; ++j) {
                    const int sh = ctl[8 * i + j] & 63;
                    const uint64_t q = (uint64_t)b64[i];
                    em[8 * i + j] = (uint8_t)(sh ? (q >> sh | q << (64 - sh)) : q);
                }
            report("_mm512_multishift_epi64_epi8",
                   lanes<uint8_t, 64>(_mm512_multishift_epi64_epi8(A32, B32)) == em);
            auto rs = lanes<int64_t, 8>(_mm512_setr_epi64(a64[0], a64[1], a64[2], a64[3], a64[4], a64[5], a64[6], a64[7]));
            report("_mm512_setr_epi64", rs == a64);
        }
        {  // VPTERNLOGD: bit i of the result = bit (a_i << 2 | b_i << 1 | c_i) of imm
            auto a = lanes<uint32_t, 16>(A32), b = lanes<uint32_t, 16>(B32), c = lanes<uint32_t, 16>(S8);
            auto tern = [&](int imm) {
                Lanes<uint32_t, 16> e;
                for (int i = 0; i < 16; ++i) {
                    uint32_t r = 0;
                    for (int bit = 0; bit < 32; ++bit) {
                        const int sel = (int)((a[i] >> bit & 1) << 2 | (b[i] >> bit & 1) << 1 | (c[i] >> bit & 1));
                        r |= (uint32_t)(imm >> sel & 1) << bit;
                    }
                    e[i] = r;
                }
                return e;
            };
            report("_mm512_ternarylogic_epi32", lanes<uint32_t, 16>(_mm512_ternarylogic_epi32(A32, B32, S8, 0xF8)) == tern(0xF8));
            report("_mm512_ternarylogic_epi32", lanes<uint32_t, 16>(_mm512_ternarylogic_epi32(A32, B32, S8, 0x96)) == tern(0x96));
        }
        for (int L = 0; L < 4; ++L)
            for (int i = 0; i < 16; ++i) {
                const int8_t c = b8[16 * L + i];
                e8[16 * L + i] = c < 0 ? 0 : a8[16 * L + (c & 15)];
            }
        report("_mm512_shuffle_epi8", lanes<int8_t, 64>(_mm512_shuffle_epi8(A8, B8)) == e8);

        Lanes<uint32_t, 16> cnt;
        for (int i = 0; i < 16; ++i) cnt[i] = (uint32_t)(rng() % 40);
        for (int i = 0; i < 16; ++i) eu32[i] = cnt[i] >= 32 ? 0 : ua32[i] >> cnt[i];
        report("_mm512_srlv_epi32", lanes<uint32_t, 16>(_mm512_srlv_epi32(A32, vec<__m512i>(cnt))) == eu32);

        // The AVX-512 VNNI dense kernels (kernels/matvec_avx512vnni.cpp).
        {
            auto ua16 = lanes<uint16_t, 32>(A16);
            Lanes<uint16_t, 32> c16, el, er, em, eml;
            for (int i = 0; i < 32; ++i) c16[i] = (uint16_t)(rng() % 20);
            for (int i = 0; i < 32; ++i) {
                el[i] = c16[i] >= 16 ? 0 : (uint16_t)(ua16[i] << c16[i]);
                er[i] = c16[i] >= 16 ? 0 : (uint16_t)(ua16[i] >> c16[i]);
                em[i] = ((k32 >> i) & 1) ? (uint16_t)(ua16[i] >> 4) : lanes<uint16_t, 32>(B16)[i];
                eml[i] = ((k32 >> i) & 1) ? (uint16_t)(ua16[i] << 2) : lanes<uint16_t, 32>(B16)[i];
            }
            report("_mm512_sllv_epi16", lanes<uint16_t, 32>(_mm512_sllv_epi16(A16, vec<__m512i>(c16))) == el);
            report("_mm512_srlv_epi16", lanes<uint16_t, 32>(_mm512_srlv_epi16(A16, vec<__m512i>(c16))) == er);
            report("_mm512_mask_srli_epi16", lanes<uint16_t, 32>(_mm512_mask_srli_epi16(B16, k32, A16, 4)) == em);
            report("_mm512_mask_slli_epi16", lanes<uint16_t, 32>(_mm512_mask_slli_epi16(B16, k32, A16, 2)) == eml);
            Lanes<int16_t, 32> p16;
            for (int i = 0; i < 32; ++i) p16[i] = a16[b16[i] & 31];
            report("_mm512_permutexvar_epi16", lanes<int16_t, 32>(_mm512_permutexvar_epi16(B16, A16)) == p16);
            Lanes<int16_t, 16> p16h, a16h = lanes<int16_t, 16>(_mm512_castsi512_si256(A16)),
                                     b16h = lanes<int16_t, 16>(_mm512_castsi512_si256(B16));
            for (int i = 0; i < 16; ++i) p16h[i] = a16h[b16h[i] & 15];
            report("_mm256_permutexvar_epi16",
                   lanes<int16_t, 16>(_mm256_permutexvar_epi16(vec<__m256i>(b16h), vec<__m256i>(a16h))) == p16h);
            for (int L = 0; L < 4; ++L)
                for (int i = 0; i < 4; ++i) {
                    e16[8 * L + i] = sat16(a32[4 * L + i]);
                    e16[8 * L + 4 + i] = sat16(b32[4 * L + i]);
                }
            report("_mm512_packs_epi32", lanes<int16_t, 32>(_mm512_packs_epi32(A32, B32)) == e16);
            for (int i = 0; i < 16; ++i)  // int16 pairs multiplied, summed into the int32 lane of s, wrapping
                e32[i] = (int32_t)(uint32_t)((int64_t)lanes<int32_t, 16>(S8)[i] + (int64_t)a16[2 * i] * b16[2 * i] +
                                             (int64_t)a16[2 * i + 1] * b16[2 * i + 1]);
            report("_mm512_dpwssd_epi32", lanes<int32_t, 16>(_mm512_dpwssd_epi32(S8, A16, B16)) == e32);
            auto h256 = lanes<int32_t, 8>(_mm512_castsi512_si256(B32));
            for (int i = 0; i < 16; ++i) e32[i] = h256[i & 7];
            report("_mm512_broadcast_i64x4", lanes<int32_t, 16>(_mm512_broadcast_i64x4(vec<__m256i>(h256))) == e32);
            for (int i = 0; i < 16; ++i) e32[i] = i < 8 ? h256[i] : 0;
            report("_mm512_zextsi256_si512", lanes<int32_t, 16>(_mm512_zextsi256_si512(vec<__m256i>(h256))) == e32);
            alignas(64) int32_t al[16];
            std::memcpy(al, a32.v, 64);
            report("_mm512_load_si512", lanes<int32_t, 16>(_mm512_load_si512(al)) == a32);
        }

        // Immediate shifts (lane width and beyond give zero).
#define SHIFT16(IMM)                                                                                        \
    {                                                                                                       \
        auto ua16 = lanes<uint16_t, 32>(A16);                                                               \
        Lanes<uint16_t, 32> l, r;                                                                           \
        for (int i = 0; i < 32; ++i) {                                                                      \
            l[i] = IMM >= 16 ? 0 : (uint16_t)(ua16[i] << (IMM & 15));                                       \
            r[i] = IMM >= 16 ? 0 : (uint16_t)(ua16[i] >> (IMM & 15));                                       \
        }                                                                                                   \
        report("_mm512_slli_epi16", lanes<uint16_t, 32>(_mm512_slli_epi16(A16, IMM)) == l);                 \
        report("_mm512_srli_epi16", lanes<uint16_t, 32>(_mm512_srli_epi16(A16, IMM)) == r);                 \
    }
#define SHIFT32(IMM)                                                                                        \
    {                                                                                                       \
        Lanes<uint32_t, 16> l, r;                                                                           \
        for (int i = 0; i < 16; ++i) {                                                                      \
            l[i] = IMM >= 32 ? 0 : (uint32_t)(ua32[i] << (IMM & 31));                                       \
            r[i] = IMM >= 32 ? 0 : (uint32_t)(ua32[i] >> (IMM & 31));                                       \
        }                                                                                                   \
        report("_mm512_slli_epi32", lanes<uint32_t, 16>(_mm512_slli_epi32(A32, IMM)) == l);                 \
        report("_mm512_srli_epi32", lanes<uint32_t, 16>(_mm512_srli_epi32(A32, IMM)) == r);                 \
    }
        SHIFT16(0) SHIFT16(1) SHIFT16(2) SHIFT16(4) SHIFT16(6) SHIFT16(15) SHIFT16(16)
        SHIFT32(0) SHIFT32(1) SHIFT32(4) SHIFT32(16) SHIFT32(23) SHIFT32(31) SHIFT32(32)

        // Widening integer conversions take the low lanes of the source.
        auto lo8 = lanes<int8_t, 16>(_mm512_castsi512_si128(A8));
        for (int i = 0; i < 16; ++i) e32[i] = lo8[i];
        report("_mm512_cvtepi8_epi32", lanes<int32_t, 16>(_mm512_cvtepi8_epi32(_mm512_castsi512_si128(A8))) == e32);
        for (int i = 0; i < 16; ++i) e32[i] = (uint8_t)lo8[i];
        report("_mm512_cvtepu8_epi32", lanes<int32_t, 16>(_mm512_cvtepu8_epi32(_mm512_castsi512_si128(A8))) == e32);
        auto lo16 = lanes<uint16_t, 16>(_mm512_castsi512_si256(A16));
        for (int i = 0; i < 16; ++i) e32[i] = lo16[i];
        report("_mm512_cvtepu16_epi32", lanes<int32_t, 16>(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(A16))) == e32);
        {
            Lanes<float, 16> f;
            for (int i = 0; i < 16; ++i) f[i] = (float)a32[i];
            report("_mm512_cvtepi32_ps", lanes<float, 16>(_mm512_cvtepi32_ps(A32)) == f);
            for (int i = 0; i < 16; ++i) f[i] = pysparse::fp16_to_fp32(lo16[i]);
            // NaN payloads compare bitwise too (F16C keeps them quiet and shifted, as fp16_to_fp32 does).
            auto got = lanes<float, 16>(_mm512_cvtph_ps(_mm512_castsi512_si256(A16)));
            bool ok = true;
            for (int i = 0; i < 16; ++i) ok &= (std::isnan(f[i]) && std::isnan(got[i])) || std::memcmp(&f[i], &got[i], 4) == 0;
            report("_mm512_cvtph_ps", ok);
            // lane 0 of an __m128 to all 16 lanes
            for (int i = 0; i < 16; ++i) f[i] = (float)a32[0];
            report("_mm512_broadcastss_ps",
                   lanes<float, 16>(_mm512_broadcastss_ps(_mm512_castps512_ps128(_mm512_cvtepi32_ps(A32)))) == f);
        }

        // Casts, inserts and extracts.
        auto l256 = lanes<int32_t, 8>(_mm512_castsi512_si256(A32));
        report("_mm512_castsi256_si512", lanes<int32_t, 8>(_mm512_castsi512_si256(_mm512_castsi256_si512(vec<__m256i>(l256)))) == l256);
        {
            bool ok = true;  // the low 256 bits
            for (int i = 0; i < 8; ++i) ok &= l256[i] == a32[i];
            report("_mm512_castsi512_si256", ok);
        }
        {
            auto r = lanes<int32_t, 4>(_mm512_castsi512_si128(A32));
            report("_mm512_castsi512_si128", r[0] == a32[0] && r[1] == a32[1] && r[2] == a32[2] && r[3] == a32[3]);
        }
        {
            auto hi256 = lanes<int32_t, 8>(_mm512_castsi512_si256(B32));
            auto r = lanes<int32_t, 16>(_mm512_inserti64x4(A32, vec<__m256i>(hi256), 1));
            for (int i = 0; i < 16; ++i) e32[i] = i < 8 ? a32[i] : hi256[i - 8];
            report("_mm512_inserti64x4", r == e32);
            auto rf = lanes<int32_t, 16>(_mm512_insertf32x8(_mm512_castsi512_ps(A32), _mm256_castsi256_ps(vec<__m256i>(hi256)), 1));
            report("_mm512_insertf32x8", rf == e32);
            auto x4 = lanes<int32_t, 8>(_mm512_extractf64x4_pd(_mm512_castsi512_pd(A32), 1));
            bool ok = true;
            for (int i = 0; i < 8; ++i) ok &= x4[i] == a32[8 + i];
            report("_mm512_extractf64x4_pd", ok);
            report("_mm512_castsi512_ps", lanes<int32_t, 16>(_mm512_castsi512_ps(A32)) == a32);
            report("_mm512_castps_pd", lanes<int32_t, 16>(_mm512_castps_pd(_mm512_castsi512_ps(A32))) == a32);
            auto p256 = lanes<int32_t, 8>(_mm512_castps512_ps256(_mm512_castsi512_ps(A32)));
            ok = true;
            for (int i = 0; i < 8; ++i) ok &= p256[i] == a32[i];
            report("_mm512_castps512_ps256", ok);
            auto p512 = lanes<int32_t, 16>(_mm512_castps256_ps512(vec<__m256>(p256)));
            ok = true;
            for (int i = 0; i < 8; ++i) ok &= p512[i] == a32[i];  // upper half undefined
            report("_mm512_castps256_ps512", ok);
        }

        // Memory: unaligned loads/stores, masked zeroing load, compress store (only popcount(k) lanes written).
        {
            alignas(64) int32_t buf[40];
            for (int i = 0; i < 40; ++i) buf[i] = (int32_t)rng();
            const int off = (int)(rng() % 8);
            Lanes<int32_t, 16> src;
            std::memcpy(src.v, buf + off, 64);
            report("_mm512_loadu_si512", lanes<int32_t, 16>(_mm512_loadu_si512(buf + off)) == src);
            report("_mm512_loadu_ps", lanes<int32_t, 16>(_mm512_loadu_ps(reinterpret_cast<float*>(buf + off))) == src);
            const uint16_t k = (uint16_t)rng();
            for (int i = 0; i < 16; ++i) e32[i] = ((k >> i) & 1) ? src[i] : 0;
            report("_mm512_maskz_loadu_epi32", lanes<int32_t, 16>(_mm512_maskz_loadu_epi32(k, buf + off)) == e32);
            int32_t out[40], exp[40];
            for (int i = 0; i < 40; ++i) out[i] = exp[i] = -7;
            int n = 0;
            for (int i = 0; i < 16; ++i)
                if ((k >> i) & 1) exp[off + n++] = a32[i];
            _mm512_mask_compressstoreu_epi32(out + off, k, A32);
            report("_mm512_mask_compressstoreu_epi32", std::memcmp(out, exp, sizeof(out)) == 0);
            Lanes<int32_t, 16> ec{};
            for (int i = 0, j = 0; i < 16; ++i)
                if ((k >> i) & 1) ec[j++] = a32[i];
            report("_mm512_maskz_compress_epi32", lanes<int32_t, 16>(_mm512_maskz_compress_epi32(k, A32)) == ec);
            int32_t su32[17];
            _mm512_storeu_si512(su32 + 1, A32);
            report("_mm512_storeu_si512", std::memcmp(su32 + 1, a32.v, 64) == 0);
            alignas(64) int32_t st[16];
            _mm512_store_si512(st, A32);
            report("_mm512_store_si512", std::memcmp(st, a32.v, 64) == 0);
            alignas(64) double sd[8];
            _mm512_store_pd(sd, _mm512_castsi512_pd(A32));
            report("_mm512_store_pd", std::memcmp(sd, a32.v, 64) == 0);
            float su[17];
            _mm512_storeu_ps(su + 1, _mm512_castsi512_ps(A32));
            report("_mm512_storeu_ps", std::memcmp(su + 1, a32.v, 64) == 0);
            alignas(64) float sa[16];
            _mm512_store_ps(sa, _mm512_castsi512_ps(A32));
            report("_mm512_store_ps", std::memcmp(sa, a32.v, 64) == 0);
        }

        // Broadcasts and constants.
        {
            const int32_t v = a32[0];
            const int16_t h = a16[1];
            const int8_t c = a8[2];
            bool ok = true;
            auto r32 = lanes<int32_t, 16>(_mm512_set1_epi32(v));
            for (int i = 0; i < 16; ++i) ok &= r32[i] == v;
            report("_mm512_set1_epi32", ok);
            ok = true;
            auto r16 = lanes<int16_t, 32>(_mm512_set1_epi16(h));
            for (int i = 0; i < 32; ++i) ok &= r16[i] == h;
            report("_mm512_set1_epi16", ok);
            ok = true;
            auto r8 = lanes<int8_t, 64>(_mm512_set1_epi8(c));
            for (int i = 0; i < 64; ++i) ok &= r8[i] == c;
            report("_mm512_set1_epi8", ok);
            const float f = (float)v * 1e-3f;
            ok = true;
            auto rf = lanes<float, 16>(_mm512_set1_ps(f));
            for (int i = 0; i < 16; ++i) ok &= rf[i] == f;
            report("_mm512_set1_ps", ok);
            auto rs = lanes<int32_t, 16>(_mm512_setr_epi32(a32[0], a32[1], a32[2], a32[3], a32[4], a32[5], a32[6], a32[7], a32[8],
                                                           a32[9], a32[10], a32[11], a32[12], a32[13], a32[14], a32[15]));
            report("_mm512_setr_epi32", rs == a32);
            Lanes<int32_t, 16> z{};
            report("_mm512_setzero_si512", lanes<int32_t, 16>(_mm512_setzero_si512()) == z);
            report("_mm512_setzero_ps", lanes<int32_t, 16>(_mm512_setzero_ps()) == z);
        }
    }
}

// The Guide's REDUCE_ADD: lane j += lane j + len/2, halving len, in the element type.
template <class T, int N>
T reduce_model(Lanes<T, N> v) {
    for (int len = N / 2; len >= 1; len /= 2)
        for (int j = 0; j < len; ++j) v[j] = v[j] + v[j + len];
    return v[0];
}

void check_float() {
    for (int t = 0; t < kTrials; ++t) {
        auto a = rand_float<float, 16>(), b = rand_float<float, 16>(), c = rand_float<float, 16>();
        const __m512 A = vec<__m512>(a), B = vec<__m512>(b), C = vec<__m512>(c);
        Lanes<float, 16> e;
        for (int i = 0; i < 16; ++i) e[i] = std::fmaf(a[i], b[i], c[i]);  // fused: one rounding
        report("_mm512_fmadd_ps", lanes<float, 16>(_mm512_fmadd_ps(A, B, C)) == e);
        for (int i = 0; i < 16; ++i) e[i] = std::fmaf(-a[i], b[i], c[i]);
        report("_mm512_fnmadd_ps", lanes<float, 16>(_mm512_fnmadd_ps(A, B, C)) == e);
        for (int i = 0; i < 16; ++i) e[i] = a[i] * b[i];
        report("_mm512_mul_ps", lanes<float, 16>(_mm512_mul_ps(A, B)) == e);
        for (int i = 0; i < 16; ++i) e[i] = a[i] + b[i];
        report("_mm512_add_ps", lanes<float, 16>(_mm512_add_ps(A, B)) == e);
        for (int i = 0; i < 16; ++i) e[i] = a[i] - b[i];
        report("_mm512_sub_ps", lanes<float, 16>(_mm512_sub_ps(A, B)) == e);
        const float r = _mm512_reduce_add_ps(A), er = reduce_model(a);
        report("_mm512_reduce_add_ps", std::memcmp(&r, &er, 4) == 0);

        auto ad = rand_float<double, 8>(), bd = rand_float<double, 8>();
        Lanes<double, 8> ed;
        for (int i = 0; i < 8; ++i) ed[i] = ad[i] + bd[i];
        report("_mm512_add_pd", lanes<double, 8>(_mm512_add_pd(vec<__m512d>(ad), vec<__m512d>(bd))) == ed);
        const double rd = _mm512_reduce_add_pd(vec<__m512d>(ad)), erd = reduce_model(ad);
        report("_mm512_reduce_add_pd", std::memcmp(&rd, &erd, 8) == 0);
        auto lo = lanes<float, 8>(_mm512_castps512_ps256(A));
        for (int i = 0; i < 8; ++i) ed[i] = (double)lo[i];
        report("_mm512_cvtps_pd", lanes<double, 8>(_mm512_cvtps_pd(vec<__m256>(lo))) == ed);
    }
}

// The AVX-VNNI intrinsics of *_avxvnni.cpp: u8 x s8 quads (VPDPBUSD) and s16 x s16 pairs (VPDPWSSD) summed into
// each int32 lane of src, wrapping.
void check_avx_vnni() {
    for (int t = 0; t < kTrials; ++t) {
        const auto s = rand_int<int32_t, 8>();
        const auto a = rand_int<uint8_t, 32>();
        const auto b = rand_int<int8_t, 32>();
        const __m256i S = vec<__m256i>(s), A = vec<__m256i>(a), B = vec<__m256i>(b);
        Lanes<int32_t, 8> e;
        for (int i = 0; i < 8; ++i) {
            int64_t acc = s[i];
            for (int j = 0; j < 4; ++j) acc += (int64_t)a[4 * i + j] * b[4 * i + j];
            e[i] = (int32_t)(uint32_t)(uint64_t)acc;
        }
        report("_mm256_dpbusd_avx_epi32", lanes<int32_t, 8>(_mm256_dpbusd_avx_epi32(S, A, B)) == e);
        auto a16 = lanes<int16_t, 16>(A), b16 = lanes<int16_t, 16>(B);
        for (int i = 0; i < 8; ++i) {
            int64_t acc = s[i];
            for (int j = 0; j < 2; ++j) acc += (int64_t)a16[2 * i + j] * b16[2 * i + j];
            e[i] = (int32_t)(uint32_t)(uint64_t)acc;
        }
        report("_mm256_dpwssd_avx_epi32", lanes<int32_t, 8>(_mm256_dpwssd_avx_epi32(S, A, B)) == e);
    }
}

}  // namespace

int main() {
    check_integer();
    check_float();
    check_avx_vnni();
    std::printf("avx512 emulation: %d checks, %d mismatches\n", g_checked, g_bad);
    return g_bad ? 1 : 0;
}
