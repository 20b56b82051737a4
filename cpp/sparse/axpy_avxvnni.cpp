// AVX-VNNI build of the AVX2 tile kernels (axpy_avx2_impl.h; compiled with -mavxvnni): integer dots of four active
// columns at a time with the VEX VPDPBUSD. On the AVX2 path's chain (common/dispatch.h) only when the CPU has
// AVX-VNNI and it is enabled (PYSPARSE_NO_VNNI=1 switches it off). Same exact int32 sums as the AVX2 build and the
// same float epilogue, so bit for bit the same outputs.
#define PYSPARSE_AVX_VNNI 1
#include "sparse/axpy_avx2_impl.h"

namespace pysparse {
namespace sparse_detail {

// The integer kinds; F16 / F32 fall back to the AVX2 set, requant to generic.
constexpr SparseKernels kSparseAvxVnni = {int_kernels_avx2(), nullptr};

}  // namespace sparse_detail
}  // namespace pysparse
