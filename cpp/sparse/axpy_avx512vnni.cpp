// AVX-512 VNNI build of the AVX-512 tile kernels (axpy_avx512_impl.h; compiled with -mavx512vnni): integer dots
// with VPDPBUSD, and Q8_0 on the integer path too. On the AVX-512 path's chain (common/dispatch.h) only when the
// CPU has AVX-512 VNNI and it is enabled.
#define PYSPARSE_SPARSE_VNNI 1
#include "sparse/axpy_avx512_impl.h"

namespace pysparse {
namespace sparse_detail {

// The integer kinds; F16 / F32 fall back to the float kernels of axpy_avx512.cpp, requant to generic.
constexpr SparseKernels kSparseAvx512Vnni = {int_kernels_avx512(), nullptr};

}  // namespace sparse_detail
}  // namespace pysparse
