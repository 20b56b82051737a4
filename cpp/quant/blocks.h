// The on-disk block layouts of the GGUF quantisation formats (identical to ggml's), and half-precision helpers.
// Every struct is packed exactly as in the file, so a tensor's bytes can be read through these types in place.
#pragma once
#include <cstdint>
#include <cstring>

namespace pysparse {

using fp16_t = uint16_t;  // IEEE half, stored as bits
using bf16_t = uint16_t;  // bfloat16, stored as bits

constexpr int QK4_0 = 32, QK4_1 = 32, QK5_0 = 32, QK5_1 = 32, QK8_0 = 32, QK8_1 = 32;
constexpr int QK_K = 256;          // super-block size of the K formats
constexpr int K_SCALE_SIZE = 12;   // packed 6-bit scales and mins of Q4_K / Q5_K

#pragma pack(push, 1)
struct block_q4_0 { fp16_t d; uint8_t qs[QK4_0 / 2]; };                  // x = d * (q - 8)
struct block_q4_1 { fp16_t d; fp16_t m; uint8_t qs[QK4_1 / 2]; };        // x = d * q + m
struct block_q5_0 { fp16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; };   // x = d * (q - 16)
struct block_q5_1 { fp16_t d; fp16_t m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; };
struct block_q8_0 { fp16_t d; int8_t qs[QK8_0]; };                       // x = d * q
struct block_q8_1 { float d; float s; int8_t qs[QK8_1]; };               // s = d * sum(qs); activations only
// K formats: 256-element super-blocks with 8 sub-blocks of 32 (Q4_K, Q5_K) or 16 of 16 (Q6_K).
struct block_q4_K { fp16_t d; fp16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; };
struct block_q5_K { fp16_t d; fp16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
struct block_q6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; fp16_t d; };
struct block_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };  // activations only
#pragma pack(pop)

static_assert(sizeof(block_q4_0) == 18, "q4_0");
static_assert(sizeof(block_q4_1) == 20, "q4_1");
static_assert(sizeof(block_q5_0) == 22, "q5_0");
static_assert(sizeof(block_q5_1) == 24, "q5_1");
static_assert(sizeof(block_q8_0) == 34, "q8_0");
static_assert(sizeof(block_q4_K) == 144, "q4_K");
static_assert(sizeof(block_q5_K) == 176, "q5_K");
static_assert(sizeof(block_q6_K) == 210, "q6_K");
static_assert(sizeof(block_q8_K) == 292, "q8_K");

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block from its 12 packed scale bytes (as
// ggml's get_scale_min_k4). Sub-blocks 0-3 keep theirs in the low 6 bits of bytes j and j + 4; sub-blocks 4-7 in
// the nibbles of byte j + 4 plus the top 2 bits of bytes j - 4 and j.
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// Its inverse: ORs sub-block j's 6-bit sc and m into the 12 bytes q (zeroed before the first call).
inline void put_scale_min_k4(int j, uint8_t sc, uint8_t m, uint8_t* q) {
    if (j < 4) {
        q[j] |= sc & 63;
        q[j + 4] |= m & 63;
    } else {
        q[j + 4] |= (uint8_t)((sc & 0xF) | (m & 0xF) << 4);
        q[j - 4] |= (uint8_t)((sc >> 4) << 6);
        q[j] |= (uint8_t)((m >> 4) << 6);
    }
}

// Exact IEEE half <-> float conversion in portable code (subnormals, inf and NaN handled).
inline float fp16_to_fp32(fp16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            int e = -1;
            do { man <<= 1; ++e; } while (!(man & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | man << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Round-to-nearest-even, as numpy's float16 cast and F16C do.
inline fp16_t fp32_to_fp16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffff;
    if (ax >= 0x7f800000u) return (fp16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
    if (ax >= 0x477ff000u) return (fp16_t)(sign | 0x7c00);  // rounds to inf
    if (ax < 0x38800000u) {  // result is subnormal or zero
        if (ax < 0x33000000u) return (fp16_t)sign;
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;  // 14 + (113 - e)
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) ++r;
        return (fp16_t)(sign | r);
    }
    uint32_t r = ax - 0x38000000u;  // rebias exponent 127 -> 15
    uint32_t lsb = (r >> 13) & 1;
    r += 0xfff + lsb;
    return (fp16_t)(sign | (r >> 13));
}

inline float bf16_to_fp32(bf16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

}  // namespace pysparse
