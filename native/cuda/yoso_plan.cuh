/*
 * yoso_plan.cuh: the YOSO kernels' shape, workspace plan, launch sizes and index arithmetic, in
 * plain C++ (no CUDA header), so that the host can check them at shapes too large to run:
 * test_cuda_yoso.cc takes them to T = 2^20 tokens with B*H = 32, D up to 256 and m up to 1024,
 * where B*H*T*D, B*H*m*T and the workspace offsets pass 2^31. yoso_common.cuh includes it for
 * the kernels (yoso_hash.cu, yoso_sort.cu, yoso_forward.cu, yoso_backward.cu, yoso_rows.cu).
 *
 * Shapes: B batch, T = n tokens, H heads, D head size (<= 256), m hashes, tau bits per code.
 *   codes (B,H,m,T), per-head rows (B,H,T,D); "bh" = b * H + h.
 * A chunk is a rectangle of segments (bh, hash): heads [bh0, bh0 + nb) x hashes [h0, h0 + mc),
 * segment seg = (bh - bh0) * mc + (hash - h0) (mc = the chunk's own count, smaller at the end).
 * Per segment: sort buffers (4 n ints per side), radix counts, one bucket table of R = min(2^tau,
 * n) rows of D floats and, for the backward's big buckets, D x D matrices in ceil(n / L) slots
 * per side (~0.75 n D floats). A chunk is sized to ~1 GiB: all heads and as many hashes as fit;
 * when one hash of all heads does not fit (long sequences), one hash of as many heads as fit
 * (at least one segment). The backward's unit rows (qn, kn, g and the norms) are per chunk of
 * heads too, so the workspace is O(nb n D) beside the O(BH n) forward counts, not O(BH n D).
 * The result does not depend on the chunking: every sum runs hash by hash in the same order.
 * Every grid is one-dimensional (grid y and z stop at 65535): blocks = the counts below.
 */
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#ifdef __CUDACC__
#define LSHLAB_YOSO_HD __host__ __device__
#else
#define LSHLAB_YOSO_HD
#endif

