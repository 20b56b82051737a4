// AVX2 tile kernels of the input-sparse matvec (axpy_avx2_impl.h without VNNI: VPMADDUBSW + VPMADDWD). The path's
// chain (common/dispatch.h) tries the AVX-VNNI build (axpy_avxvnni.cpp) first where the CPU has AVX-VNNI and it is
// enabled, so on such a CPU this set serves F16 and F32.
#define PYSPARSE_AVX_VNNI 0
#include "sparse/axpy_avx2_impl.h"

namespace pysparse {
namespace sparse_detail {

// Every kind but the requant reference (generic only).
constexpr SparseKernels kSparseAvx2 = {
    int_kernels_avx2().with(GGMLType::F16, tile_avx2<Kind::f16>).with(GGMLType::F32, tile_avx2<Kind::f32>),
    nullptr,
};

}  // namespace sparse_detail
}  // namespace pysparse
