/*
 * cuda_loader.cc: finds, opens and queries the CUDA backend library (see cuda_loader.h). The
 * library's path is the directory of the module this code is linked into (dladdr /
 * GetModuleHandleEx on one of our own functions) plus the platform's file name, so it works the
 * same for the addon (build/Release/lshlab.node) and the driver (lshlab-native).
 */
#include "backend/cuda_loader.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include "core/common.h"
#include "io/json.h"

#ifndef LSHLAB_CUDA_BUILT
#define LSHLAB_CUDA_BUILT 0
#endif
#ifndef LSHLAB_CUDA_SKIP_REASON
#define LSHLAB_CUDA_SKIP_REASON "the build did not include it"
#endif

namespace lshlab {
namespace {

#if defined(_WIN32)
const char* kLibraryName = "lshlab_cuda.dll";
#elif defined(__APPLE__)
const char* kLibraryName = "liblshlab_cuda.dylib";
#else
const char* kLibraryName = "liblshlab_cuda.so";
#endif

// Error codes of the CUDA runtime the status distinguishes (cuda_runtime_api.h's values).
constexpr int kCudaErrorInsufficientDriver = 35;
constexpr int kCudaErrorNoDevice = 100;

// The directory of the module (shared object or executable) that holds this function.
std::string own_module_dir() {
#if defined(_WIN32)
  HMODULE mod = nullptr;
  if (!GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                              GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                          reinterpret_cast<LPCSTR>(&own_module_dir), &mod))
    return ".";
  char buf[MAX_PATH];
  DWORD n = GetModuleFileNameA(mod, buf, MAX_PATH);
  std::string p(buf, n);
  size_t cut = p.find_last_of("\\/");
#else
  Dl_info info;
  if (!dladdr(reinterpret_cast<void*>(&own_module_dir), &info) || !info.dli_fname) return ".";
  std::string p = info.dli_fname;
  size_t cut = p.find_last_of('/');
#endif
  return cut == std::string::npos ? "." : p.substr(0, cut);
}

bool file_exists(const std::string& p) {
  FILE* f = std::fopen(p.c_str(), "rb");
  if (!f) return false;
  std::fclose(f);
  return true;
}

// Opens the library; on failure returns nullptr and the loader's message.
void* open_library(const std::string& path, std::string& err) {
#if defined(_WIN32)
  HMODULE h = LoadLibraryExA(path.c_str(), nullptr,
                             LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS);
  if (!h) err = "LoadLibrary error " + std::to_string(GetLastError());
  return reinterpret_cast<void*>(h);
#else
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    err = e ? e : "dlopen failed";
  }
  return h;
#endif
}

void* find_symbol(void* lib, const char* name) {
#if defined(_WIN32)
  return reinterpret_cast<void*>(GetProcAddress(reinterpret_cast<HMODULE>(lib), name));
#else
  return dlsym(lib, name);
#endif
}

#if defined(_WIN32)
const char* kDriverLibrary = "nvcuda.dll";
#else
const char* kDriverLibrary = "libcuda.so.1";
#endif

// Whether the NVIDIA driver's user-space library can be opened (it is closed again at once).
bool driver_library_present() {
#if defined(_WIN32)
  HMODULE h = LoadLibraryA(kDriverLibrary);
  if (h) FreeLibrary(h);
#else
  void* h = dlopen(kDriverLibrary, RTLD_LAZY | RTLD_LOCAL);
  if (h) dlclose(h);
#endif
  return h != nullptr;
}

// The library stays open for the life of the process (its kernels and handles are in use).
const lshlab_cuda_api_v1* g_api = nullptr;
CudaStatus g_status;

