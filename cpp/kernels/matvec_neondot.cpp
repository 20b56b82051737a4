// The NEON dense kernels built for armv8.2-a+dotprod (SDOT; CMakeLists.txt: *_neondot.cpp), chosen at run time
// where the CPU has dotprod (common/dispatch.h: the neon_dotprod path).
#include "kernels/matvec_neon_impl.h"

namespace pysparse {
constexpr DenseKernels kDenseNeonDot = neon_dense_set();
}  // namespace pysparse
