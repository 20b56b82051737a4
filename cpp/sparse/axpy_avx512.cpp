// AVX-512 (F, BW, VL, DQ) tile kernels of the input-sparse matvec without VNNI (integer dots with VPMADDUBSW +
// VPMADDWD). The path's chain (common/dispatch.h) tries the VNNI build (axpy_avx512vnni.cpp) first when the CPU
// has AVX-512 VNNI and it is not switched off (cpu.h). The kernels themselves: axpy_avx512_impl.h.
#define PYSPARSE_SPARSE_VNNI 0
#include "sparse/axpy_avx512_impl.h"

namespace pysparse {
namespace sparse_detail {

// Every kind but the requant reference (generic only). The VNNI set comes first on the chain when the CPU
// has AVX-512 VNNI and it is enabled (common/dispatch.h), so on such a CPU this set serves F16 and F32.
constexpr SparseKernels kSparseAvx512 = {
    int_kernels_avx512().with(GGMLType::F16, tile_avx512<Kind::f16>).with(GGMLType::F32, tile_avx512<Kind::f32>),
    nullptr,
};

}  // namespace sparse_detail
}  // namespace pysparse
