/*
 * test_safetensors.cc: tests for io/safetensors.h and io/atomic_file.h: round trips of every
 * dtype, the on-disk layout (space padding, 8-byte alignment), one hand-made corrupt file per
 * validation rule (checking the message names the tensor or byte offset), truncation at every
 * byte and byte-flip fuzzing (must throw, never crash), and atomic writes under injected faults.
 * Interop with the Python library is checked separately by test/reference/safetensors_interop.py.
 */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/common.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "test_registry.h"

using namespace lshlab;

namespace {

// A fresh directory removed (with its plain files) on scope exit.
struct TempDir {
  std::string path;
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/lshlab-io-XXXXXX";
    LSHLAB_CHECK(::mkdtemp(&tmpl[0]) != nullptr, "mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    for (const auto& f : files()) ::unlink((path + "/" + f).c_str());
    ::rmdir(path.c_str());
  }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) out.push_back(e->d_name);
      ::closedir(d);
    }
    return out;
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
bool contains(const std::string& s, const std::string& sub) {
  bool ok = s.find(sub) != std::string::npos;
  if (!ok) std::fprintf(stderr, "    message: %s\n    lacks:   %s\n", s.c_str(), sub.c_str());
  return ok;
}

// Plain unsynced write for the hundreds of throwaway corrupt files (fsync would make the fuzz
// loops take seconds on a real disk).
void put(const std::string& path, const void* data, size_t n) {
  ::unlink(path.c_str());  // not truncate: ext4 flushes a truncated-and-rewritten file on close
  FILE* f = std::fopen(path.c_str(), "wb");
  LSHLAB_CHECK(f && std::fwrite(data, 1, n, f) == n && std::fclose(f) == 0, "cannot write " + path);
}
void put(const std::string& path, const std::string& s) { put(path, s.data(), s.size()); }

// A file from a literal header (unpadded) and data section, for hand-made corruptions.
void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  std::string f(8, '\0');
  for (int i = 0; i < 8; i++) f[i] = static_cast<char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  put(path, f + header + data);
}
std::string reader_error(const std::string& path) {
  return error_of([&] { SafetensorsReader r(path); });
}

}  // namespace

LSHLAB_TEST("io/safetensors/round-trip-every-dtype") {
  TempDir dir;
  const DType all[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64,
                       DType::I32, DType::I16, DType::I8,  DType::U8,   DType::BOOL};
  std::vector<std::vector<uint8_t>> store;
  std::vector<TensorRef> refs;
  for (DType t : all) {
    for (int kind = 0; kind < 3; kind++) {  // 2-D, scalar, zero-size
      std::vector<int64_t> shape = kind == 0 ? std::vector<int64_t>{3, 5} : kind == 1 ? std::vector<int64_t>{}
                                                                                      : std::vector<int64_t>{4, 0, 2};
      size_t n = kind == 0 ? 15 : kind == 1 ? 1 : 0;
      std::vector<uint8_t> bytes(n * dtype_size(t));
      for (size_t i = 0; i < bytes.size(); i++) bytes[i] = static_cast<uint8_t>(i * 37 + static_cast<int>(t) * 11 + 1);
      if (t == DType::BOOL) for (auto& b : bytes) b &= 1;
      store.push_back(std::move(bytes));
      refs.push_back({std::string("t.") + dtype_name(t) + "." + std::to_string(kind), t, shape,
                      store.back().empty() ? nullptr : store.back().data()});
    }
  }
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"step", "1200"}, {"note", "caf\xC3\xA9 \"q\""}};
  const std::string path = dir / "all.safetensors";
  save_safetensors(path, refs, meta);
  SafetensorsReader r(path);
  LSHLAB_EXPECT(r.metadata() == meta);
  LSHLAB_EXPECT(r.names().size() == refs.size());
  for (size_t i = 0; i < refs.size(); i++) {
    LSHLAB_EXPECT(r.names()[i] == refs[i].name);  // header order = order given
    const auto& in = r.info(refs[i].name);
    LSHLAB_EXPECT(in.dtype == refs[i].dtype && in.shape == refs[i].shape);
    LSHLAB_EXPECT(in.end - in.begin == store[i].size());
    std::vector<uint8_t> got(store[i].size() + 1, 0xEE);
    r.read_into(refs[i].name, refs[i].dtype, refs[i].shape, got.data());
    LSHLAB_EXPECT(store[i].empty() || std::memcmp(got.data(), store[i].data(), store[i].size()) == 0);
    LSHLAB_EXPECT(got.back() == 0xEE);  // copies exactly end - begin bytes
  }
  // No tensors at all is a valid file too.
  save_safetensors(dir / "empty.safetensors", {});
  SafetensorsReader e(dir / "empty.safetensors");
  LSHLAB_EXPECT(e.names().empty() && e.metadata().empty());
  LSHLAB_EXPECT(dir.files().size() == 2);  // no temp files left behind
}

