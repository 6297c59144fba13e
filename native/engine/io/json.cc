/*
 * json.cc: the JSON value, its writer and the field helpers (see json.h); the parser is in
 * json_parse.cc.
 *
 * Numbers are converted with std::from_chars / std::to_chars so the result never depends on the
 * process locale (Node or a host app may have called setlocale) and doubles are written as the
 * shortest string that parses back to the same bits. Deliberately not: lenient modes, error
 * recovery, or more than one error per parse.
 */
#include "io/json.h"

#include "io/utf8.h"

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
