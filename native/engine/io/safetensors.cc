/*
 * safetensors.cc: writer and validating reader for the safetensors format (see safetensors.h).
 *
 * The reader trusts nothing in the file: every length and offset is checked against the file
 * size with overflow-safe arithmetic before any byte is touched, so a truncated or hostile file
 * gives an lshlab::Error naming the file and the tensor or byte offset, never a crash.
 * Deliberately not: accepting files the Python library would reject (gaps, overlaps, trailing
 * bytes after the last tensor), since a checkpoint that only loads here is a trap.
 */
#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <tuple>

#include "core/common.h"
#include "io/atomic_file.h"
#include "io/json.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; this implementation copies bytes as they are");

namespace lshlab {

namespace {

const DType kAllDTypes[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64,
                            DType::I32, DType::I16, DType::I8,  DType::U8,   DType::BOOL};

// Bytes of product(shape) * elem, or false on overflow of uint64.
bool tensor_nbytes(const std::vector<int64_t>& shape, size_t elem, uint64_t* out) {
  uint64_t n = elem;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  }
  *out = n;
  return true;
}

std::string supported_dtypes() {
  std::string s;
  for (DType t : kAllDTypes) s += std::string(s.empty() ? "" : ", ") + dtype_name(t);
  return s;
}

}  // namespace

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::BOOL: return 1;
  }
  return 0;
}

bool try_parse_dtype(const std::string& s, DType* out) {
  for (DType t : kAllDTypes)
    if (s == dtype_name(t)) { *out = t; return true; }
  return false;
}

DType parse_dtype(const std::string& s) {
  DType t;
  LSHLAB_CHECK(try_parse_dtype(s, &t), "unknown dtype '" + s + "' (supported: " + supported_dtypes() + ")");
  return t;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// ---------------------------------------------------------------- writer

void save_safetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string where = "cannot save '" + path + "': ";
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& kv : metadata) meta.set(kv.first, Json(kv.second));
    header.set("__metadata__", std::move(meta));
  }
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const TensorRef& t : tensors) {
    LSHLAB_CHECK(!t.name.empty(), where + "a tensor has an empty name");
    LSHLAB_CHECK(t.name != "__metadata__", where + "'__metadata__' is reserved and cannot name a tensor");
    LSHLAB_CHECK(seen.insert(t.name).second, where + "duplicate tensor name '" + t.name + "'");
    for (int64_t d : t.shape)
      LSHLAB_CHECK(d >= 0, where + "tensor '" + t.name + "' has negative dimension in shape " + shape_str(t.shape));
    uint64_t nbytes;
    LSHLAB_CHECK(tensor_nbytes(t.shape, dtype_size(t.dtype), &nbytes),
                 where + "tensor '" + t.name + "' shape " + shape_str(t.shape) + " overflows 64 bits");
    LSHLAB_CHECK(t.data || nbytes == 0, where + "tensor '" + t.name + "' has null data");
    Json shape = Json::array();
    for (int64_t d : t.shape) shape.push_back(Json(d));
    Json offsets = Json::array();
    offsets.push_back(Json(offset));
    offsets.push_back(Json(offset + nbytes));
    Json entry = Json::object();
    entry.set("dtype", Json(dtype_name(t.dtype)));
    entry.set("shape", std::move(shape));
    entry.set("data_offsets", std::move(offsets));
    header.set(t.name, std::move(entry));
    offset += nbytes;
  }
  std::string text = header.dump();
  // Spaces (valid trailing JSON whitespace) so the data section starts 8-byte aligned, which
  // lets readers that mmap the file use the tensors in place.
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  uint8_t len[8];
  for (int i = 0; i < 8; i++) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));

  AtomicFileWriter w(path);
  w.write(len, 8);
  w.write(text.data(), text.size());
  for (const TensorRef& t : tensors) {
    uint64_t nbytes = 0;
    tensor_nbytes(t.shape, dtype_size(t.dtype), &nbytes);
    if (nbytes) w.write(t.data, static_cast<size_t>(nbytes));
  }
  w.commit();
}

// ---------------------------------------------------------------- reader

