/*
 * reformer_sort.cu: the stable sort of each hashing round by (bucket, position), as
 * reformer.cc's counting sort (padding bucket nb last), and the slot maps the other kernels use.
 *   in : keys (B,H,R,Tp) buckets 0..nb, idx (B,H,R,Tp) = position (reformer_hash.cu)
 *   out: order (B,H,S) slot r Tp + j -> the position of rank j in round r (segment (b,h,r) of
 *        the sorted idx, so the rounds come out concatenated as HF's offsets make them);
 *        undo (B,H,S) (r Tp + position) -> its slot.
 * The sort is radix_sort.cuh's (stable LSD, 8 bits per pass over bitlen(nb) bits: one pass for
 * nb < 256; no atomics), so the result is the CPU's order exactly and run to run.
 */
#include "radix_sort.cuh"
#include "reformer_common.cuh"

namespace lshlab_cuda {
namespace reformer {
namespace {

// One thread per (b,h) slot: segment (b,h,r) rank j is slot r Tp + j of (b,h), the same flat
// index, so order is the sorted idx; undo inverts it within the round.
__global__ void rsort_slots_kernel(int32_t* order, int32_t* undo, const uint32_t* idx, Plan p) {
  const int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (g >= p.BH() * p.S) return;
  const int64_t bh = g / p.S, slot = g % p.S, r = slot / p.Tp;
  const int t = int(idx[g]);
  order[g] = t;
  undo[bh * p.S + r * p.Tp + t] = int32_t(slot);
}

}  // namespace

int sort_slots(State st, uint32_t* keys, uint32_t* idx, void* workspace, const Plan& p) {
  char* ws = static_cast<char*>(workspace);
  uint32_t* ka = keys;
  uint32_t* ia = idx;
  uint32_t* kb = reinterpret_cast<uint32_t*>(ws + p.ws_keys) + p.BH() * p.S;
  uint32_t* ib = reinterpret_cast<uint32_t*>(ws + p.ws_idx) + p.BH() * p.S;
  int32_t* counts = reinterpret_cast<int32_t*>(ws + p.ws_counts);
  if (int rc = radix::sort_segments(&ka, &ia, kb, ib, counts, p.BH() * p.R, p.Tp,
                                    radix::kRadixBits * p.passes))
    return rc;
  const int64_t n = p.BH() * p.S;
  rsort_slots_kernel<<<unsigned(ceil_div(n, kThreads)), kThreads, 0, stream()>>>(st.order, st.undo,
                                                                                 ia, p);
  return check_launch("rsort_slots_kernel");
}

}  // namespace reformer
}  // namespace lshlab_cuda
