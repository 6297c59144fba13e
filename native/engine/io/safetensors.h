/*
 * safetensors.h: read and write the safetensors checkpoint format, byte-compatible with the
 * Hugging Face `safetensors` library, so lshlab checkpoints load in PyTorch/NumPy and HF BERT
 * weights load here.
 *
 * Layout: u64 little-endian header length N; N bytes of UTF-8 JSON
 *   {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}}
 * padded with spaces so the data section starts 8-byte aligned; then the data section, where
 * [b, e) are byte offsets relative to its start and tensors tile it exactly, with no gaps.
 *
 * Deliberately not: dtype conversion (read_into checks, never casts), memory mapping or lazy
 * loading (the reader holds the whole file), big-endian hosts, or the F8/U16/U32/U64 dtypes.
 */
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace lshlab {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType t);               // "F32", "BF16", "BOOL", ...
size_t dtype_size(DType t);                    // bytes per element
bool try_parse_dtype(const std::string& s, DType* out);
DType parse_dtype(const std::string& s);       // throws lshlab::Error on an unknown name
std::string shape_str(const std::vector<int64_t>& shape);  // "[2, 3]", "[]" for a scalar

// A tensor to save. `data` holds product(shape) * dtype_size(dtype) bytes, little-endian,
// row-major. A scalar has shape {}; a zero-size tensor may have data == nullptr.
struct TensorRef {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
};

// Writes atomically (AtomicFileWriter). Tensors are laid out in the order given. Throws on an
// empty, duplicate or reserved ("__metadata__") name, a negative dimension, or null data.
void save_safetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

class SafetensorsReader {
 public:
  // Reads the whole file and validates header and layout; every error names the file and the
  // tensor or byte offset at fault.
  explicit SafetensorsReader(const std::string& path);

  struct Info {
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;  // byte range within the data section
  };

  std::vector<std::string> names() const { return names_; }  // header order
  bool has(const std::string& name) const { return infos_.count(name) != 0; }
  const Info& info(const std::string& name) const;  // throws if missing
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }

  // Copies the tensor into dst (end - begin bytes) after checking dtype and shape exactly.
  void read_into(const std::string& name, DType expect, const std::vector<int64_t>& expect_shape,
                 void* dst) const;
  // Raw bytes of a tensor inside the loaded file (valid while the reader lives).
  const uint8_t* data(const std::string& name) const;

 private:
  std::string path_;
  std::vector<uint8_t> bytes_;
  uint64_t data_start_ = 0;  // file offset of the data section
  std::vector<std::string> names_;
  std::unordered_map<std::string, Info> infos_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace lshlab
