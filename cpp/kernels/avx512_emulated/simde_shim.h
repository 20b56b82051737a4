// SIMDe shim for cpp/kernels/avx512_emulated/run.sh: native AVX-512 intrinsic names -> SIMDe, plus the few
// SIMDe 0.7.4 lacks or aliases wrongly (madd_epi16), written out lane by lane.
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <immintrin.h>
#include <simde/x86/avx512.h>
#undef _mm512_madd_epi16
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16(a, b)
#include <cstring>
static inline simde__m512 sim_cvtepi32_ps(simde__m512i a) {
  int32_t i[16]; float f[16]; std::memcpy(i, &a, 64); for (int k = 0; k < 16; ++k) f[k] = (float)i[k];
  simde__m512 r; std::memcpy(&r, f, 64); return r;
}
#undef _mm512_cvtepi32_ps
#define _mm512_cvtepi32_ps(a) sim_cvtepi32_ps(a)
static inline simde__m256i sim_mask_add_epi8(simde__m256i src, uint32_t k, simde__m256i a, simde__m256i b) {
  int8_t s[32], x[32], y[32]; std::memcpy(s, &src, 32); std::memcpy(x, &a, 32); std::memcpy(y, &b, 32);
  for (int i = 0; i < 32; ++i) if ((k >> i) & 1) s[i] = (int8_t)(x[i] + y[i]);
  simde__m256i r; std::memcpy(&r, s, 32); return r;
}
#undef _mm256_mask_add_epi8
#define _mm256_mask_add_epi8(s, k, a, b) sim_mask_add_epi8(s, k, a, b)
static inline float sim_reduce_add_ps(simde__m512 a) { float f[16]; std::memcpy(f, &a, 64); float s = 0; for (int k = 0; k < 16; ++k) s += f[k]; return s; }
#undef _mm512_reduce_add_ps
#define _mm512_reduce_add_ps(a) sim_reduce_add_ps(a)
static inline simde__m512 sim_cvtph_ps(simde__m256i a) { uint16_t h[16]; float f[16]; std::memcpy(h, &a, 32); for (int k = 0; k < 16; ++k) f[k] = _cvtsh_ss(h[k]); simde__m512 r; std::memcpy(&r, f, 64); return r; }
#undef _mm512_cvtph_ps
#define _mm512_cvtph_ps(a) sim_cvtph_ps(a)
static inline simde__m512i sim_cvtepu16_epi32(simde__m256i a) { uint16_t h[16]; int32_t f[16]; std::memcpy(h, &a, 32); for (int k = 0; k < 16; ++k) f[k] = h[k]; simde__m512i r; std::memcpy(&r, f, 64); return r; }
#undef _mm512_cvtepu16_epi32
#define _mm512_cvtepu16_epi32(a) sim_cvtepu16_epi32(a)
