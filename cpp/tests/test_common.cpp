#include <atomic>
#include <stdexcept>

#include <vector>

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