namespace lshlab_cuda {
namespace yoso {

constexpr int kThreads = 256;  // every YOSO kernel: 8 warps
constexpr int kWarps = kThreads / 32;
constexpr int kMaxD = 128;       // the fast path's largest head size: 4 row elements per lane
constexpr int kMaxHeadD = 256;   // the largest head size: 8 row elements per lane
constexpr int kRadixBits = 8, kBins = 1 << kRadixBits;
constexpr int kHashRows = 32, kHashHashes = 4;    // hash kernel block: 32 tokens x 4 hashes
constexpr size_t kSmemBytes = 101376;             // 99 KiB, the opt-in limit of sm_86 / sm_89
constexpr int64_t kMaxGrid = 0x7fffffff;          // grid x limit
constexpr size_t kChunkBudget = size_t(1) << 30;  // bytes per chunk of segments

struct Shape {
  int B, T, H, D, m, tau;
  LSHLAB_YOSO_HD int64_t C() const { return int64_t(H) * D; }
  LSHLAB_YOSO_HD int64_t BH() const { return int64_t(B) * H; }
};

struct Plan {
  int nb = 1;              // heads (bh) per chunk
  int mc = 1;              // hashes per chunk
  int64_t S = 0;           // segments per chunk (nb * mc)
  int64_t tiles = 0;       // radix tiles of 256 per segment
  int64_t R = 0;           // table rows per segment
  bool dense = false;      // table row = code (2^tau <= n) vs run start
  int L = 1;               // big-bucket matrix slot = run start / L (backward)
  int64_t nslot = 0;       // matrix slots per segment
  // bytes: fixed (backward rows of nb heads, or the forward's counts), one key / index array,
  // radix counts, tables, one side's matrices, all
  size_t fixed = 0, key = 0, counts = 0, table = 0, mats = 0, total = 0;
};

inline size_t align256(size_t x) { return (x + 255) / 256 * 256; }
inline int64_t div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Bytes of one segment's part of a chunk (sort buffers, counts, table, both sides' matrices).
inline size_t segment_bytes(const Shape& s, const Plan& p) {
  const size_t n = size_t(s.T), DD = size_t(s.D) * s.D;
  return 8 * n * 4 + size_t(kBins) * p.tiles * 4 + size_t(p.R) * s.D * 4 + 2 * size_t(p.nslot) * DD * 4;
}

inline int env_cap(const char* name) {
  const char* e = std::getenv(name);
  return e ? std::atoi(e) : 0;
}

inline Plan make_plan(const Shape& s) {
  Plan p;
  const int64_t n = s.T, BH = s.BH();
  p.tiles = div_up(n, kThreads);
  p.dense = s.tau < 31 && (int64_t(1) << s.tau) <= n;
  p.R = p.dense ? (int64_t(1) << s.tau) : n;
  // A big bucket (yoso_backward.cu) has more than 4D/3 members on each side, so two big runs
  // start at least L = floor(4D/3) + 1 apart and run start / L numbers them without a scan.
  p.L = 4 * s.D / 3 + 1;
  p.nslot = div_up(n, p.L);
  const size_t seg = segment_bytes(s, p), per_hash = size_t(BH) * seg;
  int64_t nb = BH, mc = 1;
  if (per_hash <= kChunkBudget) {
    mc = int64_t(kChunkBudget / per_hash);
    if (mc > s.m) mc = s.m;
  } else {
    nb = int64_t(kChunkBudget / seg);
    if (nb < 1) nb = 1;
  }
  // Tests only: LSHLAB_CUDA_YOSO_HASH_CHUNK=k / LSHLAB_CUDA_YOSO_HEAD_CHUNK=k cap a chunk at k
  // hashes / heads, so a small shape runs the multi-chunk paths (the results must not change).
  if (const int k = env_cap("LSHLAB_CUDA_YOSO_HASH_CHUNK"); k > 0 && k < mc) mc = k;
  if (const int k = env_cap("LSHLAB_CUDA_YOSO_HEAD_CHUNK"); k > 0 && k < nb) nb = k;
  p.nb = int(nb);
  p.mc = int(mc);
  p.S = nb * mc;
  const size_t rows = size_t(nb) * n * (3 * size_t(s.D) + 2) * 4, counts = size_t(BH) * n * 8;
  p.fixed = align256(rows > counts ? rows : counts);
  p.key = align256(size_t(p.S) * n * 4);  // one of the 8 key / index arrays
  p.counts = align256(size_t(p.S) * kBins * p.tiles * 4);
  p.table = align256(size_t(p.S) * p.R * s.D * 4);
  p.mats = align256(size_t(p.S) * p.nslot * s.D * s.D * 4);  // one side's
  p.total = p.fixed + 8 * p.key + p.counts + p.table + 2 * p.mats;
  return p;
}

// Hash kernel: plane bits staged in shared memory per pass, so that the block fits 99 KiB at
// any D <= 256 and tau <= 30 (one pass, all tau bits, for D <= 128).
inline int hash_bits_per_pass(const Shape& s) {
  const int64_t rows = 2 * kHashRows * int64_t(s.D + 1), per_bit = int64_t(kHashHashes) * s.D;
  const int64_t fit = (int64_t(kSmemBytes / 4) - rows) / per_bit;
  return int(fit >= s.tau ? s.tau : fit < 1 ? 1 : fit);
}
inline size_t hash_smem_bytes(const Shape& s) {
  return 4 * (2 * kHashRows * size_t(s.D + 1) + size_t(kHashHashes) * hash_bits_per_pass(s) * s.D);
}

// The big-bucket matrix kernel's output rows per block: all D (D <= 128), else 64 (so a thread
// keeps 64 accumulators and the staged rows stay in 40 KiB of static shared memory).
inline int matrix_rows_per_block(int D) { return D <= kMaxD ? kMaxD : 64; }

// Blocks of each launch (grid x).
inline int64_t hash_blocks(const Shape& s) {
  return s.BH() * div_up(s.m, kHashHashes) * div_up(s.T, kHashRows);
}
inline int64_t row_blocks(const Shape& s, int64_t heads) { return div_up(heads * s.T, kWarps); }
inline int64_t sort_blocks(const Plan& p, int64_t segs) { return segs * p.tiles; }
inline int64_t sums_blocks(const Shape& s, int64_t segs) { return segs * div_up(s.T, kThreads); }
inline int64_t gather_blocks(const Shape& s, int64_t heads) { return heads * div_up(s.T, kWarps); }
inline int64_t matrix_blocks(const Shape& s, const Plan& p, int64_t segs) {
  return segs * p.nslot * div_up(s.D, matrix_rows_per_block(s.D));
}
// The largest grid any launch of this shape and plan takes (must stay <= kMaxGrid).
inline int64_t max_blocks(const Shape& s, const Plan& p) {
  int64_t g = hash_blocks(s);
  const int64_t c[] = {row_blocks(s, s.BH()), sort_blocks(p, p.S), sums_blocks(s, p.S),
                       gather_blocks(s, p.nb), matrix_blocks(s, p, p.S),
                       div_up(s.BH() * s.m * ((int64_t(s.tau) * s.D + 1) / 2), kThreads),
                       div_up(p.S * s.T, kThreads)};
  for (int64_t x : c) g = x > g ? x : g;
  return g;
}

// Element offsets (int64 throughout: each passes 2^31 at T = 2^20 with B*H = 32).
// codes (B,H,m,T): token t of hash u of head bh.
LSHLAB_YOSO_HD inline int64_t code_at(int64_t bh, int m, int u, int n, int t) {
  return (bh * m + u) * n + t;
}
// Per-head rows (B,H,T,D) or a chunk's (nb,T,D) with bh counted from its first head.
LSHLAB_YOSO_HD inline int64_t head_row_at(int64_t bh, int n, int t, int D) {
  return (bh * n + t) * D;
}
// Row t of head h of batch b in qkv (B,T,3C), part 0 = q, 1 = k, 2 = v; ctx-like (B,T,C) with 1
// part of stride C.
LSHLAB_YOSO_HD inline int64_t token_row_at(int b, int t, int h, const Shape& s, int parts, int part) {
  return (int64_t(b) * s.T + t) * parts * s.C() + part * s.C() + int64_t(h) * s.D;
}
// Sorted position p of segment seg; table row r of seg; matrix slot of seg.
LSHLAB_YOSO_HD inline int64_t sorted_at(int64_t seg, int n, int p) { return seg * n + p; }
LSHLAB_YOSO_HD inline int64_t table_at(int64_t seg, int64_t R, int64_t row, int D) {
  return (seg * R + row) * D;
}
LSHLAB_YOSO_HD inline int64_t matrix_at(int64_t seg, int64_t nslot, int64_t slot, int D) {
  return (seg * nslot + slot) * D * D;
}

}  // namespace yoso
}  // namespace lshlab_cuda
