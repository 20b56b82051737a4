#include "common/dispatch.h"

namespace pysparse {

PathChain path_chain(Isa isa, bool avx512_vnni, bool dotprod, bool avx_vnni) {
    PathChain c{};
    c.size = 0;
    auto add = [&](KernelPath p) { c.path[c.size++] = p; };
    switch (isa) {
        case Isa::avx512:
            if (avx512_vnni) add(KernelPath::avx512_vnni);
            add(KernelPath::avx512);
            if (avx_vnni) add(KernelPath::avx_vnni);  // for the types the AVX-512 sets leave to AVX2
            add(KernelPath::avx2);
            break;
        case Isa::avx2:
            if (avx_vnni) add(KernelPath::avx_vnni);
            add(KernelPath::avx2);
            break;
        case Isa::neon:
            if (dotprod) add(KernelPath::neon_dotprod);
            add(KernelPath::neon);
            break;
        case Isa::generic: break;
    }
    add(KernelPath::generic);
    return c;
}

PathChain path_chain(Isa isa) {
    if (isa == Isa::neon) return path_chain(isa, false, feature_enabled(CpuFeature::dotprod));
    const bool avx_vnni = feature_enabled(CpuFeature::avx_vnni);
    if (isa != Isa::avx512) return path_chain(isa, false, false, avx_vnni);
    return path_chain(isa, feature_enabled(CpuFeature::avx512_vnni), false, avx_vnni);
}

}  // namespace pysparse
