/*
 * json.cc: the JSON value, its strict recursive-descent parser and its writer (see json.h).
 *
 * Numbers are converted with std::from_chars / std::to_chars so the result never depends on the
 * process locale (Node or a host app may have called setlocale) and doubles are written as the
 * shortest string that parses back to the same bits. Deliberately not: lenient modes, error
 * recovery, or more than one error per parse.
 */
#include "io/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "core/common.h"

namespace lshlab {

namespace {

std::string prefixed(const std::string& context, const std::string& msg) {
  return context.empty() ? msg : context + ": " + msg;
}

// Length of the valid UTF-8 sequence starting at p (strict: no overlongs, no surrogates,
// nothing above U+10FFFF), or 0 if invalid.
size_t utf8_seq_len(const unsigned char* p, const unsigned char* end) {
  unsigned c = p[0];
  if (c < 0x80) return 1;
  size_t n;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) { n = 3; lo = 0xA0; }
  else if (c == 0xED) { n = 3; hi = 0x9F; }  // excludes UTF-16 surrogates
  else if (c >= 0xE1 && c <= 0xEF) n = 3;
  else if (c == 0xF0) { n = 4; lo = 0x90; }
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else if (c == 0xF4) { n = 4; hi = 0x8F; }
  else return 0;
  if (static_cast<size_t>(end - p) < n) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  return n;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

void write_string(std::string& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    size_t n = utf8_seq_len(p, end);
    // Refuse rather than emit a file other JSON readers (e.g. Python's safetensors) reject.
    LSHLAB_CHECK(n != 0, "cannot write JSON: string is not valid UTF-8 (byte " +
                             std::to_string(p - reinterpret_cast<const unsigned char*>(s.data())) +
                             " of \"" + s.substr(0, 40) + "\")");
    if (n > 1) { out.append(reinterpret_cast<const char*>(p), n); p += n; continue; }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) { out += "\\u00"; out += hex[c >> 4]; out += hex[c & 15]; }
        else out += static_cast<char>(c);
    }
    p++;
  }
  out += '"';
}

// Shortest digits that parse back to the same double (std::to_chars), laid out the way
// JavaScript's Number#toString does, so 1e-4 is "0.0001" rather than "1e-04" and the files we
// write look like those the TypeScript side writes.
void write_shortest(std::string& out, double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, r.ptr);  // "-1.2345e-05"
  if (sci[0] == '-') { out += '-'; sci.erase(0, 1); }
  const size_t e_pos = sci.find('e');
  std::string digits = sci.substr(0, e_pos);
  if (digits.size() > 1) digits.erase(1, 1);  // drop the '.'
  const int k = static_cast<int>(digits.size());
  const int n = std::atoi(sci.c_str() + e_pos + 1) + 1;  // decimal point sits after n digits
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, n) + "." + digits.substr(n);
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-n), '0');
    out += digits;
  } else {
    out += digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += (n - 1 < 0 ? "e-" : "e+") + std::to_string(n - 1 < 0 ? 1 - n : n - 1);
  }
}

}  // namespace

// ---------------------------------------------------------------- value

const char* Json::type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "bool";
    case Type::Number: return "number";
    case Type::String: return "string";
    case Type::Array: return "array";
    case Type::Object: return "object";
  }
  return "?";
}

static void expect_type(const Json& j, Json::Type t) {
  LSHLAB_CHECK(j.type() == t, std::string("JSON value is ") + Json::type_name(j.type()) +
                                  ", expected " + Json::type_name(t));
}

bool Json::as_bool() const { expect_type(*this, Type::Bool); return bool_; }
double Json::as_double() const { expect_type(*this, Type::Number); return num_; }
const std::string& Json::as_string() const { expect_type(*this, Type::String); return str_; }

int64_t Json::as_int() const {
  expect_type(*this, Type::Number);
  if (integral_) return int_;
  // 2^63 is exactly representable; anything >= it (or NaN) does not fit.
  LSHLAB_CHECK(std::floor(num_) == num_ && num_ >= -9223372036854775808.0 &&
                   num_ < 9223372036854775808.0,
               "JSON number " + dump() + " is not an integer");
  return static_cast<int64_t>(num_);
}

