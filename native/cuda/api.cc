/*
 * api.cc: the CUDA backend library's entry point: lshlab_cuda_get_api() and the parts of the
 * ABI table that are plain CUDA runtime calls (devices, memory, events, the stream, errors).
 * The kernels live in the other files of native/cuda/; this file only wires them in.
 *
 * The CUDA runtime is linked statically, so the library needs only the NVIDIA driver
 * (libcuda.so.1, opened by the runtime at the first call) and libcublasLt at run time. On a
 * machine without a driver the first runtime call returns cudaErrorInsufficientDriver (35):
 * that is a normal answer ("no NVIDIA driver"), not a crash.
 */
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "backend.h"

#ifndef LSHLAB_CUDA_BUILD_INFO
#define LSHLAB_CUDA_BUILD_INFO "unknown build"
#endif

namespace lshlab_cuda {

namespace {
thread_local std::string g_error;
std::once_flag g_stream_once;
cudaStream_t g_stream = nullptr;
cudaError_t g_stream_error = cudaSuccess;
}  // namespace

const char* last_error() { return g_error.c_str(); }
void clear_error() { g_error.clear(); }

int fail(int code, const char* what, const char* detail) {
  g_error = std::string(what) + ": " + detail + " (" + std::to_string(code) + ")";
  return code;
}

int check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return 0;
  return fail(int(e), what, cudaGetErrorString(e));
}

size_t smem_optin_bytes() {
  int dev = 0, bytes = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
    return 0;
  return size_t(bytes);
}

int check_launch(const char* kernel) { return check(cudaGetLastError(), kernel); }

cudaStream_t stream() {
  if (cudaStream_t s = capture_stream()) return s;  // this thread captures a graph (graph.cu)
  std::call_once(g_stream_once, [] {
    g_stream_error = cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking);
  });
  // On failure ops fall back to the legacy stream; the failure surfaces in their launch checks.
  return g_stream_error == cudaSuccess ? g_stream : nullptr;
}

namespace {

int device_count(int* count) {
  clear_error();
  *count = 0;
  return check(cudaGetDeviceCount(count), "cudaGetDeviceCount");
}

int device_info(int index, lshlab_cuda_device_info* out) {
  clear_error();
  cudaDeviceProp p;
  if (int rc = check(cudaGetDeviceProperties(&p, index), "cudaGetDeviceProperties")) return rc;
  std::memset(out, 0, sizeof(*out));
  std::snprintf(out->name, sizeof(out->name), "%s", p.name);
  out->total_memory = uint64_t(p.totalGlobalMem);
  out->cc_major = p.major;
  out->cc_minor = p.minor;
  out->multiprocessors = p.multiProcessorCount;
  return 0;
}

int set_device(int index) {
  clear_error();
  return check(cudaSetDevice(index), "cudaSetDevice");
}

int dev_malloc(void** ptr, size_t bytes) {
  clear_error();
  *ptr = nullptr;
  const int rc = check(cudaMalloc(ptr, bytes == 0 ? 1 : bytes), "cudaMalloc");
  // Out of memory is not sticky, but cudaGetLastError keeps it: clear it, or the next kernel's
  // launch check would report it (bench train's peak search allocates until it fails).
  if (rc) (void)cudaGetLastError();
  return rc;
}

int dev_free(void* ptr) {
  clear_error();
  return check(cudaFree(ptr), "cudaFree");
}

int copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* what) {
  clear_error();
  if (int rc = check(cudaMemcpyAsync(dst, src, bytes, kind, stream()), what)) return rc;
  return check(cudaStreamSynchronize(stream()), what);
}
// Host to device: stream-ordered, no wait for the device. The engine's host buffers are pageable,
// and from pageable memory cudaMemcpyAsync returns once the driver has staged the source (CUDA
// Runtime API, "API synchronization behavior"), so the caller may reuse it at once. Without
// this, a training step waited twice: for its batch upload and for its loss.
int memcpy_h2d(void* dst, const void* src, size_t bytes) {
  clear_error();
  if (bytes == 0) return 0;
  return check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync host to device");
}
int memcpy_d2h(void* dst, const void* src, size_t bytes) {
  return copy(dst, src, bytes, cudaMemcpyDeviceToHost, "cudaMemcpy device to host");
}

// Device to device: stream-ordered, no host synchronisation (unlike the host copies above).
int memcpy_d2d(void* dst, const void* src, size_t bytes) {
  clear_error();
  if (bytes == 0) return 0;
  return check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()),
               "cudaMemcpyAsync device to device");
}

int dev_memset(void* ptr, int value, size_t bytes) {
  clear_error();
  return check(cudaMemsetAsync(ptr, value, bytes, stream()), "cudaMemsetAsync");
}

int synchronize() {
  clear_error();
  return check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize");
}

int event_create(void** event) {
  clear_error();
  cudaEvent_t e = nullptr;
  int rc = check(cudaEventCreate(&e), "cudaEventCreate");
  *event = e;
  return rc;
}
int event_destroy(void* event) {
  clear_error();
  return check(cudaEventDestroy(static_cast<cudaEvent_t>(event)), "cudaEventDestroy");
}
int event_record(void* event) {
  clear_error();
  return check(cudaEventRecord(static_cast<cudaEvent_t>(event), stream()), "cudaEventRecord");
}
thread_local void* g_stage_mark = nullptr;  // per host thread, as the device and precision
int stage_mark_once(void* event) {
  clear_error();
  g_stage_mark = event;
  return 0;
}
int event_elapsed_ms(float* ms, void* start, void* end) {
  clear_error();
  if (int rc = check(cudaEventSynchronize(static_cast<cudaEvent_t>(end)), "cudaEventSynchronize"))
    return rc;
  return check(cudaEventElapsedTime(ms, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(end)),
               "cudaEventElapsedTime");
}

