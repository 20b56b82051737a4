#include "common/thread_pool.h"

#include <cstdlib>

#include "common/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PYSPARSE_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define PYSPARSE_PAUSE() asm volatile("yield")
#else
#define PYSPARSE_PAUSE() ((void)0)
#endif

namespace pysparse {

namespace {
// How long a worker spins before sleeping: long enough to catch the next matvec of a decode step
// (tens of microseconds apart), short enough not to burn a core between tokens.
constexpr int kSpinIters = 1 << 16;
// After this many pauses the caller, waiting for slices that workers have claimed, yields its core at each further
// check: the worker it waits for may be off-CPU on a busy machine.
constexpr int kSpinBeforeYield = 1 << 10;
}  // namespace

ThreadPool::ThreadPool(int num_threads) { start(num_threads < 1 ? 1 : num_threads); }

ThreadPool::~ThreadPool() { stop(); }

ThreadPool& ThreadPool::global() {
    static ThreadPool pool([] {
        if (const char* env = std::getenv("PYSPARSE_NUM_THREADS")) {
            int n = std::atoi(env);
            if (n >= 1) return n;
        }
        unsigned hc = std::thread::hardware_concurrency();
        return hc ? static_cast<int>(hc) : 1;
    }());
    return pool;
}

void ThreadPool::set_num_threads(int n) {
    if (n < 1 || n > 1024) throw ValueError("number of threads must be in [1, 1024], got " + std::to_string(n));
    std::lock_guard<std::mutex> lock(run_mutex_);
    if (n == num_threads()) return;
    stop();
    start(n);
}

void ThreadPool::start(int n) {
    quit_.store(false);
    nth_ = n;
    claimed_.reset(new std::atomic<uint64_t>[n]);
    for (int t = 0; t < n; ++t) claimed_[t].store(generation_.load());  // nothing of a future job claimed
    // Workers start from the generation current now: one that starts late must still see the next job as new.
    const uint64_t g0 = generation_.load();
    for (int tid = 1; tid < n; ++tid) workers_.emplace_back([this, tid, g0] { worker_loop(tid, g0); });
}

void ThreadPool::stop() {
    {
        std::lock_guard<std::mutex> lock(wake_mutex_);
        quit_.store(true);
    }
    wake_cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    nth_ = 1;
}

// A slice belongs to whoever first moves its mark from below `gen` to `gen`. A job completes only after all its
// slices were claimed, so a worker still holding an old generation can never claim a slice of a later job.
bool ThreadPool::claim(int tid, uint64_t gen) {
    uint64_t c = claimed_[tid].load(std::memory_order_acquire);
    while (c < gen)
        if (claimed_[tid].compare_exchange_weak(c, gen, std::memory_order_acq_rel)) return true;
    return false;
}

void ThreadPool::run_slice(int tid, int nth) {
    try {
        (*job_)(tid, nth);
    } catch (...) {
        std::lock_guard<std::mutex> el(error_mutex_);
        if (!error_) error_ = std::current_exception();
    }
    pending_.fetch_sub(1, std::memory_order_acq_rel);
}

void ThreadPool::run(const Job& job) {
    std::lock_guard<std::mutex> lock(run_mutex_);
    const int nth = num_threads();
    if (nth == 1) {
        job(0, 1);
        return;
    }
    error_ = nullptr;
    job_ = &job;
    pending_.store(nth - 1, std::memory_order_relaxed);
    uint64_t gen;
    {
        std::lock_guard<std::mutex> wl(wake_mutex_);
        gen = generation_.fetch_add(1, std::memory_order_release) + 1;
    }
    wake_cv_.notify_all();
    try {
        job(0, nth);
    } catch (...) {
        std::lock_guard<std::mutex> el(error_mutex_);
        if (!error_) error_ = std::current_exception();
    }
    for (int t = 1; t < nth; ++t)  // the slices no worker has started: ours now
        if (claim(t, gen)) run_slice(t, nth);
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
        if (spins < kSpinBeforeYield)
            PYSPARSE_PAUSE();
        else
            std::this_thread::yield();
    }
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
}

void ThreadPool::worker_loop(int tid, uint64_t seen) {
    for (;;) {
        // Spin first: decode issues many short jobs back to back.
        int spins = 0;
        uint64_t g;
        while ((g = generation_.load(std::memory_order_acquire)) == seen && !quit_.load(std::memory_order_relaxed)) {
            if (++spins < kSpinIters) {
                PYSPARSE_PAUSE();
                continue;
            }
            std::unique_lock<std::mutex> lock(wake_mutex_);
            wake_cv_.wait(lock, [&] {
                return generation_.load(std::memory_order_acquire) != seen || quit_.load(std::memory_order_relaxed);
            });
        }
        if (quit_.load(std::memory_order_relaxed)) return;
        seen = g;
        if (claim(tid, g)) run_slice(tid, nth_);
    }
}

}  // namespace pysparse