size_t Json::size() const {
  if (type_ == Type::Array) return arr_.size();
  expect_type(*this, Type::Object);
  return obj_.size();
}
const Json& Json::operator[](size_t i) const {
  expect_type(*this, Type::Array);
  LSHLAB_CHECK(i < arr_.size(), "JSON array index " + std::to_string(i) + " out of range (size " +
                                    std::to_string(arr_.size()) + ")");
  return arr_[i];
}
Json& Json::push_back(Json v) {
  expect_type(*this, Type::Array);
  arr_.push_back(std::move(v));
  return arr_.back();
}
const std::vector<Json>& Json::items() const { expect_type(*this, Type::Array); return arr_; }

const Json* Json::find(const std::string& key) const {
  expect_type(*this, Type::Object);
  for (const auto& m : obj_)
    if (m.first == key) return &m.second;
  return nullptr;
}
const Json& Json::operator[](const std::string& key) const {
  const Json* j = find(key);
  LSHLAB_CHECK(j, "JSON object has no key '" + key + "'");
  return *j;
}
Json& Json::set(const std::string& key, Json v) {
  expect_type(*this, Type::Object);
  for (auto& m : obj_)
    if (m.first == key) { m.second = std::move(v); return m.second; }
  obj_.emplace_back(key, std::move(v));
  return obj_.back().second;
}
const std::vector<Json::Member>& Json::members() const { expect_type(*this, Type::Object); return obj_; }

// ---------------------------------------------------------------- writer

std::string Json::dump(int indent) const {
  std::string out;
  dump_to(out, indent, 0);
  return out;
}

void Json::dump_to(std::string& out, int indent, int depth) const {
  auto newline = [&](int d) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent) * d, ' ');
  };
  switch (type_) {
    case Type::Null: out += "null"; break;
    case Type::Bool: out += bool_ ? "true" : "false"; break;
    case Type::String: write_string(out, str_); break;
    case Type::Number: {
      if (integral_) { out += std::to_string(int_); break; }
      LSHLAB_CHECK(std::isfinite(num_), "cannot write JSON: number is " +
                                            std::string(std::isnan(num_) ? "NaN" : "infinite") +
                                            " (JSON has no representation for it)");
      char buf[64];
      if (std::floor(num_) == num_ && std::fabs(num_) < 9007199254740992.0) {
        std::snprintf(buf, sizeof buf, "%.0f", num_);  // integral value: no decimal point
        out += buf;
      } else {
        write_shortest(out, num_);
      }
      break;
    }
    case Type::Array:
      if (arr_.empty()) { out += "[]"; break; }
      out += '[';
      for (size_t i = 0; i < arr_.size(); i++) {
        if (i) out += ',';
        newline(depth + 1);
        arr_[i].dump_to(out, indent, depth + 1);
      }
      newline(depth);
      out += ']';
      break;
    case Type::Object:
      if (obj_.empty()) { out += "{}"; break; }
      out += '{';
      for (size_t i = 0; i < obj_.size(); i++) {
        if (i) out += ',';
        newline(depth + 1);
        write_string(out, obj_[i].first);
        out += indent < 0 ? ":" : ": ";
        obj_[i].second.dump_to(out, indent, depth + 1);
      }
      newline(depth);
      out += '}';
      break;
  }
}

// ---------------------------------------------------------------- parser

class JsonParser {
 public:
  JsonParser(const char* data, size_t n, const std::string& source)
      : begin_(data), p_(data), end_(data + n), source_(source) {}

  Json parse_document() {
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) p_ += 3;  // UTF-8 BOM
    skip_ws();
    Json v = parse_value(0);
    skip_ws();
    if (p_ != end_) fail(p_, "unexpected content after the JSON value");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 512;  // bounds recursion so hostile input cannot blow the stack

