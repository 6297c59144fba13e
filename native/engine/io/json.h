/*
 * json.h: a small JSON value (null, bool, number, string, array, object) with a strict parser
 * and a compact / pretty writer, for configs, run metadata and safetensors headers.
 *
 * Numbers keep whether their literal was integral (no '.', no exponent, fits int64) so that
 * integers round-trip exactly beyond 2^53 and are written back without a decimal point.
 * Objects preserve insertion order (configs diff cleanly); lookup is linear, which is fine for
 * the few hundred keys we ever hold.
 *
 * Deliberately not: a streaming/SAX parser, comments or trailing commas (JSON5), NaN/Infinity
 * (the writer throws rather than emit invalid JSON), or a DOM with parent links.
 */
#pragma once
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace lshlab {

class Json {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };
  using Member = std::pair<std::string, Json>;

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : type_(Type::Bool), bool_(b) {}
  Json(double d) : type_(Type::Number), num_(d) {}
  // Any integer type becomes an integral number kept exactly as int64 (an unsigned value above
  // INT64_MAX cannot be, and becomes a plain double instead of wrapping negative).
  template <typename I, typename std::enable_if<std::is_integral<I>::value &&
                                                    !std::is_same<I, bool>::value,
                                                int>::type = 0>
  Json(I i) : type_(Type::Number), num_(static_cast<double>(i)), int_(static_cast<int64_t>(i)),
              integral_(std::is_signed<I>::value || static_cast<uint64_t>(i) <= uint64_t(INT64_MAX)) {}
  Json(const char* s) : type_(Type::String), str_(s) {}
  Json(std::string s) : type_(Type::String), str_(std::move(s)) {}
  static Json array() { Json j; j.type_ = Type::Array; return j; }
  static Json object() { Json j; j.type_ = Type::Object; return j; }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_integral() const { return type_ == Type::Number && integral_; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Accessors throw lshlab::Error on a type mismatch.
  bool as_bool() const;
  double as_double() const;
  int64_t as_int() const;  // integral literal, or a double with an exact integer value
  const std::string& as_string() const;

  // Arrays.
  size_t size() const;  // elements of an array or members of an object
  const Json& operator[](size_t i) const;
  Json& push_back(Json v);
  const std::vector<Json>& items() const;

  // Objects. set() replaces an existing key in place (keeping its position) or appends.
  bool has(const std::string& key) const { return find(key) != nullptr; }
  const Json* find(const std::string& key) const;
  const Json& operator[](const std::string& key) const;  // throws naming the key if missing
  Json& set(const std::string& key, Json v);
  const std::vector<Member>& members() const;

  // indent < 0: compact; otherwise pretty with `indent` spaces per level.
  std::string dump(int indent = -1) const;
  std::string dump_pretty() const { return dump(2); }

  static const char* type_name(Type t);

 private:
  friend class JsonParser;
  void dump_to(std::string& out, int indent, int depth) const;

  Type type_ = Type::Null;
  bool bool_ = false;
  double num_ = 0;
  int64_t int_ = 0;
  bool integral_ = false;
  std::string str_;
  std::vector<Json> arr_;
  std::vector<Member> obj_;
};

// Strict RFC 8259 parse of the whole text (one value, optional surrounding whitespace; a UTF-8
// BOM is skipped). Errors read "<source>: line L, column C: <what>", column counted in characters.
Json parse_json(const std::string& text, const std::string& source = "<json>");
Json parse_json(const char* data, size_t n, const std::string& source = "<json>");

// Field helpers: throw "<context>: missing field 'k'" or "<context>: field 'k' must be an
// integer, got string" (the "<context>: " prefix is left out when context is empty).
int64_t get_int(const Json& obj, const std::string& key, const std::string& context = "");
double get_double(const Json& obj, const std::string& key, const std::string& context = "");
std::string get_string(const Json& obj, const std::string& key, const std::string& context = "");
bool get_bool(const Json& obj, const std::string& key, const std::string& context = "");
// Same, but return `def` when the field is absent (a present field of the wrong type still throws).
int64_t get_int_or(const Json& obj, const std::string& key, int64_t def, const std::string& context = "");
double get_double_or(const Json& obj, const std::string& key, double def, const std::string& context = "");
std::string get_string_or(const Json& obj, const std::string& key, const std::string& def,
                          const std::string& context = "");
bool get_bool_or(const Json& obj, const std::string& key, bool def, const std::string& context = "");

}  // namespace lshlab
