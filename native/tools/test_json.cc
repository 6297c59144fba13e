/*
 * test_json.cc: golden tests for io/json.h: parse/write round trips, escapes and unicode,
 * number formatting, strictness, and error messages that name line and column.
 * Not a conformance suite: the cases are the ones our configs and safetensors headers hit.
 */
#include <cmath>
#include <cstring>
#include <string>

#include "core/common.h"
#include "io/json.h"
#include "test_registry.h"

using lshlab::Json;
using lshlab::parse_json;

namespace {

// Message of the lshlab::Error thrown by f, or "" if nothing was thrown.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const lshlab::Error& e) {
    return e.what();
  }
  return "";
}
bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }
std::string parse_error(const std::string& text) {
  return error_of([&] { parse_json(text, "config.json"); });
}

}  // namespace

LSHLAB_TEST("io/json/values") {
  Json j = parse_json(R"({"a": 1, "b": -2.5, "c": true, "d": null, "e": "x", "f": [1, [2]], "g": {}})");
  LSHLAB_EXPECT(j.is_object() && j.size() == 7);
  LSHLAB_EXPECT(j["a"].is_integral() && j["a"].as_int() == 1);
  LSHLAB_EXPECT(!j["b"].is_integral() && j["b"].as_double() == -2.5);
  LSHLAB_EXPECT(j["c"].as_bool() && j["d"].is_null() && j["e"].as_string() == "x");
  LSHLAB_EXPECT(j["f"].size() == 2 && j["f"][1][0].as_int() == 2);
  LSHLAB_EXPECT(j["g"].is_object() && j["g"].size() == 0);
  // Insertion order is preserved, including through set() of an existing key.
  Json o = parse_json(R"({"z": 1, "a": 2, "m": 3})");
  o.set("a", Json(20));
  o.set("b", Json("new"));
  LSHLAB_EXPECT(o.dump() == R"({"z":1,"a":20,"m":3,"b":"new"})");
}

LSHLAB_TEST("io/json/writer") {
  Json j = Json::object();
  j.set("name", Json("bert"));
  j.set("layers", Json(12));
  j.set("lr", Json(1e-4));
  j.set("ok", Json(true));
  Json arr = Json::array();
  arr.push_back(Json(1));
  arr.push_back(Json());
  j.set("list", arr);
  j.set("empty", Json::array());
  LSHLAB_EXPECT(j.dump() == R"({"name":"bert","layers":12,"lr":0.0001,"ok":true,"list":[1,null],"empty":[]})");
  LSHLAB_EXPECT(j.dump_pretty() ==
                "{\n  \"name\": \"bert\",\n  \"layers\": 12,\n  \"lr\": 0.0001,\n  \"ok\": true,\n"
                "  \"list\": [\n    1,\n    null\n  ],\n  \"empty\": []\n}");
  // Pretty output parses back to the same compact form.
  LSHLAB_EXPECT(parse_json(j.dump_pretty()).dump() == j.dump());
}

