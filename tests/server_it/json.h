// A strict JSON parser for the tests (RFC 8259): objects, arrays, strings
// with every escape checked, numbers by the grammar, true/false/null. An
// object with a member name twice is rejected too: a log record's fields
// must be unambiguous for the tools that filter on them (jq keeps the last,
// others the first). Enough to check the server's json log lines and to
// read Prometheus's HTTP API answers; not fast, not for big documents.
#ifndef TESTS_SERVER_IT_JSON_H
#define TESTS_SERVER_IT_JSON_H

#include <string>
#include <utility>
#include <vector>

namespace it {

struct Json {
  enum Type { kNull, kBool, kNumber, kString, kArray, kObject } type = kNull;
  bool boolean = false;
  std::string text;  // a string's value, or a number as written
  std::vector<Json> items;                           // kArray
  std::vector<std::pair<std::string, Json>> members;  // kObject, in order

  // The member named key of an object, or nullptr.
  const Json* Get(const std::string& key) const;
  bool IsString(const std::string& s) const { return type == kString && text == s; }
};

// Parses all of in as one JSON value (whitespace around it allowed). False
// with *err (what and where) if it is not exactly that.
bool ParseJson(const std::string& in, Json* out, std::string* err);

}  // namespace it

#endif
