#include <atomic>
#include <stdexcept>

#include <vector>

#include "common/cpu.h"
#include "common/dispatch.h"
#include "common/thread_pool.h"
#include "tests/check.h"

using namespace pysparse;

TEST(thread_pool_runs_every_thread_once) {
    ThreadPool pool(3);
    for (int rep = 0; rep < 200; ++rep) {
        std::atomic<int> mask{0};
        pool.run([&](int tid, int nth) {
            CHECK(nth == 3);
            mask.fetch_or(1 << tid);
        });
        CHECK(mask.load() == 7);
    }
}

// Many short jobs back to back, more threads than this machine's cores: every slice runs exactly once per job,
// whether its worker or the caller (taking slices no worker claimed in time) runs it.
TEST(thread_pool_each_slice_once_under_oversubscription) {
    ThreadPool pool(5);
    std::vector<std::atomic<int>> runs(5);
    const int jobs = 20000;
    for (int rep = 0; rep < jobs; ++rep)
        pool.run([&](int tid, int nth) {
            CHECK(nth == 5);
            runs[tid].fetch_add(1, std::memory_order_relaxed);
        });
    for (auto& r : runs) CHECK(r.load() == jobs);
}

TEST(thread_pool_resizes_and_rethrows) {
    ThreadPool pool(2);
    pool.set_num_threads(4);
    CHECK(pool.num_threads() == 4);
    CHECK_THROWS(pool.run([](int tid, int) {
        if (tid == 2) throw std::runtime_error("boom");
    }));
    std::atomic<int> n{0};
    pool.run([&](int, int) { n.fetch_add(1); });  // still usable after an exception
    CHECK(n.load() == 4);
}

TEST(split_range_covers_aligned) {
    for (int nth = 1; nth <= 5; ++nth) {
        int64_t covered = 0, prev_end = 0;
        for (int tid = 0; tid < nth; ++tid) {
            int64_t b, e;
            split_range(1000, tid, nth, 64, &b, &e);
            CHECK(b == prev_end);
            CHECK(b % 64 == 0);
            covered += e - b;
            prev_end = e;
        }
        CHECK(covered == 1000);
    }
}

// Path selection: feature sets in, chosen path out. A path is chosen only when the CPU has every flag its files are
// compiled with (CMakeLists.txt PYSPARSE_ISA_FLAGS_*), and the OS saves the registers it uses.
TEST(isa_selection_needs_every_compiled_flag) {
    using namespace pysparse;
    CpuFeatures avx2;
    avx2.os_ymm = avx2.avx2 = avx2.fma = avx2.f16c = avx2.bmi2 = true;
    CpuFeatures avx512 = avx2;
    avx512.os_zmm = avx512.avx512f = avx512.avx512bw = avx512.avx512vl = avx512.avx512dq = true;

    CHECK(best_isa(path_support(CpuFeatures{})) == Isa::generic);
    CHECK(best_isa(path_support(avx2)) == Isa::avx2);
    CHECK(best_isa(path_support(avx512)) == Isa::avx512);
    // Each AVX2-file flag missing: no AVX2 path (and so no AVX-512 one).
    for (bool CpuFeatures::*flag : {&CpuFeatures::os_ymm, &CpuFeatures::avx2, &CpuFeatures::fma, &CpuFeatures::f16c,
                                    &CpuFeatures::bmi2}) {
        CpuFeatures f = avx512;
        f.*flag = false;
        CHECK(best_isa(path_support(f)) == Isa::generic);
    }
    // Each AVX-512 subset missing, or the OS not saving zmm: the AVX2 path.
    for (bool CpuFeatures::*flag : {&CpuFeatures::os_zmm, &CpuFeatures::avx512f, &CpuFeatures::avx512bw,
                                    &CpuFeatures::avx512vl, &CpuFeatures::avx512dq}) {
        CpuFeatures f = avx512;
        f.*flag = false;
        CHECK(best_isa(path_support(f)) == Isa::avx2);
    }
    // In-path features need their path.
    CpuFeatures f = avx2;
    f.avx512vnni = true;
    CHECK(!path_support(f).avx512_vnni);
    f = avx512;
    CHECK(!path_support(f).avx512_vnni);
    f.avx512vnni = true;
    CHECK(path_support(f).avx512_vnni);
    f = avx2;
    f.bmi2 = false;
    f.avx_vnni = true;
    CHECK(!path_support(f).avx_vnni);
    // aarch64: NEON is baseline; a build compiled for dotprod needs the CPU to have it.
    CpuFeatures arm;
    arm.neon = true;
    CHECK(best_isa(path_support(arm, false)) == Isa::neon);
    CHECK(best_isa(path_support(arm, true)) == Isa::generic);
    CHECK(!path_support(arm, false).neon_dotprod);
    arm.dotprod = true;
    CHECK(best_isa(path_support(arm, true)) == Isa::neon);
    CHECK(path_support(arm, false).neon_dotprod);  // *_neondot.cpp files run on a baseline build too
}

