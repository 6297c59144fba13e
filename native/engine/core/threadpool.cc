/*
 * threadpool.cc: the fixed worker pool behind ThreadPool::parallel_for and the process-wide
 * ThreadPool::global(). Does not schedule anything beyond one flat parallel_for at a time: no
 * futures, no work stealing, no nesting (a parallel_for from inside a task runs serially).
 *
 * Handshake (why it looks like this): parallel_for is called thousands of times per training
 * step with jobs of ~0.1-10 ms, so a call must cost no allocation and, in the common case, no
 * syscall. The caller publishes the job by bumping an atomic generation; workers spin on it for
 * a short while (kSpinIters) and only then sleep on a condition variable. Every worker checks
 * in (pending_) for every generation, so a job's fn/counter are never touched after the call
 * returns. Sleep/wake go through mu_ with the predicate re-checked under the lock, so no wakeup
 * can be lost. (The header's generation_/active_ fields are unused: the atomics gen_/pending_
 * replace them so the fast path needs no lock.)
 */
#include "core/threadpool.h"

#include <cstdlib>
#include <memory>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define LSHLAB_CPU_RELAX() _mm_pause()
#else
#define LSHLAB_CPU_RELAX() std::this_thread::yield()
#endif

namespace lshlab {

namespace {
// ~2000 pauses (tens of us) bridge the gap between back-to-back GEMMs of one training step
// without a futex wake (~15 us) per call, yet do not burn a core between steps.
constexpr int kSpinIters = 2000;

// One spin step. Every 64th yields the core: on an oversubscribed machine (measured: load 8 on
// 2 cores) pure spinning starved the very thread being waited for (~100 us per call instead
// of ~10); on an idle one the yield returns at once.
inline void spin_step(int i) {
  if ((i & 63) == 63)
    std::this_thread::yield();
  else
    LSHLAB_CPU_RELAX();
}
// Depth of parallel_for on this thread; > 0 means "inside a task": run nested calls serially.
thread_local int tl_depth = 0;

struct DepthGuard {
  DepthGuard() { ++tl_depth; }
  ~DepthGuard() { --tl_depth; }
};
}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(num_threads < 1 ? 1 : num_threads) {
  next_ = &next_task_;
  workers_.reserve(num_threads_ - 1);
  for (int i = 1; i < num_threads_; i++) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    gen_.fetch_add(1, std::memory_order_release);
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_tasks() {
  const int n = job_tasks_;
  const std::function<void(int)>& fn = *job_;
  for (;;) {
    int t = next_->fetch_add(1, std::memory_order_relaxed);
    if (t >= n) break;
    try {
      fn(t);
    } catch (...) {
      std::lock_guard<std::mutex> lk(err_mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker_loop(int /*id*/) {
  tl_depth = 1;  // anything a worker runs is "inside a task"
  long seen = 0;
  for (;;) {
    long g = gen_.load(std::memory_order_acquire);
    for (int i = 0; i < kSpinIters && g == seen; i++) {
      spin_step(i);
      g = gen_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lk(mu_);
      sleeping_++;
      cv_start_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen; });
      sleeping_--;
      g = gen_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_) return;  // stop_ is written before the generation bump that woke us
    run_tasks();
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lk(mu_);
      if (caller_waiting_) cv_done_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int num_tasks, const std::function<void(int task)>& fn) {
  if (num_tasks <= 0) return;
  // Serial paths: a one-thread pool, a single task, or a nested call from inside a task.
  if (num_threads_ == 1 || num_tasks == 1 || tl_depth > 0) {
    DepthGuard g;
    for (int t = 0; t < num_tasks; t++) fn(t);
    return;
  }
  std::lock_guard<std::mutex> call_lk(call_mu_);  // two outside threads never share a job
  DepthGuard depth;
  job_ = &fn;
  job_tasks_ = num_tasks;
  next_->store(0, std::memory_order_relaxed);
  pending_.store(num_threads_ - 1, std::memory_order_relaxed);
  bool wake;
  {
    std::lock_guard<std::mutex> lk(mu_);
    gen_.fetch_add(1, std::memory_order_release);  // publishes job_, job_tasks_, counters
    wake = sleeping_ > 0;
  }
  if (wake) cv_start_.notify_all();

  run_tasks();

  for (int i = 0; i < kSpinIters * 4 && pending_.load(std::memory_order_acquire) != 0; i++)
    spin_step(i);
  if (pending_.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lk(mu_);
    caller_waiting_ = true;
    cv_done_.wait(lk, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    caller_waiting_ = false;
  }
  job_ = nullptr;
  if (error_) {
    std::exception_ptr e;
    {
      std::lock_guard<std::mutex> lk(err_mu_);
      std::swap(e, error_);
    }
    std::rethrow_exception(e);
  }
}

namespace {
std::mutex g_global_mu;
std::unique_ptr<ThreadPool> g_global;

int hardware_threads() {
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

// The lazily created pool honours LSHLAB_THREADS; an explicit set_global_threads() wins over it.
int default_threads() {
  if (const char* env = std::getenv("LSHLAB_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 1024) return static_cast<int>(v);
  }
  return hardware_threads();
}
}  // namespace

ThreadPool& ThreadPool::global() {
  std::lock_guard<std::mutex> lk(g_global_mu);
  if (!g_global) g_global.reset(new ThreadPool(default_threads()));
  return *g_global;
}

void ThreadPool::set_global_threads(int n) {
  std::lock_guard<std::mutex> lk(g_global_mu);
  g_global.reset();  // joins the old workers before the new ones start
  g_global.reset(new ThreadPool(n <= 0 ? hardware_threads() : n));
}

}  // namespace lshlab
