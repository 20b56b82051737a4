// AVX-512 VNNI build of the AVX-512 tile kernels (axpy_avx512_impl.h; compiled with -mavx512vnni): integer dots
// with VPDPBUSD, and Q8_0 on the integer path too. Chosen by tile_kernel_avx512 (axpy_avx512.cpp) only when the
// CPU has AVX-512 VNNI.
#define PYSPARSE_SPARSE_VNNI 1
#include "sparse/axpy_avx512_impl.h"

namespace pysparse {
namespace sparse_detail {

TileKernel tile_kernel_avx512_vnni(Kind k) {
    switch (k) {
        case Kind::q4_0: return tile_avx512<Kind::q4_0>;
        case Kind::q4_1: return tile_avx512<Kind::q4_1>;
        case Kind::q5_0: return tile_avx512<Kind::q5_0>;
        case Kind::q5_1: return tile_avx512<Kind::q5_1>;
        case Kind::q8_0: return tile_avx512<Kind::q8_0>;
        case Kind::q4_k: return tile_avx512<Kind::q4_k>;
        case Kind::q5_k: return tile_avx512<Kind::q5_k>;
        case Kind::q6_k: return tile_avx512<Kind::q6_k>;
        default: return nullptr;  // F16 / F32: the float kernels of axpy_avx512.cpp
    }
}

}  // namespace sparse_detail
}  // namespace pysparse
