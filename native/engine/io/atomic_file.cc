/*
 * atomic_file.cc: POSIX implementation of atomic_file.h (open/write/fsync/rename, retrying on
 * EINTR and short writes). Error messages always carry the target path and strerror(errno).
 *
 * Deliberately not: O_TMPFILE + linkat (not on every filesystem, and a named temp file is easier
 * to find and clean up after a kill -9), or buffering: callers hand over large blocks already.
 */
#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/common.h"

namespace lshlab {

namespace {

std::atomic<int64_t> g_write_fault_budget{-1};  // bytes left before ENOSPC; < 0: no fault
std::atomic<int> g_commit_fault{static_cast<int>(CommitFault::None)};
std::atomic<uint64_t> g_temp_counter{0};

// The commit fault is one-shot so a test cannot poison later tests.
bool take_commit_fault(CommitFault f) {
  int want = static_cast<int>(f);
  return g_commit_fault.compare_exchange_strong(want, static_cast<int>(CommitFault::None));
}

std::string directory_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string errstr(int err) { return std::strerror(err); }

}  // namespace

void set_write_fault_after_bytes(int64_t n) { g_write_fault_budget.store(n < 0 ? -1 : n); }
void set_commit_fault(CommitFault f) { g_commit_fault.store(static_cast<int>(f)); }

AtomicFileWriter::AtomicFileWriter(const std::string& path) : path_(path) {
  LSHLAB_CHECK(!path.empty(), "cannot write a file with an empty path");
  // Same directory as the target so rename() stays within one filesystem (and is atomic).
  tmp_ = path + ".tmp-" + std::to_string(static_cast<long>(::getpid())) + "-" +
         std::to_string(g_temp_counter.fetch_add(1));
  do {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  } while (fd_ < 0 && errno == EINTR);
  if (fd_ < 0) {
    failed_ = true;
    throw Error("cannot write '" + path_ + "': cannot create temp file '" + tmp_ + "': " + errstr(errno));
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) abort();
}

void AtomicFileWriter::abort() noexcept {
  if (fd_ >= 0) { ::close(fd_); fd_ = -1; }
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
  failed_ = true;
}

void AtomicFileWriter::fail(const std::string& what, int err) {
  abort();
  throw Error("cannot write '" + path_ + "': " + what + ": " + errstr(err) + " (temp file removed)");
}

void AtomicFileWriter::write(const void* data, size_t n) {
  LSHLAB_CHECK(!failed_ && !committed_, "cannot write '" + path_ + "': writer already " +
                                            (committed_ ? "committed" : "failed"));
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    size_t chunk = n > (size_t(1) << 30) ? (size_t(1) << 30) : n;  // keep each write() modest
    int64_t budget = g_write_fault_budget.load();
    if (budget >= 0 && static_cast<uint64_t>(budget) < chunk) chunk = static_cast<size_t>(budget);
    ssize_t w;
    if (chunk == 0) {  // injected full disk
      errno = ENOSPC;
      w = -1;
    } else {
      w = ::write(fd_, p, chunk);
    }
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write failed after " + std::to_string(written_) + " bytes", w < 0 ? errno : EIO);
    if (budget >= 0) g_write_fault_budget.fetch_sub(w);
    p += w;
    n -= static_cast<size_t>(w);
    written_ += static_cast<uint64_t>(w);
  }
}

void AtomicFileWriter::commit() {
  LSHLAB_CHECK(!failed_ && !committed_, "cannot commit '" + path_ + "': writer already " +
                                            (committed_ ? "committed" : "failed"));
  // fsync before rename: otherwise a crash can leave the new name pointing at empty blocks.
  if (take_commit_fault(CommitFault::Fsync)) fail("fsync failed", EIO);
  if (::fsync(fd_) != 0) fail("fsync failed", errno);
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close failed", errno);  // NFS may report write errors only here
  if (take_commit_fault(CommitFault::Rename)) fail("rename from '" + tmp_ + "' failed", EIO);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("rename from '" + tmp_ + "' failed", errno);
  committed_ = true;
  // Persist the directory entry too. Past this point the new file is in place, so a failure is
  // reported but nothing is rolled back. EINVAL: the filesystem cannot fsync directories.
  const std::string dir = directory_of(path_);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) throw Error("wrote '" + path_ + "' but cannot open its directory '" + dir + "' to fsync it: " + errstr(errno));
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0 && err != EINVAL)
    throw Error("wrote '" + path_ + "' but fsync of directory '" + dir + "' failed: " + errstr(err));
}

void write_file_atomic(const std::string& path, const void* data, size_t n) {
  AtomicFileWriter w(path);
  w.write(data, n);
  w.commit();
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  write_file_atomic(path, contents.data(), contents.size());
}

template <typename Container>
static Container read_whole(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw Error("cannot read '" + path + "': " + errstr(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error("cannot read '" + path + "': " + errstr(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw Error("cannot read '" + path + "': is a directory");
  }
  // Size the buffer from st_size but read until EOF anyway: the size is only a hint for
  // pipes, /proc files, or a file still growing.
  Container out(S_ISREG(st.st_mode) && st.st_size > 0 ? static_cast<size_t>(st.st_size) : 65536, 0);
  size_t have = 0;
  for (;;) {
    char probe[4096];
    // Buffer full: probe with a small stack read first, so the common exact-size case never
    // reallocates (and copies) a multi-hundred-MB checkpoint.
    const bool full = have == out.size();
    ssize_t r = full ? ::read(fd, probe, sizeof probe) : ::read(fd, &out[have], out.size() - have);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int err = errno;
      ::close(fd);
      throw Error("cannot read '" + path + "' (after " + std::to_string(have) + " bytes): " + errstr(err));
    }
    if (r == 0) break;
    if (full) {
      out.resize(have + (have / 2 > static_cast<size_t>(r) ? have / 2 : static_cast<size_t>(r)));
      std::memcpy(&out[have], probe, static_cast<size_t>(r));
    }
    have += static_cast<size_t>(r);
  }
  ::close(fd);
  out.resize(have);
  return out;
}

std::vector<uint8_t> read_file(const std::string& path) { return read_whole<std::vector<uint8_t>>(path); }
std::string read_file_string(const std::string& path) { return read_whole<std::string>(path); }

}  // namespace lshlab