LSHLAB_TEST("io/safetensors/layout-padding-and-alignment") {
  TempDir dir;
  const float w[3] = {1.5f, -2.0f, 0.25f};
  const int64_t ids[2] = {7, -9};
  for (const std::string name : {"w", "weight_name_of_other_len", "ab"}) {
    save_safetensors(dir / "x.safetensors", {{name, DType::F32, {3}, w}, {"ids", DType::I64, {2}, ids}});
    std::vector<uint8_t> f = read_file(dir / "x.safetensors");
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= static_cast<uint64_t>(f[i]) << (8 * i);
    LSHLAB_EXPECT((8 + n) % 8 == 0);
    std::string header(f.begin() + 8, f.begin() + 8 + n);
    const std::string json = "{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                             "\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[12,28]}}";
    LSHLAB_EXPECT(header.compare(0, json.size(), json) == 0);
    LSHLAB_EXPECT(header.size() - json.size() < 8);
    LSHLAB_EXPECT(header.find_first_not_of(' ', json.size()) == std::string::npos);  // padding is spaces
    LSHLAB_EXPECT(f.size() == 8 + n + 28);
    LSHLAB_EXPECT(std::memcmp(&f[8 + n], w, 12) == 0 && std::memcmp(&f[8 + n + 12], ids, 16) == 0);
  }
}

LSHLAB_TEST("io/safetensors/writer-rejects-bad-input") {
  TempDir dir;
  const float x[2] = {1, 2};
  const std::string p = dir / "bad.safetensors";
  LSHLAB_EXPECT(contains(error_of([&] { save_safetensors(p, {{"", DType::F32, {2}, x}}); }), "empty name"));
  LSHLAB_EXPECT(contains(error_of([&] { save_safetensors(p, {{"a", DType::F32, {2}, x}, {"a", DType::F32, {2}, x}}); }),
                         "duplicate tensor name 'a'"));
  LSHLAB_EXPECT(contains(error_of([&] { save_safetensors(p, {{"__metadata__", DType::F32, {2}, x}}); }), "reserved"));
  LSHLAB_EXPECT(contains(error_of([&] { save_safetensors(p, {{"n", DType::F32, {-2}, x}}); }),
                         "tensor 'n' has negative dimension in shape [-2]"));
  LSHLAB_EXPECT(contains(error_of([&] { save_safetensors(p, {{"z", DType::F32, {2}, nullptr}}); }), "'z' has null data"));
  LSHLAB_EXPECT(dir.files().empty());  // nothing written, not even a temp file
}

