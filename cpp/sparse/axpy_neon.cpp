// The NEON sparse tile kernels built for the build's target (axpy_neon_impl.h).
#include "sparse/axpy_neon_impl.h"

namespace pysparse {
namespace sparse_detail {
constexpr SparseKernels kSparseNeon = neon_sparse_set();
}  // namespace sparse_detail
}  // namespace pysparse