  [[noreturn]] void fail(const char* at, const std::string& what) const {
    size_t line = 1, col = 1;
    for (const char* q = begin_; q < at; q++) {
      unsigned char c = static_cast<unsigned char>(*q);
      if (c == '\n') { line++; col = 1; }
      else if ((c & 0xC0) != 0x80) col++;  // count characters, not UTF-8 continuation bytes
    }
    throw Error(source_ + ": line " + std::to_string(line) + ", column " + std::to_string(col) +
                ": " + what);
  }
  [[noreturn]] void fail_unexpected(const std::string& expected) const {
    if (p_ == end_) fail(p_, expected + ", got end of input");
    unsigned char c = static_cast<unsigned char>(*p_);
    char got[32];
    if (c >= 0x20 && c < 0x7F) std::snprintf(got, sizeof got, "'%c'", c);
    else std::snprintf(got, sizeof got, "byte 0x%02X", c);
    fail(p_, expected + ", got " + got);
  }

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) p_++;
  }
  bool literal(const char* word) {
    size_t n = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) >= n && std::memcmp(p_, word, n) == 0) { p_ += n; return true; }
    return false;
  }

  Json parse_value(int depth) {
    if (depth >= kMaxDepth) fail(p_, "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    if (p_ == end_) fail_unexpected("expected a JSON value");
    switch (*p_) {
      case '{': return parse_object(depth);
      case '[': return parse_array(depth);
      case '"': { Json j{std::string()}; parse_string(j.str_); return j; }
      case 't': if (literal("true")) return Json(true); break;
      case 'f': if (literal("false")) return Json(false); break;
      case 'n': if (literal("null")) return Json(); break;
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return parse_number();
    }
    fail_unexpected("expected a JSON value");
  }

  Json parse_object(int depth) {
    Json obj = Json::object();
    std::unordered_set<std::string> seen;
    p_++;  // '{'
    skip_ws();
    if (p_ < end_ && *p_ == '}') { p_++; return obj; }
    for (;;) {
      if (p_ == end_ || *p_ != '"') fail_unexpected(obj.obj_.empty() ? "expected string key or '}'" : "expected string key");
      const char* key_at = p_;
      std::string key;
      parse_string(key);
      if (!seen.insert(key).second) fail(key_at, "duplicate key \"" + key + "\"");
      skip_ws();
      if (p_ == end_ || *p_ != ':') fail_unexpected("expected ':'");
      p_++;
      skip_ws();
      obj.obj_.emplace_back(std::move(key), parse_value(depth + 1));
      skip_ws();
      if (p_ < end_ && *p_ == ',') { p_++; skip_ws(); continue; }
      if (p_ < end_ && *p_ == '}') { p_++; return obj; }
      fail_unexpected("expected ',' or '}'");
    }
  }

  Json parse_array(int depth) {
    Json arr = Json::array();
    p_++;  // '['
    skip_ws();
    if (p_ < end_ && *p_ == ']') { p_++; return arr; }
    for (;;) {
      arr.arr_.push_back(parse_value(depth + 1));
      skip_ws();
      if (p_ < end_ && *p_ == ',') { p_++; skip_ws(); continue; }
      if (p_ < end_ && *p_ == ']') { p_++; return arr; }
      fail_unexpected("expected ',' or ']'");
    }
  }

  uint32_t hex4(const char* at) {
    if (end_ - at < 4) fail(at, "incomplete \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
      char c = at[i];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else fail(at + i, "invalid hex digit in \\u escape");
    }
    return v;
  }

  void parse_string(std::string& out) {
    const char* open = p_++;
    for (;;) {
      if (p_ == end_) fail(open, "unterminated string");
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') { p_++; return; }
      if (c < 0x20) {
        char buf[80];
        std::snprintf(buf, sizeof buf, "control character U+%04X in string must be escaped", c);
        fail(p_, buf);
      }
      if (c == '\\') {
        const char* esc = p_++;
        if (p_ == end_) fail(open, "unterminated string");
        char e = *p_++;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            uint32_t cp = hex4(p_);
            p_ += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) fail(esc, "unpaired low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u')
                fail(esc, "high surrogate \\u escape not followed by a low surrogate");
              uint32_t lo = hex4(p_ + 2);
              if (lo < 0xDC00 || lo > 0xDFFF) fail(p_, "high surrogate \\u escape not followed by a low surrogate");
              p_ += 6;
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            append_utf8(out, cp);
            break;
          }
          default: fail(esc, std::string("invalid escape '\\") + (e >= 0x20 && e < 0x7F ? std::string(1, e) : "?") + "'");
        }
        continue;
      }
      size_t n = utf8_seq_len(reinterpret_cast<const unsigned char*>(p_),
                              reinterpret_cast<const unsigned char*>(end_));
      if (n == 0) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "invalid UTF-8 byte 0x%02X in string", c);
        fail(p_, buf);
      }
      out.append(p_, n);
      p_ += n;
    }
  }

  Json parse_number() {
    const char* start = p_;
    bool integral = true;
    if (*p_ == '-') p_++;
    if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) fail_unexpected("expected a digit");
    if (*p_ == '0' && p_ + 1 < end_ && p_[1] >= '0' && p_[1] <= '9') fail(p_, "leading zeros are not allowed");
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') p_++;
    if (p_ < end_ && *p_ == '.') {
      integral = false;
      p_++;
      if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) fail_unexpected("expected a digit after '.'");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') p_++;
    }
    bool neg_exp = false;
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      p_++;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) neg_exp = *p_++ == '-';
      if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) fail_unexpected("expected a digit in the exponent");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') p_++;
    }
    if (integral) {
      int64_t v;
      auto r = std::from_chars(start, p_, v);
      if (r.ec == std::errc() && r.ptr == p_) return Json(v);
      // Beyond int64: fall through and keep it as a (non-integral) double.
    }
    double d;
    auto r = std::from_chars(start, p_, d);
    if (r.ec == std::errc::result_out_of_range) {
      if (!neg_exp) fail(start, "number " + std::string(start, p_) + " is out of range");
      d = *start == '-' ? -0.0 : 0.0;  // underflow: the nearest double is zero
    } else if (r.ec != std::errc() || r.ptr != p_) {
      fail(start, "invalid number");
    }
    return Json(d);
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::string source_;
};

