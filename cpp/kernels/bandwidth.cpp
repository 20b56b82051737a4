#include "kernels/bandwidth.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "common/aligned_bytes.h"
#include "common/cpu.h"
#include "common/dispatch.h"
#include "common/error.h"
#include "common/thread_pool.h"

namespace pysparse {

uint64_t sum_words_generic(const uint64_t* p, size_t n) {
    // 16 independent lanes: the compiler vectorises this with the baseline ISA (SSE2 / NEON).
    uint64_t acc[16] = {};
    for (size_t i = 0; i < n; i += 16)
        for (int k = 0; k < 16; ++k) acc[k] += p[i + k];
    uint64_t s = 0;
    for (uint64_t a : acc) s += a;
    return s;
}

constexpr BandwidthKernels kBandwidthGeneric = {sum_words_generic};

namespace {

using SumFn = uint64_t (*)(const uint64_t*, size_t);

constexpr PathSets<BandwidthKernels> kBandwidthSets = PathSets<BandwidthKernels>{}
    .with(KernelPath::generic, &kBandwidthGeneric)
#if defined(PYSPARSE_X86)
    .with(KernelPath::avx2, &kBandwidthAvx2)
#endif
    ;

SumFn pick_sum() {
    return select_path(kBandwidthSets, [](const BandwidthKernels& k) { return k.sum_words; });
}

}  // namespace

double measure_read_bandwidth(size_t bytes, int threads, int reps) {
    if (bytes < 4096 || bytes > (size_t(1) << 40))
        throw ValueError("bytes must be in [4096, 2^40], got " + std::to_string(bytes));
    if (threads < 1 || threads > 1024) throw ValueError("threads must be in [1, 1024], got " + std::to_string(threads));
    if (reps < 1 || reps > 100000) throw ValueError("reps must be in [1, 100000], got " + std::to_string(reps));

    // 128 words (1 KiB) per unit, so every thread's slice is whole cache lines and a multiple of the loop step.
    constexpr size_t kUnit = 128;
    const size_t words = bytes / 8 / kUnit * kUnit;
    // On huge pages where the OS gives them (common/aligned_bytes.h), as the weights the kernels stream: numpy
    // arrays (numpy advises huge pages for large arrays), repacked matrices, and a model file's page-cache folios.
    // On 4 KiB pages this probe read ~35% less than those (21 vs 33 GB/s on Zen 4), and every "% of bandwidth"
    // figure measured against it was flattered by as much.
    AlignedBytes buf(words * 8);
    uint64_t* p = reinterpret_cast<uint64_t*>(buf.data());

    ThreadPool& pool = ThreadPool::global();
    const int before = pool.num_threads();
    pool.set_num_threads(threads);
    const SumFn sum = pick_sum();
    std::vector<uint64_t> sinks(size_t(threads) * 8, 0);  // one cache line per thread: no false sharing
    std::vector<double> seconds;
    try {
        // Each thread first-touches (writes) its own slice, as it will read it: pages land near that thread.
        pool.run([&](int tid, int nth) {
            int64_t b, e;
            split_range((int64_t)words, tid, nth, kUnit, &b, &e);
            for (int64_t i = b; i < e; ++i) p[i] = (uint64_t)i * 0x9E3779B97F4A7C15ull;
        });
        for (int r = -1; r < reps; ++r) {  // r = -1: warm-up
            const auto t0 = std::chrono::steady_clock::now();
            pool.run([&](int tid, int nth) {
                int64_t b, e;
                split_range((int64_t)words, tid, nth, kUnit, &b, &e);
                sinks[size_t(tid) * 8] += sum(p + b, size_t(e - b));
            });
            const auto t1 = std::chrono::steady_clock::now();
            if (r >= 0) seconds.push_back(std::chrono::duration<double>(t1 - t0).count());
        }
    } catch (...) {
        pool.set_num_threads(before);
        throw;
    }
    pool.set_num_threads(before);
    // The sums must be used, or the loads could be optimised away.
    uint64_t total = 0;
    for (uint64_t s : sinks) total += s;
    asm volatile("" : : "r"(total) : "memory");

    std::sort(seconds.begin(), seconds.end());
    const size_t m = seconds.size();
    const double med = m % 2 ? seconds[m / 2] : 0.5 * (seconds[m / 2 - 1] + seconds[m / 2]);
    return (double)(words * 8) / med / 1e9;
}

}  // namespace pysparse