SafetensorsReader::SafetensorsReader(const std::string& path) : path_(path), bytes_(read_file(path)) {
  const std::string& p = path_;
  const uint64_t size = bytes_.size();
  LSHLAB_CHECK(size >= 8, p + ": file has only " + std::to_string(size) +
                              " bytes; a safetensors file starts with an 8-byte header length");
  uint64_t n = 0;
  for (int i = 0; i < 8; i++) n |= static_cast<uint64_t>(bytes_[i]) << (8 * i);
  LSHLAB_CHECK(n <= size - 8, p + ": header length " + std::to_string(n) + " (file bytes 0..7) runs past " +
                                  "the end of the file: only " + std::to_string(size - 8) +
                                  " bytes follow it (file has " + std::to_string(size) + " bytes)");
  LSHLAB_CHECK(n > 0 && bytes_[8] == '{', p + ": header at file byte 8 does not start with '{' (not a safetensors file?)");
  const Json header = parse_json(reinterpret_cast<const char*>(&bytes_[8]), n, p + ": header");
  data_start_ = 8 + n;
  const uint64_t data_size = size - data_start_;

  for (const auto& m : header.members()) {
    const std::string& name = m.first;
    const Json& e = m.second;
    if (name == "__metadata__") {
      LSHLAB_CHECK(e.is_object(), p + ": __metadata__ must be an object of strings");
      for (const auto& kv : e.members()) {
        LSHLAB_CHECK(kv.second.is_string(), p + ": __metadata__ value for '" + kv.first + "' must be a string, got " +
                                                Json::type_name(kv.second.type()));
        metadata_[kv.first] = kv.second.as_string();
      }
      continue;
    }
    const std::string t = p + ": tensor '" + name + "'";
    LSHLAB_CHECK(e.is_object(), t + ": header entry must be an object, got " + Json::type_name(e.type()));
    Info info;
    const std::string dt = get_string(e, "dtype", t);
    LSHLAB_CHECK(try_parse_dtype(dt, &info.dtype), t + " has unknown dtype '" + dt + "' (supported: " + supported_dtypes() + ")");
    const Json* shape = e.find("shape");
    LSHLAB_CHECK(shape && shape->is_array(), t + ": 'shape' must be an array of integers");
    for (const Json& d : shape->items()) {
      LSHLAB_CHECK(d.is_integral(), t + ": 'shape' must be an array of integers, got " + d.dump());
      info.shape.push_back(d.as_int());
    }
    for (int64_t d : info.shape)
      LSHLAB_CHECK(d >= 0, t + " has negative dimension in shape " + shape_str(info.shape));
    const Json* off = e.find("data_offsets");
    LSHLAB_CHECK(off && off->is_array() && off->size() == 2 && (*off)[0].is_integral() && (*off)[1].is_integral() &&
                     (*off)[0].as_int() >= 0 && (*off)[1].as_int() >= 0,
                 t + ": 'data_offsets' must be [begin, end] with non-negative integers");
    info.begin = static_cast<uint64_t>((*off)[0].as_int());
    info.end = static_cast<uint64_t>((*off)[1].as_int());
    const std::string range = "[" + std::to_string(info.begin) + ", " + std::to_string(info.end) + "]";
    LSHLAB_CHECK(info.begin <= info.end, t + " has data_offsets " + range + " with begin after end");
    LSHLAB_CHECK(info.end <= data_size, p + ": truncated: tensor '" + name + "' data ends at byte " +
                                            std::to_string(info.end) + " of the data section (file byte " +
                                            std::to_string(data_start_ + info.end) + ") but the file has " +
                                            std::to_string(size) + " bytes");
    uint64_t need;
    LSHLAB_CHECK(tensor_nbytes(info.shape, dtype_size(info.dtype), &need),
                 t + " shape " + shape_str(info.shape) + " overflows 64 bits");
    LSHLAB_CHECK(info.end - info.begin == need,
                 t + " has data_offsets " + range + " (" + std::to_string(info.end - info.begin) +
                     " bytes) but dtype " + dtype_name(info.dtype) + " and shape " + shape_str(info.shape) +
                     " need " + std::to_string(need) + " bytes");
    names_.push_back(name);
    infos_.emplace(name, std::move(info));
  }

  // Tensors must tile the data section exactly, as the Python library requires.
  std::vector<std::tuple<uint64_t, uint64_t, const std::string*>> spans;
  for (const auto& name : names_) spans.emplace_back(infos_[name].begin, infos_[name].end, &name);
  std::sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) {
    return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
  });
  uint64_t covered = 0;
  const std::string* prev = nullptr;
  for (const auto& s : spans) {
    const uint64_t b = std::get<0>(s), e = std::get<1>(s);
    const std::string& name = *std::get<2>(s);
    if (b < covered)
      throw Error(p + ": tensors '" + *prev + "' (data bytes " + std::to_string(infos_[*prev].begin) + ".." +
                  std::to_string(infos_[*prev].end) + ") and '" + name + "' (data bytes " + std::to_string(b) + ".." +
                  std::to_string(e) + ") overlap");
    if (b > covered)
      throw Error(p + ": data bytes " + std::to_string(covered) + ".." + std::to_string(b) + " (file byte " +
                  std::to_string(data_start_ + covered) + ") belong to no tensor: gap " +
                  (prev ? "between '" + *prev + "' and '" + name + "'" : "before '" + name + "'"));
    covered = e;
    prev = &name;
  }
  LSHLAB_CHECK(covered == data_size, p + ": data section has " + std::to_string(data_size) +
                                         " bytes but the tensors cover only " + std::to_string(covered) +
                                         " (unexpected bytes from file byte " + std::to_string(data_start_ + covered) + ")");
}

const SafetensorsReader::Info& SafetensorsReader::info(const std::string& name) const {
  auto it = infos_.find(name);
  if (it != infos_.end()) return it->second;
  std::string list;
  for (size_t i = 0; i < names_.size() && i < 8; i++) list += (i ? ", " : "") + names_[i];
  if (names_.size() > 8) list += ", ...";
  throw Error(path_ + ": no tensor named '" + name + "' (the file has " + std::to_string(names_.size()) +
              " tensors" + (names_.empty() ? "" : ": " + list) + ")");
}

const uint8_t* SafetensorsReader::data(const std::string& name) const {
  return bytes_.data() + data_start_ + info(name).begin;
}

void SafetensorsReader::read_into(const std::string& name, DType expect,
                                  const std::vector<int64_t>& expect_shape, void* dst) const {
  const Info& in = info(name);
  LSHLAB_CHECK(in.dtype == expect, path_ + ": tensor '" + name + "' has dtype " + dtype_name(in.dtype) +
                                       ", expected " + dtype_name(expect));
  LSHLAB_CHECK(in.shape == expect_shape, path_ + ": tensor '" + name + "' has shape " + shape_str(in.shape) +
                                             ", expected " + shape_str(expect_shape));
  if (in.end > in.begin) std::memcpy(dst, bytes_.data() + data_start_ + in.begin, in.end - in.begin);
}

}  // namespace lshlab
