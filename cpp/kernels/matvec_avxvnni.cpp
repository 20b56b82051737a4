// The AVX2 dense kernels built with AVX-VNNI as well (matvec_avx2_impl.h; CMakeLists.txt: *_avxvnni.cpp): VPDPBUSD
// and VPDPWSSD in ymm registers, bit for bit the AVX2 kernels' results. Chosen at run time where the CPU has
// AVX-VNNI (common/dispatch.h: the avx_vnni path). Only the integer kernels: the float types fall back to the
// AVX2 set.
#define PYSPARSE_AVX_VNNI 1
#include "kernels/matvec_avx2_impl.h"

namespace pysparse {
namespace {
constexpr DenseKernels avx_vnni_set() {
    DenseKernels k = avx2_dense_set();
    for (GGMLType t : {GGMLType::F32, GGMLType::F16, GGMLType::BF16}) k.dot = k.dot.with(t, nullptr);
    return k;
}
}  // namespace
constexpr DenseKernels kDenseAvxVnni = avx_vnni_set();
}  // namespace pysparse