Json parse_json(const char* data, size_t n, const std::string& source) {
  return JsonParser(data, n, source).parse_document();
}
Json parse_json(const std::string& text, const std::string& source) {
  return parse_json(text.data(), text.size(), source);
}

// ---------------------------------------------------------------- field helpers

static const Json* field(const Json& obj, const std::string& key, const std::string& context, bool required) {
  LSHLAB_CHECK(obj.is_object(), prefixed(context, std::string("expected a JSON object, got ") +
                                                      Json::type_name(obj.type())));
  const Json* j = obj.find(key);
  LSHLAB_CHECK(j || !required, prefixed(context, "missing field '" + key + "'"));
  return j;
}
[[noreturn]] static void wrong_type(const Json& j, const std::string& key, const char* want,
                                    const std::string& context) {
  std::string got = j.is_number() || j.is_bool() || j.is_null() ? j.dump() : Json::type_name(j.type());
  throw Error(prefixed(context, "field '" + key + "' must be " + want + ", got " + got));
}

static int64_t to_int(const Json& j, const std::string& key, const std::string& context) {
  if (!j.is_number()) wrong_type(j, key, "an integer", context);
  try { return j.as_int(); } catch (const Error&) { wrong_type(j, key, "an integer", context); }
}
static double to_double(const Json& j, const std::string& key, const std::string& context) {
  if (!j.is_number()) wrong_type(j, key, "a number", context);
  return j.as_double();
}
static std::string to_string(const Json& j, const std::string& key, const std::string& context) {
  if (!j.is_string()) wrong_type(j, key, "a string", context);
  return j.as_string();
}
static bool to_bool(const Json& j, const std::string& key, const std::string& context) {
  if (!j.is_bool()) wrong_type(j, key, "true or false", context);
  return j.as_bool();
}

int64_t get_int(const Json& o, const std::string& k, const std::string& c) { return to_int(*field(o, k, c, true), k, c); }
double get_double(const Json& o, const std::string& k, const std::string& c) { return to_double(*field(o, k, c, true), k, c); }
std::string get_string(const Json& o, const std::string& k, const std::string& c) { return to_string(*field(o, k, c, true), k, c); }
bool get_bool(const Json& o, const std::string& k, const std::string& c) { return to_bool(*field(o, k, c, true), k, c); }

int64_t get_int_or(const Json& o, const std::string& k, int64_t def, const std::string& c) {
  const Json* j = field(o, k, c, false);
  return j ? to_int(*j, k, c) : def;
}
double get_double_or(const Json& o, const std::string& k, double def, const std::string& c) {
  const Json* j = field(o, k, c, false);
  return j ? to_double(*j, k, c) : def;
}
std::string get_string_or(const Json& o, const std::string& k, const std::string& def, const std::string& c) {
  const Json* j = field(o, k, c, false);
  return j ? to_string(*j, k, c) : def;
}
bool get_bool_or(const Json& o, const std::string& k, bool def, const std::string& c) {
  const Json* j = field(o, k, c, false);
  return j ? to_bool(*j, k, c) : def;
}

}  // namespace lshlab
