/*
 * threadpool.h: a fixed pool of worker threads with a blocking parallel_for.
 * One process-wide pool (ThreadPool::global()) whose size the user sets (--threads); every
 * multi-threaded op runs through it. Not a task scheduler: no futures, no nesting (a
 * parallel_for called from inside a worker runs serially).
 */
#pragma once
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lshlab {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(task) for task in [0, num_tasks) spread over the pool (the caller's thread works
  // too) and returns when all are done. Tasks are handed out dynamically (atomic counter).
  void parallel_for(int num_tasks, const std::function<void(int task)>& fn);

  // The process-wide pool. set_global_threads() rebuilds it; 0 means "hardware concurrency".
  static ThreadPool& global();
  static void set_global_threads(int n);

 private:
  void worker_loop(int id);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_, cv_done_;
  const std::function<void(int)>* job_ = nullptr;
  int job_tasks_ = 0;
  long generation_ = 0;
  int active_ = 0;
  bool stop_ = false;
  std::atomic_int* next_ = nullptr;

  // Private additions (threadpool.cc): the hot handshake runs on atomics so a call costs no
  // allocation and, while workers are still spinning, no syscall.
  void run_tasks();                       // claim tasks until none are left (caller or worker)
  std::atomic_int next_task_{0};          // next_ points here
  std::atomic<long> gen_{0};              // published generation; workers spin/wait on it
  std::atomic_int pending_{0};            // workers that have not finished the current job
  int sleeping_ = 0;                      // workers blocked on cv_start_ (guarded by mu_)
  bool caller_waiting_ = false;           // caller blocked on cv_done_ (guarded by mu_)
  std::mutex call_mu_;                    // serialises parallel_for calls from outside threads
  std::mutex err_mu_;
  std::exception_ptr error_;              // first exception thrown by a task, rethrown by caller
};

}  // namespace lshlab
