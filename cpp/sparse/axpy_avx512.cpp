// AVX-512 (F, BW, VL, DQ) tile kernels of the input-sparse matvec without VNNI (integer dots with VPMADDUBSW +
// VPMADDWD), and the AVX-512 table, which hands out the VNNI build (axpy_avx512vnni.cpp) when the CPU has AVX-512
// VNNI and it is not switched off (cpu.h), and for Q6_K the VNNI + VBMI build (axpy_avx512vbmi.cpp) when the CPU
// also has AVX-512 VBMI. The kernels themselves: axpy_avx512_impl.h.
#define PYSPARSE_SPARSE_VNNI 0
#include "sparse/axpy_avx512_impl.h"

namespace pysparse {
namespace sparse_detail {

namespace {
TileKernel tile_kernel_avx512_plain(Kind k) {
    switch (k) {
        case Kind::q4_0: return tile_avx512<Kind::q4_0>;
        case Kind::q4_1: return tile_avx512<Kind::q4_1>;
        case Kind::q5_0: return tile_avx512<Kind::q5_0>;
        case Kind::q5_1: return tile_avx512<Kind::q5_1>;
        case Kind::q8_0: return tile_avx512<Kind::q8_0>;
        case Kind::q4_k: return tile_avx512<Kind::q4_k>;
        case Kind::q5_k: return tile_avx512<Kind::q5_k>;
        case Kind::q6_k: return tile_avx512<Kind::q6_k>;
        case Kind::f16: return tile_avx512<Kind::f16>;
        case Kind::f32: return tile_avx512<Kind::f32>;
        default: return nullptr;  // requant reference: generic only
    }
}
}  // namespace

TileKernel tile_kernel_avx512(Kind k) {
    if (feature_enabled(CpuFeature::avx512_vnni) && feature_enabled(CpuFeature::avx512_vbmi))
        if (TileKernel f = tile_kernel_avx512_vbmi(k)) return f;
    if (feature_enabled(CpuFeature::avx512_vnni))
        if (TileKernel f = tile_kernel_avx512_vnni(k)) return f;
    return tile_kernel_avx512_plain(k);
}

}  // namespace sparse_detail
}  // namespace pysparse