LSHLAB_TEST("io/safetensors/corruptions-are-named") {
  TempDir dir;
  const std::string p = dir / "c.safetensors";
  const std::string w24 = R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
  put(p, std::string("\x05\0\0\0\0", 5));
  LSHLAB_EXPECT(contains(reader_error(p), p + ": file has only 5 bytes"));
  put(p, std::string("\xe8\x03\0\0\0\0\0\0{}", 10));
  LSHLAB_EXPECT(contains(reader_error(p), p + ": header length 1000 (file bytes 0..7) runs past the end of the file"));
  write_raw(p, "[1, 2]", "");
  LSHLAB_EXPECT(contains(reader_error(p), "header at file byte 8 does not start with '{'"));
  write_raw(p, "", "");
  LSHLAB_EXPECT(contains(reader_error(p), "does not start with '{'"));
  write_raw(p, R"({"w":{"dtype":"F32",)", "");
  LSHLAB_EXPECT(contains(reader_error(p), p + ": header: line 1, column 21: expected string key"));
  write_raw(p, R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "xx");
  LSHLAB_EXPECT(contains(reader_error(p), "tensor 'w' has unknown dtype 'F8_E4M3'"));
  write_raw(p, R"({"w":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,24]}})", std::string(24, 'd'));
  LSHLAB_EXPECT(contains(reader_error(p), "tensor 'w' has negative dimension in shape [2, -3]"));
  write_raw(p, R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", std::string(8, 'd'));
  LSHLAB_EXPECT(contains(reader_error(p), "tensor 'w': 'shape' must be an array of integers"));
  write_raw(p, R"({"w":{"shape":[2],"data_offsets":[0,8]}})", std::string(8, 'd'));
  LSHLAB_EXPECT(contains(reader_error(p), "tensor 'w': missing field 'dtype'"));
  write_raw(p, R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", std::string(20, 'd'));
  LSHLAB_EXPECT(contains(reader_error(p), "tensor 'w' has data_offsets [0, 20] (20 bytes) but dtype F32 and shape [2, 3] need 24 bytes"));
  write_raw(p, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", std::string(8, 'd'));
  LSHLAB_EXPECT(contains(reader_error(p), "tensor 'w' has data_offsets [8, 0] with begin after end"));
  write_raw(p, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", std::string(8, 'd'));
  LSHLAB_EXPECT(contains(reader_error(p), "tensor 'w': 'data_offsets' must be [begin, end]"));
  write_raw(p, w24, std::string(20, 'd'));
  const size_t hdr = 8 + w24.size();
  LSHLAB_EXPECT(contains(reader_error(p), p + ": truncated: tensor 'w' data ends at byte 24 of the data section (file byte " +
                                              std::to_string(hdr + 24) + ") but the file has " + std::to_string(hdr + 20) + " bytes"));
  write_raw(p, R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}})",
            std::string(12, 'd'));
  LSHLAB_EXPECT(contains(reader_error(p), "tensors 'a' (data bytes 0..8) and 'b' (data bytes 4..12) overlap"));
  write_raw(p, R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}})",
            std::string(12, 'd'));
  LSHLAB_EXPECT(contains(reader_error(p), "data bytes 4..8 (file byte "));
  LSHLAB_EXPECT(contains(reader_error(p), "belong to no tensor: gap between 'a' and 'b'"));
  write_raw(p, R"({"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", std::string(8, 'd'));
  LSHLAB_EXPECT(contains(reader_error(p), "gap before 'b'"));
  write_raw(p, w24, std::string(30, 'd'));
  LSHLAB_EXPECT(contains(reader_error(p), "data section has 30 bytes but the tensors cover only 24 (unexpected bytes from file byte " +
                                              std::to_string(hdr + 24) + ")"));
  write_raw(p, R"({"__metadata__":{"step":3}})", "");
  LSHLAB_EXPECT(contains(reader_error(p), "__metadata__ value for 'step' must be a string, got number"));
  write_raw(p, R"({"w":[1]})", "");
  LSHLAB_EXPECT(contains(reader_error(p), "tensor 'w': header entry must be an object, got array"));
  LSHLAB_EXPECT(contains(reader_error(dir / "nope.safetensors"), "cannot read '" + dir / "nope.safetensors" + "': No such file"));
}