LSHLAB_TEST("io/json/numbers") {
  LSHLAB_EXPECT(Json(3.0).dump() == "3");           // integral double: no decimal point
  LSHLAB_EXPECT(Json(-7.0).dump() == "-7");
  LSHLAB_EXPECT(Json(0.1).dump() == "0.1");          // shortest round trip, not 0.10000000000000001
  LSHLAB_EXPECT(Json(1.0 / 3.0).dump() == "0.3333333333333333");
  // Layout follows JavaScript's Number#toString.
  LSHLAB_EXPECT(Json(1e-4).dump() == "0.0001" && Json(1.5e-7).dump() == "1.5e-7");
  LSHLAB_EXPECT(Json(-2.5e-6).dump() == "-0.0000025" && Json(1e21).dump() == "1e+21");
  LSHLAB_EXPECT(Json(1e20).dump() == "100000000000000000000" && Json(123.456).dump() == "123.456");
  LSHLAB_EXPECT(Json(1.7976931348623157e308).dump() == "1.7976931348623157e+308");
  LSHLAB_EXPECT(Json(int64_t(9007199254740993)).dump() == "9007199254740993");  // > 2^53, exact
  LSHLAB_EXPECT(Json(uint64_t(1) << 63).dump() == "9223372036854776000" && !Json(uint64_t(1) << 63).is_integral());
  LSHLAB_EXPECT(parse_json("9223372036854775807").as_int() == INT64_MAX);
  LSHLAB_EXPECT(parse_json("-9223372036854775808").as_int() == INT64_MIN);
  LSHLAB_EXPECT(parse_json("9007199254740993").as_int() == 9007199254740993LL);
  // Beyond int64 it stays a number, just not an integral one.
  Json big = parse_json("18446744073709551616");
  LSHLAB_EXPECT(big.is_number() && !big.is_integral());
  LSHLAB_EXPECT(parse_json("1e3").as_int() == 1000 && !parse_json("1e3").is_integral());
  LSHLAB_EXPECT(parse_json("1e-400").as_double() == 0.0);  // underflow rounds to zero
  LSHLAB_EXPECT(contains(error_of([] { parse_json("1.5").as_int(); }), "not an integer"));
  // Every double we write parses back bit-identical.
  const double cases[] = {0.1, 1e-300, 1.7976931348623157e308, 4.9e-324, -2.5e-8, 123456.789,
                          3.141592653589793, 1e20, 6.02214076e23, 0.30000000000000004};
  for (double d : cases) {
    double back = parse_json(Json(d).dump()).as_double();
    LSHLAB_EXPECT(std::memcmp(&back, &d, sizeof d) == 0);
  }
  LSHLAB_EXPECT(contains(error_of([] { Json(NAN).dump(); }), "NaN"));
  LSHLAB_EXPECT(contains(error_of([] { Json(INFINITY).dump(); }), "infinite"));
}

