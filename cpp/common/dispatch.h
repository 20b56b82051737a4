// The one dispatch idiom of every kernel family (dense dot products and their batched forms, activation
// quantisers, sparse tile kernels, selection passes, the bandwidth probe's loop).
//
// A family is a struct of function pointers, its kernel set (e.g. DenseKernels in kernels/vec_dot.h). Each ISA
// file defines one `const <Family> k<Family><Path>` for the path it is compiled for, constant-initialised, with
// nullptr wherever it has no kernel of its own; per-type kernels sit in a TypeKernels table indexed by the type's
// row in kTypeTable (quant/types.h). The family's dispatch file lists its sets in a PathSets, and select_path
// walks the active ISA's chain of paths, best first, and returns the first non-null kernel:
//   avx512: avx512_vnni (AVX-512 VNNI enabled) -> avx512
//           -> avx_vnni (AVX-VNNI enabled) -> avx2 -> generic
//   avx2:   avx_vnni (AVX-VNNI enabled) -> avx2 -> generic
//   neon:   neon_dotprod (dotprod enabled) -> neon -> generic    generic: generic
// So "nullptr" means "fall back to the next path": an AVX-512 set leaves out a type where the AVX2 kernel is
// faster, a VNNI set holds only the kernels VNNI changes. A generic set is the reference and is always present.
// docs/engine.md: "How to add an ISA path", "How to add a kernel family".
#pragma once
#include <cstddef>
#include <utility>

#include "common/cpu.h"
#include "quant/types.h"

namespace pysparse {

// Kernel paths: an ISA path, or an ISA path with optional features (files compiled with more flags, chosen only
// when the CPU has them and they are enabled: cpu.h feature_enabled).
enum class KernelPath { generic = 0, avx2, avx512, avx512_vnni, neon, neon_dotprod, avx_vnni };
constexpr int kKernelPathCount = 7;

// The paths to try for `isa` with the features enabled now, best first, generic last.
struct PathChain {
    KernelPath path[kKernelPathCount];
    int size;
    const KernelPath* begin() const { return path; }
    const KernelPath* end() const { return path + size; }
};
// The rule (pure; tested in test_common.cpp).
PathChain path_chain(Isa isa, bool avx512_vnni, bool dotprod = false, bool avx_vnni = false);
PathChain path_chain(Isa isa);  // with feature_enabled(CpuFeature::avx512_vnni / dotprod / avx_vnni)

// A family's kernel sets by path (nullptr where this build has none), built with .with(path, &set).
template <class Set>
struct PathSets {
    const Set* set[kKernelPathCount] = {};
    constexpr PathSets with(KernelPath p, const Set* s) const {
        PathSets r = *this;
        r.set[static_cast<int>(p)] = s;
        return r;
    }
};

// The first non-null get(set) along path_chain(isa); nullptr if no path has one.
template <class Set, class Get>
auto select_path(const PathSets<Set>& sets, Get get, Isa isa) -> decltype(get(std::declval<const Set&>())) {
    for (KernelPath p : path_chain(isa))
        if (const Set* s = sets.set[static_cast<int>(p)])
            if (auto f = get(*s)) return f;
    return nullptr;
}
template <class Set, class Get>
auto select_path(const PathSets<Set>& sets, Get get) -> decltype(get(std::declval<const Set&>())) {
    return select_path(sets, get, active_isa());
}

// Row of `t` in kTypeTable; std::size(kTypeTable) for an id the table does not list.
constexpr size_t kTypeCount = sizeof(kTypeTable) / sizeof(kTypeTable[0]);
constexpr size_t type_index(GGMLType t) {
    for (size_t i = 0; i < kTypeCount; ++i)
        if (kTypeTable[i].id == t) return i;
    return kTypeCount;
}

// A set's per-type kernels, indexed by type_index; nullptr where the set has none for a type.
template <class Fn>
struct TypeKernels {
    Fn fn[kTypeCount] = {};
    constexpr Fn operator[](GGMLType t) const {
        const size_t i = type_index(t);
        return i < kTypeCount ? fn[i] : nullptr;
    }
    constexpr TypeKernels with(GGMLType t, Fn f) const {
        TypeKernels r = *this;
        r.fn[type_index(t)] = f;  // a type the table lacks: not a constant expression, so a compile error
        return r;
    }
};

}  // namespace pysparse
