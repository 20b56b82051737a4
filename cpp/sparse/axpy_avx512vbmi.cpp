// AVX-512 VNNI + VBMI build of the sparse Q6_K tile kernel (axpy_avx512_impl.h; compiled with -mavx512vnni
// -mavx512vbmi): the 6-bit decode places the 2-bit plane with one VPMULTISHIFTQB per vector instead of byte
// shuffles, test masks and masked adds (column_values<6>). On the AVX-512 path's chain (common/dispatch.h) only
// when the CPU has AVX-512 VNNI and VBMI and both are enabled. Bitwise the VNNI build's results (the same integer
// values, the same int32 sums).
#define PYSPARSE_SPARSE_VNNI 1
#define PYSPARSE_SPARSE_VBMI 1
#include "sparse/axpy_avx512_impl.h"

namespace pysparse {
namespace sparse_detail {

constexpr SparseKernels kSparseAvx512Vbmi = {TypeKernels<TileKernel>{}.with(GGMLType::Q6_K, tile_avx512<Kind::q6_k>),
                                             nullptr};

}  // namespace sparse_detail
}  // namespace pysparse
