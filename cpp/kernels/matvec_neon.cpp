// The NEON dense kernels built for the build's target (matvec_neon_impl.h).
#include "kernels/matvec_neon_impl.h"

namespace pysparse {
constexpr DenseKernels kDenseNeon = neon_dense_set();
}  // namespace pysparse
