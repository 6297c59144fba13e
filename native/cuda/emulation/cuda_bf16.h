/*
 * cuda_bf16.h (emulation): the part of CUDA's bf16 type that native/cuda uses, on the host.
 * __nv_bfloat16 holds the 16 bits of the bfloat16 (the top half of an fp32); the conversions
 * are exact integer arithmetic on those bits: __float2bfloat16_rn rounds to nearest even (NaN
 * stays a quiet NaN), as the device instruction and bf16_convert.cu do, and __bfloat162float
 * widens exactly. No arithmetic operators: the kernels compute in fp32 and only store bf16.
 */
#pragma once
#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
  uint16_t bits;
};

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return __nv_bfloat16{uint16_t((u >> 16) | 0x0040u)};
  return __nv_bfloat16{uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16)};
}

inline float __bfloat162float(__nv_bfloat16 h) {
  const uint32_t u = uint32_t(h.bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