LSHLAB_TEST("io/safetensors/read-into-checks-dtype-and-shape") {
  TempDir dir;
  const std::string p = dir / "model.safetensors";
  std::vector<float> emb(100 * 64, 0.5f);
  save_safetensors(p, {{"bert.embeddings.word_embeddings.weight", DType::F32, {100, 64}, emb.data()}});
  SafetensorsReader r(p);
  std::vector<float> dst(100 * 64);
  LSHLAB_EXPECT(error_of([&] { r.read_into("bert.embeddings.word_embeddings.weight", DType::F32, {30522, 128}, dst.data()); }) ==
                p + ": tensor 'bert.embeddings.word_embeddings.weight' has shape [100, 64], expected [30522, 128]");
  LSHLAB_EXPECT(error_of([&] { r.read_into("bert.embeddings.word_embeddings.weight", DType::F16, {100, 64}, dst.data()); }) ==
                p + ": tensor 'bert.embeddings.word_embeddings.weight' has dtype F32, expected F16");
  LSHLAB_EXPECT(error_of([&] { r.read_into("pooler.dense.weight", DType::F32, {2}, dst.data()); }) ==
                p + ": no tensor named 'pooler.dense.weight' (the file has 1 tensors: bert.embeddings.word_embeddings.weight)");
  LSHLAB_EXPECT(!r.has("pooler.dense.weight") && r.has("bert.embeddings.word_embeddings.weight"));
  r.read_into("bert.embeddings.word_embeddings.weight", DType::F32, {100, 64}, dst.data());
  LSHLAB_EXPECT(dst == emb);
}

LSHLAB_TEST("io/safetensors/truncation-and-fuzz-never-crash") {
  TempDir dir;
  const std::string good = dir / "good.safetensors", bad = dir / "bad.safetensors";
  const double a[3] = {1, 2, 3};
  const int16_t b[4] = {-1, 2, -3, 4};
  const uint8_t c = 1;
  save_safetensors(good, {{"a", DType::F64, {3}, a}, {"b", DType::I16, {2, 2}, b}, {"c", DType::BOOL, {}, &c}},
                   {{"k", "v"}});
  const std::vector<uint8_t> f = read_file(good);
  // Every proper prefix is invalid (tensors must tile the data section) and must say so.
  for (size_t len = 0; len < f.size(); len++) {
    put(bad, f.data(), len);
    std::string msg = reader_error(bad);
    LSHLAB_EXPECT(contains(msg, bad + ": "));
  }
  // Single-byte corruptions anywhere: either a clean error or a file that still validates.
  int ok = 0, rejected = 0;
  for (size_t pos = 0; pos < f.size(); pos++) {
    for (uint8_t v : {uint8_t(0x00), uint8_t(0xFF), uint8_t('9'), uint8_t('"'), uint8_t(f[pos] ^ 0x01)}) {
      std::vector<uint8_t> g = f;
      g[pos] = v;
      put(bad, g.data(), g.size());
      try {
        SafetensorsReader r(bad);
        for (const auto& n : r.names()) (void)r.data(n);
        ok++;
      } catch (const Error&) {
        rejected++;
      }
    }
  }
  LSHLAB_EXPECT(ok > 0 && rejected > 0);  // data bytes are free; header bytes mostly are not
}