void load(CudaStatus& st) {
  st.compiled = LSHLAB_CUDA_BUILT != 0;
  const char* disable = std::getenv("LSHLAB_CUDA_DISABLE");
  if (disable && std::strcmp(disable, "1") == 0) {
    st.reason = "disabled by LSHLAB_CUDA_DISABLE=1";
    return;
  }
  const char* override_path = std::getenv("LSHLAB_CUDA_LIBRARY");
  const bool overridden = override_path && *override_path;
  st.library_path = overridden ? override_path : own_module_dir() + "/" + kLibraryName;
  if (!st.compiled && !overridden) {
    st.reason = std::string("not built: ") + LSHLAB_CUDA_SKIP_REASON;
    return;
  }
  if (!file_exists(st.library_path)) {
    st.reason = "library not found: " + st.library_path;
    return;
  }
  std::string err;
  void* lib = open_library(st.library_path, err);
  if (!lib) {
    st.reason = "failed to load " + st.library_path + ": " + err;
    return;
  }
  auto get = reinterpret_cast<lshlab_cuda_get_api_fn>(find_symbol(lib, "lshlab_cuda_get_api"));
  const lshlab_cuda_api_v1* api =
      get ? static_cast<const lshlab_cuda_api_v1*>(get(LSHLAB_CUDA_ABI_VERSION)) : nullptr;
  if (!api || api->abi_version != LSHLAB_CUDA_ABI_VERSION ||
      api->struct_size < sizeof(lshlab_cuda_api_v1)) {
    st.reason = st.library_path + " does not serve the CUDA backend ABI v" +
                std::to_string(LSHLAB_CUDA_ABI_VERSION) + " (a library from another build?)";
    return;
  }
  st.loaded = true;
  st.build_info = api->build_info ? api->build_info : "";
  int count = 0;
  const int rc = api->device_count(&count);
  if (rc == kCudaErrorInsufficientDriver) {
    // The runtime says 35 both when there is no driver and when it is too old: tell them apart.
    st.reason = driver_library_present()
                    ? "NVIDIA driver too old for this CUDA build (" + st.build_info +
                          "; CUDA 13 needs driver 580 or newer)"
                    : std::string("no NVIDIA driver (") + kDriverLibrary + " not found)";
    return;
  }
  if (rc == kCudaErrorNoDevice || (rc == 0 && count == 0)) {
    st.reason = "no CUDA device";
    return;
  }
  if (rc != 0) {
    st.reason = std::string("cannot count CUDA devices: ") + api->last_error();
    return;
  }
  for (int i = 0; i < count; i++) {
    lshlab_cuda_device_info di;
    if (api->device_info(i, &di) != 0) {
      st.reason = std::string("cannot read CUDA device ") + std::to_string(i) + ": " + api->last_error();
      continue;
    }
    CudaDevice d;
    d.index = i;
    d.name = di.name;
    d.memory_bytes = di.total_memory;
    d.cc_major = di.cc_major;
    d.cc_minor = di.cc_minor;
    d.multiprocessors = di.multiprocessors;
    d.usable = di.cc_major >= 8;
    st.devices.push_back(d);
  }
  int first_usable = -1;
  for (const auto& d : st.devices)
    if (d.usable) { first_usable = d.index; break; }
  if (first_usable < 0) {
    if (!st.devices.empty()) {
      const auto& d = st.devices.front();
      st.reason = "compute capability " + std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor) +
                  " of " + d.name + " is below 8.0 (the CUDA kernels are built for sm_80 and newer)";
    }
    return;
  }
  // No cudaSetDevice here: since CUDA 12 it creates the device's context at once (time and
  // several hundred MB of device memory), and info() must stay cheap in every process. The
  // first op runs on device 0 unless device 0 is too old for the kernels.
  if (first_usable != 0 && api->set_device(first_usable) != 0) {
    st.reason = std::string("cannot select CUDA device: ") + api->last_error();
    return;
  }
  st.available = true;
  st.reason.clear();
  g_api = api;
}

std::once_flag g_once;

}  // namespace

const CudaStatus& cuda_status() {
  std::call_once(g_once, [] { load(g_status); });
  return g_status;
}

const lshlab_cuda_api_v1* cuda_api() {
  cuda_status();
  return g_api;
}

const lshlab_cuda_api_v1& cuda_require() {
  const CudaStatus& st = cuda_status();
  if (!st.available || !g_api) throw Error("CUDA unavailable: " + st.reason);
  return *g_api;
}

std::string cuda_status_json() {
  const CudaStatus& st = cuda_status();
  Json o = Json::object();
  o.set("compiled", st.compiled);
  o.set("available", st.available);
  o.set("reason", st.reason);
  o.set("library", st.library_path);
  o.set("build", st.build_info);
  Json devs = Json::array();
  for (const CudaDevice& d : st.devices) {
    Json j = Json::object();
    j.set("index", d.index);
    j.set("name", d.name);
    j.set("memory_bytes", d.memory_bytes);
    j.set("compute_capability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
    j.set("multiprocessors", d.multiprocessors);
    j.set("usable", d.usable);
    devs.push_back(j);
  }
  o.set("devices", devs);
  return o.dump();
}

}  // namespace lshlab
