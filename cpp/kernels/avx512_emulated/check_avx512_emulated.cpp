// Runs the AVX-512 row dot products (compiled against SIMDe's portable AVX-512 emulation) vs the generic ones.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstddef>
#include <random>
#include <vector>
#include "kernels/matvec.h"
#include "kernels/vec_dot.h"
using namespace pysparse;
static void put_f16(uint8_t* p, float v) { fp16_t h = fp32_to_fp16(v); std::memcpy(p, &h, 2); }
int main() {
  std::mt19937 rng(1);
  const GGMLType types[] = {GGMLType::F32, GGMLType::F16, GGMLType::BF16, GGMLType::Q4_0, GGMLType::Q4_1, GGMLType::Q5_0,
                            GGMLType::Q5_1, GGMLType::Q8_0, GGMLType::Q4_K, GGMLType::Q5_K, GGMLType::Q6_K};
  int bad = 0, total = 0;
  for (GGMLType t : types) for (int nblk : {1, 2, 3, 8, 11}) for (int rep = 0; rep < 20; ++rep) {
    TypeTraits tt = type_traits(t);
    int64_t n = (tt.block_size == 1 ? 32 : tt.block_size) * nblk + (tt.block_size == 1 ? rep % 7 : 0);
    size_t rb = row_bytes(t, n);
    std::vector<uint8_t> w(rb);
    for (auto& b : w) b = rng() & 255;
    std::normal_distribution<float> nd(0, 1); std::uniform_real_distribution<float> sc(1e-3f, 2e-2f);
    size_t nbk = rb / tt.type_size;
    for (size_t i = 0; i < nbk; ++i) {
      uint8_t* b = w.data() + i * tt.type_size;
      switch (t) {
        case GGMLType::F32: { float v = nd(rng); std::memcpy(b, &v, 4); break; }
        case GGMLType::F16: put_f16(b, nd(rng)); break;
        case GGMLType::BF16: { float v = nd(rng); uint32_t u; std::memcpy(&u, &v, 4); uint16_t h = u >> 16; std::memcpy(b, &h, 2); break; }
        case GGMLType::Q4_0: case GGMLType::Q5_0: case GGMLType::Q8_0: put_f16(b, sc(rng)); break;
        case GGMLType::Q6_K: put_f16(b + offsetof(block_q6_K, d), sc(rng) * 0.1f); break;
        default: put_f16(b, sc(rng)); put_f16(b + 2, -sc(rng)); break;
      }
    }
    std::vector<float> x(n); for (auto& v : x) v = nd(rng) * 2;
    std::vector<uint8_t> xa(act_bytes(t, n) + 64);
    quantize_act(t, x.data(), n, xa.data());
    float g = kVecDotGeneric.get(t)(n, w.data(), xa.data());
    float a = kVecDotAvx512.get(t)(n, w.data(), xa.data());
    float a2 = kVecDotAvx2.get(t)(n, w.data(), xa.data());
    ++total;
    if (!(std::fabs(a - g) <= 1e-5 * (std::fabs(g) + 1) * std::sqrt((double)n))) { if (++bad < 10) std::printf("%s n=%lld: avx512 %.7g generic %.7g avx2 %.7g\n", tt.name, (long long)n, a, g, a2); }
  }
  std::printf("%d/%d mismatches\n", bad, total);
  return bad != 0;
}
