/*
 * graph.cu: what makes a training step capturable as a CUDA graph and replayable (issue 10):
 *
 *   set_step_constants   this host thread's device step constants (lshlab_cuda_step_constants):
 *                        dropout masks read seed and step from them when the kernel runs
 *                        (dropout.cuh), so a replayed graph draws this step's masks, not the
 *                        capture's
 *   graph_capture_begin  this thread's entries go to a capture stream of its own (stream() returns
 *                        it), captured in relaxed mode: other threads' work on the library's
 *                        stream is neither captured nor disturbed
 *   graph_capture_end    ends the capture, instantiates the graph
 *   graph_launch         replays it on the library's stream, unless library-owned scratch that
 *                        it points at was reallocated since (then *launched = 0: capture again)
 *   graph_destroy
 *
 * No kernels here (a .cu file so the emulation's scripts, which compile *.cu, pick it up).
 */
#include <atomic>

#include "backend.h"

namespace lshlab_cuda {
namespace {

thread_local const lshlab_cuda_step_constants* t_step_constants = nullptr;
thread_local cudaStream_t t_capture_stream = nullptr;  // created on this thread's first capture
thread_local bool t_capturing = false;
std::atomic<uint64_t> g_scratch_generation{0};

// An executable graph and the scratch generation it was captured with.
struct Graph {
  cudaGraphExec_t exec = nullptr;
  uint64_t scratch_generation = 0;
};

}  // namespace

cudaStream_t capture_stream() { return t_capturing ? t_capture_stream : nullptr; }
const lshlab_cuda_step_constants* step_constants() { return t_step_constants; }
void bump_scratch_generation() { g_scratch_generation++; }

int set_step_constants(const lshlab_cuda_step_constants* device_constants) {
  clear_error();
  t_step_constants = device_constants;
  return 0;
}

int graph_capture_begin() {
  clear_error();
  if (t_capturing) return fail(1, "graph_capture_begin", "this thread is already capturing");
  if (!t_capture_stream)
    if (int rc = check(cudaStreamCreateWithFlags(&t_capture_stream, cudaStreamNonBlocking),
                       "cudaStreamCreateWithFlags(capture stream)"))
      return rc;
  if (int rc = check(cudaStreamBeginCapture(t_capture_stream, cudaStreamCaptureModeRelaxed),
                     "cudaStreamBeginCapture"))
    return rc;
  t_capturing = true;
  return 0;
}

int graph_capture_end(void** graph) {
  clear_error();
  *graph = nullptr;
  if (!t_capturing) return fail(1, "graph_capture_end", "this thread is not capturing");
  t_capturing = false;
  cudaGraph_t g = nullptr;
  // Ends the capture even when it was invalidated (then g is null and the error says why).
  if (int rc = check(cudaStreamEndCapture(t_capture_stream, &g), "cudaStreamEndCapture")) {
    if (g) cudaGraphDestroy(g);
    return rc;
  }
  cudaGraphExec_t exec = nullptr;
  const int rc = check(cudaGraphInstantiate(&exec, g, 0), "cudaGraphInstantiate");
  cudaGraphDestroy(g);  // the executable graph is independent of it
  if (rc) return rc;
  *graph = new Graph{exec, g_scratch_generation.load()};
  return 0;
}

int graph_launch(void* graph, int* launched) {
  clear_error();
  *launched = 0;
  Graph* gr = static_cast<Graph*>(graph);
  if (!gr) return fail(1, "graph_launch", "no graph");
  if (gr->scratch_generation != g_scratch_generation.load()) return 0;  // stale: capture again
  if (int rc = check(cudaGraphLaunch(gr->exec, stream()), "cudaGraphLaunch")) return rc;
  *launched = 1;
  return 0;
}

int graph_destroy(void* graph) {
  clear_error();
  Graph* gr = static_cast<Graph*>(graph);
  if (!gr) return 0;
  const int rc = check(cudaGraphExecDestroy(gr->exec), "cudaGraphExecDestroy");
  delete gr;
  return rc;
}

}  // namespace lshlab_cuda
