// The NEON sparse tile kernels built for armv8.2-a+dotprod (SDOT; CMakeLists.txt: *_neondot.cpp), chosen at run
// time where the CPU has dotprod (common/dispatch.h: the neon_dotprod path).
#include "sparse/axpy_neon_impl.h"

namespace pysparse {
namespace sparse_detail {
constexpr SparseKernels kSparseNeonDot = neon_sparse_set();
}  // namespace sparse_detail
}  // namespace pysparse
