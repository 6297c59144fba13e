/*
 * fibers.h (emulation): the CUDA threads of one block as fibers on the launching host
 * thread. A fiber runs until it reaches a barrier (__syncthreads, or a warp's shuffle, ballot or
 * __syncwarp) or returns; the scheduler then runs the next one; a barrier opens when every thread
 * it waits for has arrived. Why not one host thread per CUDA thread: on a 2-core machine each
 * barrier of a 256-thread block cost hundreds of context switches through the OS scheduler,
 * which made the emulated suite most of CI's time. Fibers switch in user space: on x86-64 with
 * the few instructions of fiber_switch below (callee-saved registers and the stack pointer;
 * glibc's swapcontext also saves the signal mask with a system call, which was most of the
 * time), elsewhere with ucontext.
 *
 * Deterministic, and stricter than threads: between two barriers the threads of a block run one
 * after another, in increasing order in even blocks and decreasing order in odd ones, so a
 * missing barrier (a thread reading what a neighbour writes in the same phase) reads unwritten
 * memory in one of the two orders instead of passing by luck. A barrier that can never open
 * (threads that returned, or waits at different barriers) stops the process with the kernel,
 * block and counts, where a GPU would hang or misbehave.
 */
#pragma once
#include <sys/mman.h>
#include <ucontext.h>

// Under AddressSanitizer (check.sh --asan) every switch is announced to it, so it tracks which
// stack is current, and a reused fiber stack is unpoisoned before its fresh frame is written.
#if defined(__SANITIZE_ADDRESS__)
#define LSHLAB_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LSHLAB_EMU_ASAN 1
#endif
#endif
#if LSHLAB_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

namespace emu {

#if defined(__x86_64__)
// fiber_switch(&from_sp, to_sp): pushes the System V callee-saved registers on the current stack,
// stores the stack pointer in *from_sp, loads to_sp and pops the registers saved there. Weak: every
// translation unit that includes this header emits it, the linker keeps one.
asm(R"(
  .text
  .weak lshlab_emu_fiber_switch
  .type lshlab_emu_fiber_switch, @function
lshlab_emu_fiber_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size lshlab_emu_fiber_switch, .-lshlab_emu_fiber_switch
)");
extern "C" void lshlab_emu_fiber_switch(void** from_sp, void* to_sp);
#endif

class BlockFibers {
 public:
  // Room for a kernel's locals; pages are committed only when touched (MAP_NORESERVE).
  static constexpr size_t kStack = 512 * 1024;

  ~BlockFibers() {
    for (Fiber& f : fibers_) munmap(f.stack, kStack);
  }

  // Runs f(t) for every t < nt (the block's linear thread ids); `before_resume(t)` is called each
  // time thread t is resumed (it sets threadIdx). Returns when all have returned. `kernel` and
  // `block` (x, y, z) name the block in an error message only (formatted then, not per block).
  void run(unsigned nt, bool reverse, const std::function<void(unsigned)>& f,
           const std::function<void(unsigned)>& before_resume, const char* kernel,
           const unsigned (&block)[3]) {
    while (fibers_.size() < nt) {
      void* s = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (s == MAP_FAILED) {
        std::fprintf(stderr, "emulation: kernel %s, block (%u, %u, %u): cannot map a fiber stack\n", kernel,
                     block[0], block[1], block[2]);
        std::abort();
      }
      fibers_.push_back(Fiber{static_cast<char*>(s)});
    }
    job_ = &f;
    const unsigned warps = (nt + 31) / 32;
    warp_waiting_.assign(warps, 0);
    block_waiting_ = 0;
    for (unsigned t = 0; t < nt; t++) start(fibers_[t]);
    unsigned done = 0;
    while (done < nt) {
      for (unsigned k = 0; k < nt; k++) {
        const unsigned t = reverse ? nt - 1 - k : k;
        if (fibers_[t].state != kReady) continue;
        current_ = t;
        before_resume(t);
        resume(fibers_[t]);
        if (fibers_[t].state == kDone) done++;
      }
      if (done == nt) break;
      bool opened = false;
      if (block_waiting_ == nt) {  // everyone at __syncthreads
        for (unsigned t = 0; t < nt; t++) fibers_[t].state = kReady;
        block_waiting_ = 0;
        opened = true;
      }
      for (unsigned w = 0; w < warps; w++) {
        const unsigned lanes = nt - 32 * w < 32 ? nt - 32 * w : 32;
        if (warp_waiting_[w] != lanes) continue;
        for (unsigned t = 32 * w; t < 32 * w + lanes; t++) fibers_[t].state = kReady;
        warp_waiting_[w] = 0;
        opened = true;
      }
      if (!opened) {
        unsigned at_warp = 0;
        for (unsigned w = 0; w < warps; w++) at_warp += warp_waiting_[w];
        std::fprintf(stderr, "emulation: kernel %s, block (%u, %u, %u): no barrier can open: %u threads "
                     "wait at __syncthreads, %u at a warp barrier, %u returned (a GPU would hang here)\n",
                     kernel, block[0], block[1], block[2], block_waiting_, at_warp, done);
        std::abort();
      }
    }
  }