// Device-wide free and total bytes: what `bench train` reads before and after the steps.
int mem_get_info(size_t* free_bytes, size_t* total_bytes) {
  clear_error();
  *free_bytes = *total_bytes = 0;
  return check(cudaMemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo");
}

lshlab_cuda_api_v1 make_api() {
  lshlab_cuda_api_v1 a;
  std::memset(&a, 0, sizeof(a));
  a.abi_version = LSHLAB_CUDA_ABI_VERSION;
  a.struct_size = sizeof(lshlab_cuda_api_v1);
  a.build_info = LSHLAB_CUDA_BUILD_INFO;
  a.last_error = &lshlab_cuda::last_error;
  a.device_count = &device_count;
  a.device_info = &device_info;
  a.set_device = &set_device;
  a.malloc = &dev_malloc;
  a.free = &dev_free;
  a.memcpy_h2d = &memcpy_h2d;
  a.memcpy_d2h = &memcpy_d2h;
  a.memset = &dev_memset;
  a.synchronize = &synchronize;
  a.event_create = &event_create;
  a.event_destroy = &event_destroy;
  a.event_record = &event_record;
  a.event_elapsed_ms = &event_elapsed_ms;
  a.layernorm_forward = &lshlab_cuda::layernorm_forward;
  a.layernorm_backward = &lshlab_cuda::layernorm_backward;
  a.gelu_forward = &lshlab_cuda::gelu_forward;
  a.gelu_backward = &lshlab_cuda::gelu_backward;
  a.cross_entropy_forward_backward = &lshlab_cuda::cross_entropy_forward_backward;
  a.adamw_update = &lshlab_cuda::adamw_update;
  a.gemm = &lshlab_cuda::gemm;
  a.attention_forward = &lshlab_cuda::attention_forward;
  a.attention_backward = &lshlab_cuda::attention_backward;
  a.memcpy_d2d = &memcpy_d2d;
  a.embeddings_forward = &lshlab_cuda::embeddings_forward;
  a.rows_segment_sum = &lshlab_cuda::rows_segment_sum;
  a.dropout_add_forward = &lshlab_cuda::dropout_add_forward;
  a.dropout_backward = &lshlab_cuda::dropout_backward;
  a.bias_backward = &lshlab_cuda::bias_backward;
  a.tanh_forward = &lshlab_cuda::tanh_forward;
  a.tanh_backward = &lshlab_cuda::tanh_backward;
  a.gather_rows = &lshlab_cuda::gather_rows;
  a.scatter_rows = &lshlab_cuda::scatter_rows;
  a.sum_squares = &lshlab_cuda::sum_squares;
  a.adamw_update_clipped = &lshlab_cuda::adamw_update_clipped;
  a.yoso_workspace_size = &lshlab_cuda::yoso_workspace_size;
  a.yoso_forward = &lshlab_cuda::yoso_forward;
  a.yoso_backward = &lshlab_cuda::yoso_backward;
  a.yoso_e_forward = &lshlab_cuda::yoso_e_forward;
  a.yoso_e_backward = &lshlab_cuda::yoso_e_backward;
  a.yoso_conv_forward = &lshlab_cuda::yoso_conv_forward;
  a.yoso_conv_backward = &lshlab_cuda::yoso_conv_backward;
  // ---- bert-lsh ----
  a.bert_lsh_workspace_size = &lshlab_cuda::bert_lsh_workspace_size;
  a.bert_lsh_forward = &lshlab_cuda::bert_lsh_forward;
  a.bert_lsh_backward = &lshlab_cuda::bert_lsh_backward;
  // ---- reformer ----
  a.reformer_sizes = &lshlab_cuda::reformer_sizes;
  a.reformer_forward = &lshlab_cuda::reformer_forward;
  a.reformer_backward = &lshlab_cuda::reformer_backward;
  // ---- GEMM precision ----
  a.gemm_set_precision = &lshlab_cuda::gemm_set_precision;
  a.mem_get_info = &mem_get_info;
  a.adamw_update_chunks = &lshlab_cuda::adamw_update_chunks;
  a.stage_mark_once = &stage_mark_once;
  a.attention_forward_bf16 = &lshlab_cuda::attention_forward_bf16;
  a.attention_backward_bf16 = &lshlab_cuda::attention_backward_bf16;
  // ---- the capturable step (graph.cu) ----
  a.set_step_constants = &lshlab_cuda::set_step_constants;
  a.adamw_update_chunks_device = &lshlab_cuda::adamw_update_chunks_device;
  a.cross_entropy_forward_backward_device = &lshlab_cuda::cross_entropy_forward_backward_device;
  a.graph_capture_begin = &lshlab_cuda::graph_capture_begin;
  a.graph_capture_end = &lshlab_cuda::graph_capture_end;
  a.graph_launch = &lshlab_cuda::graph_launch;
  a.graph_destroy = &lshlab_cuda::graph_destroy;
  a.hash_draws_device = 1;  // hash_draw.cuh
  return a;
}

const lshlab_cuda_api_v1 g_api_v1 = make_api();

}  // namespace

void* take_stage_mark() {
  void* m = g_stage_mark;
  g_stage_mark = nullptr;
  return m;
}
int record_stage_mark(void* mark) {
  return mark ? check(cudaEventRecord(static_cast<cudaEvent_t>(mark), stream()), "cudaEventRecord") : 0;
}

}  // namespace lshlab_cuda

extern "C" LSHLAB_CUDA_EXPORT const void* lshlab_cuda_get_api(int abi_version) {
  return abi_version == 1 ? &lshlab_cuda::g_api_v1 : nullptr;
}