LSHLAB_TEST("io/atomic_file/injected-failures-keep-old-file") {
  TempDir dir;
  const std::string p = dir / "ckpt.safetensors";
  std::vector<float> v1(1000, 1.0f), v2(1000, 2.0f);
  save_safetensors(p, {{"w", DType::F32, {1000}, v1.data()}});
  const std::vector<uint8_t> before = read_file(p);
  for (int64_t budget : {0, 3, 8, 100, 2000, 4000}) {
    set_write_fault_after_bytes(budget);
    std::string msg = error_of([&] { save_safetensors(p, {{"w", DType::F32, {1000}, v2.data()}}); });
    set_write_fault_after_bytes(-1);
    LSHLAB_EXPECT(contains(msg, "cannot write '" + p + "'"));
    LSHLAB_EXPECT(contains(msg, "No space left on device"));
    LSHLAB_EXPECT(read_file(p) == before);
    LSHLAB_EXPECT(dir.files() == std::vector<std::string>{"ckpt.safetensors"});
  }
  set_commit_fault(CommitFault::Fsync);
  LSHLAB_EXPECT(contains(error_of([&] { write_file_atomic(p, std::string("new")); }), "fsync failed: Input/output error"));
  set_commit_fault(CommitFault::Rename);
  LSHLAB_EXPECT(contains(error_of([&] { write_file_atomic(p, std::string("new")); }), "rename from '" + p + ".tmp-"));
  LSHLAB_EXPECT(read_file(p) == before && dir.files().size() == 1);
  // Faults are one-shot / disabled: the next write goes through.
  save_safetensors(p, {{"w", DType::F32, {1000}, v2.data()}});
  std::vector<float> got(1000);
  SafetensorsReader(p).read_into("w", DType::F32, {1000}, got.data());
  LSHLAB_EXPECT(got == v2);
  // A failed first write leaves no file at all.
  set_write_fault_after_bytes(10);
  LSHLAB_EXPECT(!error_of([&] { write_file_atomic(dir / "fresh", std::string(100, 'x')); }).empty());
  set_write_fault_after_bytes(-1);
  LSHLAB_EXPECT(dir.files().size() == 1);
}

LSHLAB_TEST("io/atomic_file/writer-and-read-file") {
  TempDir dir;
  const std::string p = dir / "run.json";
  {
    AtomicFileWriter w(p);
    w.write("abc", 3);
    LSHLAB_EXPECT(w.temp_path().rfind(p + ".tmp-", 0) == 0 && w.bytes_written() == 3);
    LSHLAB_EXPECT(dir.files().size() == 1 && dir.files()[0] != "run.json");  // only the temp file
  }  // never committed: destructor removes the temp file, target never appears
  LSHLAB_EXPECT(dir.files().empty());
  {
    AtomicFileWriter w(p);
    w.write("hello ", 6);
    w.write("world", 5);
    w.commit();
    LSHLAB_EXPECT(contains(error_of([&] { w.write("x", 1); }), "already committed"));
  }
  LSHLAB_EXPECT(read_file_string(p) == "hello world");
  write_file_atomic(p, std::string());  // empty files are fine
  LSHLAB_EXPECT(read_file(p).empty());
  LSHLAB_EXPECT(contains(error_of([&] { read_file(dir.path); }), "cannot read '" + dir.path + "': is a directory"));
  LSHLAB_EXPECT(contains(error_of([&] { read_file(dir / "missing"); }), "cannot read '" + dir / "missing" + "': No such file or directory"));
  LSHLAB_EXPECT(contains(error_of([&] { write_file_atomic(dir / "no/such/dir.bin", std::string("x")); }),
                         "cannot create temp file"));
  // Renaming over a directory fails cleanly and leaves no temp file.
  ::mkdir((dir / "sub").c_str(), 0755);
  LSHLAB_EXPECT(contains(error_of([&] { write_file_atomic(dir / "sub", std::string("x")); }), "Is a directory"));
  ::rmdir((dir / "sub").c_str());
  LSHLAB_EXPECT(dir.files() == std::vector<std::string>{"run.json"});
  // Larger than the initial read buffer and not a multiple of it.
  std::string big(300000, 'q');
  big[123457] = 'Z';
  write_file_atomic(p, big);
  LSHLAB_EXPECT(read_file_string(p) == big);
  LSHLAB_EXPECT(read_file_string("/proc/self/stat").size() > 0);  // st_size 0: reads to EOF anyway
}
