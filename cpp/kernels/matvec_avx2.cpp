// The AVX2 dense kernels (matvec_avx2_impl.h, built with -mavx2 -mfma -mf16c -mbmi2): maddubs + madd.
#define PYSPARSE_AVX_VNNI 0
#include "kernels/matvec_avx2_impl.h"

namespace pysparse {
constexpr DenseKernels kDenseAvx2 = avx2_dense_set();
}  // namespace pysparse
