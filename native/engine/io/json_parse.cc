/*
 * json_parse.cc: the strict recursive-descent JSON parser behind parse_json (see json.h). Errors
 * name the source, line and column; UTF-8 is validated as it is read. Numbers go through
 * std::from_chars so the locale never matters. Deliberately not: lenient modes, error recovery,
 * or more than one error per parse. The value type and the writer live in json.cc.
 */
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "core/common.h"
#include "io/json.h"
#include "io/utf8.h"

namespace lshlab {

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

}  // namespace lshlab
