// A persistent thread pool for decode-time kernels. A decode matvec takes microseconds, so threads are created
// once and wait (spin briefly, then sleep) for the next job; no per-call thread creation.
// Work is split by the caller with split_range(): each slice `tid` of a job is a contiguous part of the outputs, so
// results are deterministic and need no atomics or reductions. A slice runs exactly once, normally on thread tid;
// the calling thread, done with its own, also runs every slice that no worker has claimed yet (a worker that is
// off-CPU because the machine has more runnable threads than cores would otherwise stall every job until the
// scheduler gives it a core: 2-thread decode fell from ~180 to 1.4-8 tokens/s beside two other jobs on 2 cores).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
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

    // Runs job(tid, nth) once for every tid in [0, nth) (tid 0 on the caller; the others on the workers, or on the
    // caller when a worker has not claimed its slice in time) and returns when all have finished. A job must not
    // rely on slices running concurrently. An exception thrown by any slice is rethrown here. Calls from several
    // threads are serialised.
    void run(const Job& job);

private:
    void worker_loop(int tid, uint64_t seen);
    bool claim(int tid, uint64_t gen);  // slice tid of job `gen` for the caller: false if someone has it
    void run_slice(int tid, int nth);
    void start(int n);
    void stop();

    std::vector<std::thread> workers_;
    int nth_ = 1;  // workers_.size() + 1, fixed while a job runs
    std::mutex run_mutex_;  // one job at a time
    std::mutex wake_mutex_;
    std::condition_variable wake_cv_;
    const Job* job_ = nullptr;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};     // worker slices of the current job not finished yet
    std::unique_ptr<std::atomic<uint64_t>[]> claimed_;  // per tid: the generation whose slice was last claimed
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
