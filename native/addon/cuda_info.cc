/*
 * cuda_info.cc: the `cuda` object of the addon's info(): the CUDA backend's status as the engine's
 * loader found it (backend/cuda_loader.h): compiled, available, the reason when not available,
 * the library's path and build, and each CUDA device. The first call loads the library (once per
 * process); a machine without CUDA answers with the reason, never an exception.
 */
#include <napi.h>

#include "backend/cuda_loader.h"

namespace lshlab_addon {

Napi::Object cuda_info_object(Napi::Env env) {
  const lshlab::CudaStatus& st = lshlab::cuda_status();
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("compiled", st.compiled);
  cuda.Set("available", st.available);
  cuda.Set("reason", st.reason);
  // `message`: the one-line summary older callers print.
  cuda.Set("message", st.available ? "CUDA available" : "CUDA unavailable: " + st.reason);
  cuda.Set("library", st.library_path);
  cuda.Set("build", st.build_info);
  Napi::Array devices = Napi::Array::New(env, st.devices.size());
  for (size_t i = 0; i < st.devices.size(); i++) {
    const lshlab::CudaDevice& d = st.devices[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", d.index);
    o.Set("name", d.name);
    o.Set("memoryBytes", double(d.memory_bytes));
    o.Set("computeCapability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
    o.Set("multiprocessors", d.multiprocessors);
    o.Set("usable", d.usable);
    devices.Set(uint32_t(i), o);
  }
  cuda.Set("devices", devices);
  return cuda;
}

}  // namespace lshlab_addon
