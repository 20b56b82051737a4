#include "sparse/axpy.h"
namespace pysparse {
namespace sparse_detail {
TileKernel tile_kernel_avx512(Kind k) { return nullptr; }
}  // namespace sparse_detail
}  // namespace pysparse
