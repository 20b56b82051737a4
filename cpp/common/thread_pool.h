// A persistent thread pool for decode-time kernels. A decode matvec takes microseconds, so threads are created
// once and wait (spin briefly, then sleep) for the next job; no per-call thread creation.
// Work is split by the caller with split_range(): each thread owns a contiguous slice of the outputs, so results
// are deterministic and need no atomics or reductions.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pysparse {

class ThreadPool {
public:
    using Job = std::function<void(int tid, int nth)>;

    explicit ThreadPool(int num_threads = 1);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    // The pool used by the Python API. Its size starts at PYSPARSE_NUM_THREADS, else hardware concurrency.
    static ThreadPool& global();

    void set_num_threads(int n);  // total threads, the calling thread included; n >= 1
    int num_threads() const { return nth_; }

    // Runs job(tid, nth) on every thread (the caller is tid 0) and returns when all have finished.
    // An exception thrown by any thread is rethrown here. Calls from several threads are serialised.
    void run(const Job& job);

private:
    void worker_loop(int tid, uint64_t seen);
    void start(int n);
    void stop();

    std::vector<std::thread> workers_;
    int nth_ = 1;  // workers_.size() + 1, fixed while a job runs
    std::mutex run_mutex_;  // one job at a time
    std::mutex wake_mutex_;
    std::condition_variable wake_cv_;
    const Job* job_ = nullptr;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> quit_{false};
    std::exception_ptr error_;
    std::mutex error_mutex_;
};

// Splits [0, n) into nth contiguous slices whose boundaries are multiples of `align` (except the end).
inline void split_range(int64_t n, int tid, int nth, int64_t align, int64_t* begin, int64_t* end) {
    int64_t units = (n + align - 1) / align;
    int64_t per = units / nth, extra = units % nth;
    int64_t ub = tid * per + (tid < extra ? tid : extra);
    int64_t ue = ub + per + (tid < extra ? 1 : 0);
    *begin = ub * align < n ? ub * align : n;
    *end = ue * align < n ? ue * align : n;
}

}  // namespace pysparse
