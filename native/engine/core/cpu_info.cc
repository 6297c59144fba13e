/*
 * cpu_info.cc: fills CpuInfo from cpuid + xgetbv on x86 (gcc/clang/MSVC) and from
 * /proc/cpuinfo's "model name" on Linux. Elsewhere (ARM, unknown compilers) every x86 feature is
 * false and the model comes from the cpuid brand string or stays "unknown". Compiled with
 * baseline flags: it must run on any x86-64 to be able to say "no AVX2".
 */
#include "core/cpu_info.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define LSHLAB_X86_GNU 1
#elif defined(_M_X64) || defined(_M_IX86)
#include <intrin.h>
#define LSHLAB_X86_MSVC 1
#endif

namespace lshlab {

namespace {

#if defined(LSHLAB_X86_GNU) || defined(LSHLAB_X86_MSVC)
void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
#if defined(LSHLAB_X86_GNU)
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#else
  int v[4];
  __cpuidex(v, static_cast<int>(leaf), static_cast<int>(sub));
  for (int i = 0; i < 4; i++) r[i] = static_cast<uint32_t>(v[i]);
#endif
}

// XCR0: which register files the OS saves on context switch. A CPU with AVX-512 under an OS
// (or hypervisor) that does not save ZMM state must not run AVX-512 code.
uint64_t xgetbv0() {
#if defined(LSHLAB_X86_GNU)
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
#else
  return _xgetbv(0);
#endif
}
#endif

std::string trim(std::string s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

CpuInfo detect() {
  CpuInfo info;
  info.model = "unknown";
  unsigned hc = std::thread::hardware_concurrency();
  info.logical_cores = hc == 0 ? 1 : static_cast<int>(hc);
  info.avx2 = info.fma = info.avx512f = false;

#if defined(LSHLAB_X86_GNU) || defined(LSHLAB_X86_MSVC)
  uint32_t r[4];
  cpuid(0, 0, r);
  const uint32_t max_leaf = r[0];
  if (max_leaf >= 1) {
    cpuid(1, 0, r);
    const bool osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1, fma = (r[2] >> 12) & 1;
    const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    const bool os_ymm = (xcr0 & 0x6) == 0x6;     // SSE + AVX state
    const bool os_zmm = (xcr0 & 0xe6) == 0xe6;   // + opmask, ZMM_Hi256, Hi16_ZMM
    info.fma = fma && avx && os_ymm;
    if (max_leaf >= 7) {
      cpuid(7, 0, r);
      info.avx2 = avx && os_ymm && ((r[1] >> 5) & 1);
      info.avx512f = os_zmm && ((r[1] >> 16) & 1);
    }
  }
  // Brand string (leaves 0x80000002..4): the portable source of the model name.
  cpuid(0x80000000u, 0, r);
  if (r[0] >= 0x80000004u) {
    char brand[49];
    for (uint32_t i = 0; i < 3; i++) {
      cpuid(0x80000002u + i, 0, r);
      std::memcpy(brand + 16 * i, r, 16);
    }
    brand[48] = '\0';
    std::string b = trim(brand);
    if (!b.empty()) info.model = b;
  }
#endif

#if defined(__linux__)
  // /proc/cpuinfo is what users see in lscpu; prefer it when present (same text on bare metal,
  // and the hypervisor's chosen name in VMs).
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, 10, "model name") == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string m = trim(line.substr(colon + 1));
        if (!m.empty()) info.model = m;
      }
      break;
    }
  }
#endif
  return info;
}

}  // namespace

const CpuInfo& cpu_info() {
  static const CpuInfo info = detect();  // C++11 magic static: detected once, thread-safe
  return info;
}

}  // namespace lshlab
