/*
 * file_lock.cc: FileLock, an OS-level exclusive lock on a small file, for run ownership.
 *
 * A training host holds the lock of each run it hosts (`runs/<uuid>/owner.lock`) for as long as the
 * run is active. The kernel releases it when the process dies, however it dies (kill -9, a
 * segfault, a power-off of the session), so "can I take this run's lock?" answers "is its owner
 * dead?" without pids, which can be reused. POSIX: flock(2) on a descriptor opened O_CLOEXEC (a
 * forked training process must not inherit, and so keep alive, its host's lock). flock locks
 * belong to the open file description, so a second FileLock on the same file in the same process
 * is refused too: a process never mistakes its own runs for dead ones. Windows: LockFileEx on the
 * first byte with FAIL_IMMEDIATELY (released by the system when the handle's process ends).
 *
 * JS: new FileLock(path); tryLock() -> boolean (never blocks); unlock(); close(); `locked`.
 * The file is created if missing (its directory must exist) and never deleted here.
 */
#include <napi.h>

#include <string>

#ifdef _WIN32
#include <windows.h>
#else
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#endif

#include "addon.h"

namespace lshlab_addon {
namespace {

class FileLock : public Napi::ObjectWrap<FileLock> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FileLock",
                       {InstanceMethod<&FileLock::TryLock>("tryLock"),
                        InstanceMethod<&FileLock::Unlock>("unlock"),
                        InstanceMethod<&FileLock::Close>("close"),
                        InstanceAccessor<&FileLock::Locked>("locked"),
                        InstanceAccessor<&FileLock::Path>("path")});
  }

  explicit FileLock(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FileLock>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString())
      throw Napi::TypeError::New(env, "FileLock(path): path must be a string");
    path_ = info[0].As<Napi::String>().Utf8Value();
    if (path_.empty()) throw Napi::TypeError::New(env, "FileLock(path): path is empty");
  }

  ~FileLock() override { close_handle(); }

 private:
  Napi::Value TryLock(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (locked_) return Napi::Boolean::New(env, true);
    open_handle(env);
#ifdef _WIN32
    OVERLAPPED ov = {};
    if (LockFileEx(handle_, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov)) {
      locked_ = true;
    } else if (GetLastError() != ERROR_LOCK_VIOLATION && GetLastError() != ERROR_IO_PENDING) {
      throw Napi::Error::New(env, "cannot lock " + path_ + ": error " + std::to_string(GetLastError()));
    }
#else
    int rc;
    do {
      rc = flock(fd_, LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) {
      locked_ = true;
    } else if (errno != EWOULDBLOCK) {
      throw Napi::Error::New(env, "cannot lock " + path_ + ": " + std::strerror(errno));
    }
#endif
    return Napi::Boolean::New(env, locked_);
  }

  Napi::Value Unlock(const Napi::CallbackInfo& info) {
    if (locked_) {
#ifdef _WIN32
      OVERLAPPED ov = {};
      UnlockFileEx(handle_, 0, 1, 0, &ov);
#else
      flock(fd_, LOCK_UN);
#endif
      locked_ = false;
    }
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    close_handle();
    return info.Env().Undefined();
  }

  Napi::Value Locked(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), locked_); }
  Napi::Value Path(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), path_); }

  void open_handle(Napi::Env env) {
#ifdef _WIN32
    if (handle_ != INVALID_HANDLE_VALUE) return;
    std::wstring wide(MultiByteToWideChar(CP_UTF8, 0, path_.c_str(), -1, nullptr, 0), L'\0');
    MultiByteToWideChar(CP_UTF8, 0, path_.c_str(), -1, wide.data(), static_cast<int>(wide.size()));
    handle_ = CreateFileW(wide.c_str(), GENERIC_READ | GENERIC_WRITE,
                          FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr, OPEN_ALWAYS,
                          FILE_ATTRIBUTE_NORMAL, nullptr);
    if (handle_ == INVALID_HANDLE_VALUE)
      throw Napi::Error::New(env, "cannot open " + path_ + ": error " + std::to_string(GetLastError()));
#else
    if (fd_ >= 0) return;
    do {
      fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    } while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) throw Napi::Error::New(env, "cannot open " + path_ + ": " + std::strerror(errno));
#endif
  }

  // Closing the descriptor releases the lock too.
  void close_handle() {
#ifdef _WIN32
    if (handle_ != INVALID_HANDLE_VALUE) CloseHandle(handle_);
    handle_ = INVALID_HANDLE_VALUE;
#else
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
#endif
    locked_ = false;
  }

  std::string path_;
  bool locked_ = false;
#ifdef _WIN32
  HANDLE handle_ = INVALID_HANDLE_VALUE;
#else
  int fd_ = -1;
#endif
};

}  // namespace

Napi::Function define_file_lock_class(Napi::Env env) { return FileLock::Define(env); }

}  // namespace lshlab_addon