LSHLAB_TEST("io/json/strings") {
  Json s = parse_json(R"("a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00")");
  LSHLAB_EXPECT(s.as_string() == "a\"b\\c/d\b\f\n\r\tA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  // Raw UTF-8 passes through; the writer escapes only what JSON requires.
  LSHLAB_EXPECT(parse_json("\"caf\xC3\xA9 \xE6\x97\xA5\"").as_string() == "caf\xC3\xA9 \xE6\x97\xA5");
  LSHLAB_EXPECT(Json(std::string("q\"\\\n\x01\x7f\xC3\xA9")).dump() == "\"q\\\"\\\\\\n\\u0001\x7f\xC3\xA9\"");
  LSHLAB_EXPECT(Json(std::string("a\0b", 3)).dump() == "\"a\\u0000b\"");
  LSHLAB_EXPECT(parse_json("\"a\\u0000b\"").as_string() == std::string("a\0b", 3));
  LSHLAB_EXPECT(contains(error_of([] { Json(std::string("\xFF")).dump(); }), "not valid UTF-8"));
  // Round trip of every escape through writer and parser.
  std::string all;
  for (int c = 1; c < 128; c++) all += static_cast<char>(c);
  LSHLAB_EXPECT(parse_json(Json(all).dump()).as_string() == all);
}

LSHLAB_TEST("io/json/errors-name-line-and-column") {
  LSHLAB_EXPECT(parse_error("{\n  \"a\": 1,\n  \"b\": 2 \"c\"\n}") ==
                "config.json: line 3, column 10: expected ',' or '}', got '\"'");
  LSHLAB_EXPECT(contains(parse_error("[1, 2"), "line 1, column 6: expected ',' or ']', got end of input"));
  LSHLAB_EXPECT(contains(parse_error("{\"a\": 1,}"), "line 1, column 9: expected string key"));
  LSHLAB_EXPECT(contains(parse_error("[1,]"), "line 1, column 4: expected a JSON value"));
  LSHLAB_EXPECT(contains(parse_error("{\"a\" 1}"), "line 1, column 6: expected ':'"));
  LSHLAB_EXPECT(contains(parse_error("{\"a\":1,\"a\":2}"), "column 8: duplicate key \"a\""));
  LSHLAB_EXPECT(contains(parse_error("01"), "leading zeros"));
  LSHLAB_EXPECT(contains(parse_error("-"), "expected a digit"));
  LSHLAB_EXPECT(contains(parse_error("1."), "expected a digit after '.'"));
  LSHLAB_EXPECT(contains(parse_error("1e"), "expected a digit in the exponent"));
  LSHLAB_EXPECT(contains(parse_error("+1"), "expected a JSON value, got '+'"));
  LSHLAB_EXPECT(contains(parse_error("1e999"), "out of range"));
  LSHLAB_EXPECT(contains(parse_error("tru"), "expected a JSON value"));
  LSHLAB_EXPECT(contains(parse_error("NaN"), "expected a JSON value"));
  LSHLAB_EXPECT(contains(parse_error("1 2"), "column 3: unexpected content after the JSON value"));
  LSHLAB_EXPECT(contains(parse_error(""), "line 1, column 1: expected a JSON value, got end of input"));
  LSHLAB_EXPECT(contains(parse_error("// c\n1"), "expected a JSON value, got '/'"));
  LSHLAB_EXPECT(contains(parse_error("\"abc"), "column 1: unterminated string"));
  LSHLAB_EXPECT(contains(parse_error("\"a\nb\""), "control character U+000A"));
  LSHLAB_EXPECT(contains(parse_error("\"\\x\""), "invalid escape '\\x'"));
  LSHLAB_EXPECT(contains(parse_error("\"\\u12G4\""), "invalid hex digit"));
  LSHLAB_EXPECT(contains(parse_error("\"\\ud83d\""), "not followed by a low surrogate"));
  LSHLAB_EXPECT(contains(parse_error("\"\\ud83d\\u0041\""), "not followed by a low surrogate"));
  LSHLAB_EXPECT(contains(parse_error("\"\\ude00\""), "unpaired low surrogate"));
  LSHLAB_EXPECT(contains(parse_error("\"\xC3\""), "invalid UTF-8 byte 0xC3"));
  LSHLAB_EXPECT(contains(parse_error("\"\xC0\xAF\""), "invalid UTF-8"));      // overlong '/'
  LSHLAB_EXPECT(contains(parse_error("\"\xED\xA0\x80\""), "invalid UTF-8"));  // encoded surrogate
  LSHLAB_EXPECT(contains(parse_error("\xC3\xA9"), "got byte 0xC3"));
  // Columns count characters: the 'é' before the error is one column, not two.
  LSHLAB_EXPECT(contains(parse_error("[\"\xC3\xA9\" 1]"), "line 1, column 6:"));
  LSHLAB_EXPECT(contains(parse_error(std::string(600, '[')), "nesting deeper than 512"));
  LSHLAB_EXPECT(parse_json("\xEF\xBB\xBF [1]").size() == 1);  // BOM tolerated
  LSHLAB_EXPECT(parse_json(" \t\r\n{}\n ").is_object());
}

LSHLAB_TEST("io/json/field-helpers") {
  Json c = parse_json(R"({"hidden_size": 128, "lr": 0.001, "name": "bert", "causal": false, "ratio": 2.0, "x": 1.5})");
  LSHLAB_EXPECT(lshlab::get_int(c, "hidden_size") == 128);
  LSHLAB_EXPECT(lshlab::get_int(c, "ratio") == 2);  // integral-valued double is accepted
  LSHLAB_EXPECT(lshlab::get_double(c, "lr") == 0.001 && lshlab::get_double(c, "hidden_size") == 128.0);
  LSHLAB_EXPECT(lshlab::get_string(c, "name") == "bert" && !lshlab::get_bool(c, "causal"));
  LSHLAB_EXPECT(lshlab::get_int_or(c, "missing", 7) == 7 && lshlab::get_string_or(c, "nope", "d") == "d");
  LSHLAB_EXPECT(lshlab::get_bool_or(c, "causal", true) == false && lshlab::get_double_or(c, "q", 0.5) == 0.5);
  LSHLAB_EXPECT(error_of([&] { lshlab::get_int(c, "num_layers", "config.json"); }) ==
                "config.json: missing field 'num_layers'");
  LSHLAB_EXPECT(error_of([&] { lshlab::get_int(c, "name", "config.json"); }) ==
                "config.json: field 'name' must be an integer, got string");
  LSHLAB_EXPECT(error_of([&] { lshlab::get_int(c, "x"); }) == "field 'x' must be an integer, got 1.5");
  LSHLAB_EXPECT(contains(error_of([&] { lshlab::get_bool(c, "hidden_size"); }), "must be true or false, got 128"));
  LSHLAB_EXPECT(contains(error_of([&] { lshlab::get_string(c, "lr"); }), "must be a string, got 0.001"));
  LSHLAB_EXPECT(contains(error_of([&] { lshlab::get_int_or(c, "name", 1); }), "must be an integer"));
  LSHLAB_EXPECT(contains(error_of([&] { lshlab::get_int(parse_json("[]"), "a", "cfg"); }),
                         "cfg: expected a JSON object, got array"));
}