  // Called from inside a fiber.
  void block_sync() { wait(kAtBlock); }
  void warp_sync() { wait(kAtWarp); }

 private:
  enum State { kReady, kAtBlock, kAtWarp, kDone };
  struct Fiber {
    char* stack;
    State state = kDone;
    void* asan_fake = nullptr;  // AddressSanitizer's fake stack of the suspended fiber
#if defined(__x86_64__)
    void* sp = nullptr;
#else
    ucontext_t ctx{};
#endif
  };

  static void main_of_fiber();  // defined below: the job, then back to the scheduler for good

#if defined(__x86_64__)
  // A fresh stack that fiber_switch "returns" into main_of_fiber with the stack aligned as after
  // a call: six zero registers, main_of_fiber's address, a zero return address at the 16-aligned top.
  void start(Fiber& fb) {
#if LSHLAB_EMU_ASAN
    ASAN_UNPOISON_MEMORY_REGION(fb.stack, kStack);  // the last user's frames left poison
#endif
    auto* top = reinterpret_cast<void**>(fb.stack + kStack);
    top[-1] = nullptr;
    top[-2] = reinterpret_cast<void*>(&BlockFibers::main_of_fiber);
    for (int r = 3; r <= 8; r++) top[-r] = nullptr;
    fb.sp = top - 8;
    fb.state = kReady;
  }
  void switch_to_fiber(Fiber& fb) { lshlab_emu_fiber_switch(&scheduler_sp_, fb.sp); }
  void switch_to_scheduler(Fiber& fb) { lshlab_emu_fiber_switch(&fb.sp, scheduler_sp_); }
  void* scheduler_sp_ = nullptr;
#else
  void start(Fiber& fb) {
#if LSHLAB_EMU_ASAN
    ASAN_UNPOISON_MEMORY_REGION(fb.stack, kStack);
#endif
    getcontext(&fb.ctx);
    fb.ctx.uc_stack.ss_sp = fb.stack;
    fb.ctx.uc_stack.ss_size = kStack;
    fb.ctx.uc_link = nullptr;
    makecontext(&fb.ctx, &BlockFibers::main_of_fiber, 0);
    fb.state = kReady;
  }
  void switch_to_fiber(Fiber& fb) { swapcontext(&scheduler_, &fb.ctx); }
  void switch_to_scheduler(Fiber& fb) { swapcontext(&fb.ctx, &scheduler_); }
  ucontext_t scheduler_{};
#endif

  // The scheduler resumes a fiber; a fiber yields (for good when it has returned).
  void resume(Fiber& fb) {
#if LSHLAB_EMU_ASAN
    __sanitizer_start_switch_fiber(&scheduler_fake_, fb.stack, kStack);
#endif
    switch_to_fiber(fb);
#if LSHLAB_EMU_ASAN
    __sanitizer_finish_switch_fiber(scheduler_fake_, nullptr, nullptr);
#endif
  }
  void yield(Fiber& fb, bool for_good = false) {
#if LSHLAB_EMU_ASAN
    __sanitizer_start_switch_fiber(for_good ? nullptr : &fb.asan_fake, scheduler_bottom_, scheduler_size_);
#endif
    (void)for_good;
    switch_to_scheduler(fb);
#if LSHLAB_EMU_ASAN
    __sanitizer_finish_switch_fiber(fb.asan_fake, nullptr, nullptr);
#endif
  }
  // First thing on a fresh fiber: under ASan, completes the switch and learns the scheduler's stack.
  void entered() {
#if LSHLAB_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &scheduler_bottom_, &scheduler_size_);
#endif
  }
#if LSHLAB_EMU_ASAN
  void* scheduler_fake_ = nullptr;
  const void* scheduler_bottom_ = nullptr;
  size_t scheduler_size_ = 0;
#endif

  void wait(State at) {
    Fiber& fb = fibers_[current_];
    fb.state = at;
    if (at == kAtBlock) block_waiting_++;
    else warp_waiting_[current_ / 32]++;
    yield(fb);
  }

  std::vector<Fiber> fibers_;
  const std::function<void(unsigned)>* job_ = nullptr;
  unsigned current_ = 0, block_waiting_ = 0;
  std::vector<unsigned> warp_waiting_;
};

// One scheduler for the process: launches run one at a time (emu::launch_mutex), each wholly on
// its caller's thread. A plain global, not thread_local: TLS lookups in a shared library cost a
// call each, and a fiber reads it at every barrier.
inline BlockFibers block_fibers;

inline void BlockFibers::main_of_fiber() {
  BlockFibers& b = block_fibers;
  b.entered();
  const unsigned t = b.current_;
  (*b.job_)(t);
  b.fibers_[t].state = kDone;
  b.yield(b.fibers_[t], true);  // never resumed: start() gives the stack a fresh frame next time
  std::abort();
}

}  // namespace emu
