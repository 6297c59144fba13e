/*
 * cmd_info.cc: `lshlab-native info [--json]`: what this build and machine can run: the CPU (model,
 * vector ISA, GEMM kernel, threads) and the CUDA backend (compiled, available, and the reason
 * when not; each CUDA device with its memory and compute capability). The same facts as
 * `lshlab info`, for GPU machines without Node.
 */
#include <cstdio>
#include <string>

#include "args.h"
#include "backend/cuda_loader.h"
#include "commands.h"
#include "core/cpu_info.h"
#include "core/threadpool.h"
#include "io/json.h"
#include "ops/cpu/gemm.h"

using namespace lshlab;

int cmd_info(int argc, char** argv) {
  DriverArgs args(argc, argv, {}, {"--json"});
  const CpuInfo& ci = cpu_info();
  const CudaStatus& cs = cuda_status();
  if (args.has("--json")) {
    Json cpu = Json::object();
    cpu.set("kind", "cpu");
    cpu.set("name", ci.model);
    cpu.set("logical_cores", ci.logical_cores);
    cpu.set("avx2", ci.avx2);
    cpu.set("fma", ci.fma);
    cpu.set("avx512f", ci.avx512f);
    Json devices = Json::array();
    devices.push_back(cpu);
    for (const CudaDevice& d : cs.devices) {
      Json j = Json::object();
      j.set("kind", "cuda");
      j.set("index", d.index);
      j.set("name", d.name);
      j.set("memory_bytes", d.memory_bytes);
      j.set("compute_capability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
      j.set("multiprocessors", d.multiprocessors);
      j.set("usable", d.usable);
      devices.push_back(j);
    }
    Json out = Json::object();
    out.set("threads", ThreadPool::global().num_threads());
    out.set("gemm_kernel", gemm_kernel_name());
    out.set("devices", devices);
    out.set("cuda", parse_json(cuda_status_json(), "cuda status"));
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  std::printf("cpu        %s (%d logical cores)\n", ci.model.c_str(), ci.logical_cores);
  std::printf("features   avx2 %s, fma %s, avx512f %s\n", yes(ci.avx2), yes(ci.fma), yes(ci.avx512f));
  std::printf("threads    %d\n", ThreadPool::global().num_threads());
  std::printf("gemm       %s\n", gemm_kernel_name());
  std::printf("cuda       compiled %s, available %s%s%s\n", yes(cs.compiled), yes(cs.available),
              cs.reason.empty() ? "" : ": ", cs.reason.c_str());
  if (!cs.library_path.empty()) std::printf("library    %s\n", cs.library_path.c_str());
  if (!cs.build_info.empty()) std::printf("build      %s\n", cs.build_info.c_str());
  for (const CudaDevice& d : cs.devices)
    std::printf("device     [%d] %s, %.1f GiB, compute capability %d.%d, %d SMs%s\n", d.index,
                d.name.c_str(), double(d.memory_bytes) / (1024.0 * 1024.0 * 1024.0), d.cc_major,
                d.cc_minor, d.multiprocessors, d.usable ? "" : " (below 8.0: not used)");
  return 0;
}
