/*
 * atomic_file.h: crash-safe file replacement and whole-file reads for checkpoints, configs and
 * run records.
 *
 * A write goes to "<path>.tmp-<pid>-<counter>" in the target's directory, is fsync'd, renamed
 * over the target, and the directory is fsync'd, so a reader (or a crash) sees either the old
 * file or the complete new one, never a torn one. On any failure the temp file is removed and an
 * existing target is left untouched.
 *
 * Deliberately not: locking against concurrent writers of the same path (last rename wins),
 * preserving the old file's permissions/owner, Windows support, or memory-mapped reads.
 */
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lshlab {

// Streams a new version of `path`. Nothing is visible at `path` until commit() succeeds; the
// destructor removes the temp file if commit() was never reached (e.g. an exception unwound).
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path);  // creates the temp file; throws on failure
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t n);  // all n bytes or throw (temp file removed)
  void commit();                           // fsync, rename over path, fsync the directory

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }
  uint64_t bytes_written() const { return written_; }

 private:
  [[noreturn]] void fail(const std::string& what, int err);  // abort() then throw
  void abort() noexcept;                                      // close and unlink the temp file

  std::string path_, tmp_;
  int fd_ = -1;
  uint64_t written_ = 0;
  bool committed_ = false, failed_ = false;
};

// One-shot form of AtomicFileWriter.
void write_file_atomic(const std::string& path, const void* data, size_t n);
void write_file_atomic(const std::string& path, const std::string& contents);

// Whole file into memory. Errors name the path: missing, a directory, unreadable.
std::vector<uint8_t> read_file(const std::string& path);
std::string read_file_string(const std::string& path);

// ---- fault injection, for tests only ----
// After `n` more bytes have been written by AtomicFileWriters (process-wide), writes fail with
// ENOSPC as a full disk would, possibly mid-call (a short write). n < 0 disables the fault.
void set_write_fault_after_bytes(int64_t n);
// Make the next commit() fail at a given step, as if fsync or rename returned EIO.
enum class CommitFault { None, Fsync, Rename };
void set_commit_fault(CommitFault f);

}  // namespace lshlab