// The dispatch idiom (common/dispatch.h): the chain per ISA and features, and select_path's fallback on made-up sets.
TEST(dispatch_walks_the_path_chain) {
    auto chain = [](Isa isa, bool vnni, bool dotprod = false) {
        std::vector<KernelPath> v;
        for (KernelPath p : path_chain(isa, vnni, dotprod)) v.push_back(p);
        return v;
    };
    using P = KernelPath;
    CHECK(chain(Isa::generic, true, true) == std::vector<P>{P::generic});
    CHECK(chain(Isa::avx2, true) == (std::vector<P>{P::avx2, P::generic}));
    auto chain_vnni = [](Isa isa, bool vnni) {  // AVX-VNNI enabled: before AVX2 on both x86 chains
        std::vector<KernelPath> v;
        for (KernelPath p : path_chain(isa, vnni, false, true)) v.push_back(p);
        return v;
    };
    CHECK(chain_vnni(Isa::avx2, false) == (std::vector<P>{P::avx_vnni, P::avx2, P::generic}));
    CHECK(chain_vnni(Isa::avx512, true) ==
          (std::vector<P>{P::avx512_vnni, P::avx512, P::avx_vnni, P::avx2, P::generic}));
    CHECK(chain_vnni(Isa::neon, false) == (std::vector<P>{P::neon, P::generic}));
    CHECK(chain(Isa::neon, false) == (std::vector<P>{P::neon, P::generic}));
    CHECK(chain(Isa::neon, false, true) == (std::vector<P>{P::neon_dotprod, P::neon, P::generic}));
    CHECK(chain(Isa::avx512, true, true) ==
          (std::vector<P>{P::avx512_vnni, P::avx512, P::avx2, P::generic}));  // dotprod: aarch64 only
    CHECK(chain(Isa::avx512, false) == (std::vector<P>{P::avx512, P::avx2, P::generic}));
    CHECK(chain(Isa::avx512, true) == (std::vector<P>{P::avx512_vnni, P::avx512, P::avx2, P::generic}));

    struct Set { int (*a)(); TypeKernels<int (*)()> t; };
    static constexpr auto one = [] { return 1; };
    static constexpr auto two = [] { return 2; };
    static constexpr Set generic{+one, TypeKernels<int (*)()>{}.with(GGMLType::Q4_0, +one)};
    static constexpr Set avx2{nullptr, TypeKernels<int (*)()>{}.with(GGMLType::Q4_K, +two)};
    constexpr PathSets<Set> sets = PathSets<Set>{}.with(P::generic, &generic).with(P::avx2, &avx2);
    auto a = [](const Set& s) { return s.a; };
    auto t = [](GGMLType ty) { return [ty](const Set& s) { return s.t[ty]; }; };
    CHECK(select_path(sets, a, Isa::avx512)() == 1);                    // avx2 has none: generic's
    CHECK(select_path(sets, t(GGMLType::Q4_K), Isa::avx512)() == 2);    // avx512 (absent set) -> avx2
    CHECK(select_path(sets, t(GGMLType::Q4_K), Isa::generic) == nullptr);
    CHECK(select_path(sets, t(GGMLType::Q4_0), Isa::avx2)() == 1);
    CHECK(select_path(sets, t(GGMLType::Q2_K), Isa::avx2) == nullptr);  // no set has a kernel for the type
    CHECK(type_index(GGMLType::F32) == 0 && type_index(GGMLType::COUNT) == kTypeCount);
}
