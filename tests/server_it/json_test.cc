// The tests' JSON parser: strict enough that "it parsed" means valid JSON.
#include "tests/server_it/json.h"

#include "gtest/gtest.h"

namespace it {
namespace {

bool Ok(const std::string& s) {
  Json j;
  std::string err;
  return ParseJson(s, &j, &err);
}

TEST(JsonTest, AcceptsValidDocuments) {
  for (const char* s :
       {"{}", "[]", "0", "-0.5e+3", "\"\"", "true", " null ", "{\"a\":[1,{\"b\":\"c\"}],\"d\":false}",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u00e9\\ud83d\\ude00\"", "[1E9, 2e-3, 10]"})
    EXPECT_TRUE(Ok(s)) << s;
}

TEST(JsonTest, RejectsInvalidDocuments) {
  for (const char* s :
       {"", "{", "{\"a\":1,}", "[1,]", "{a:1}", "{\"a\" 1}", "01", "1.", "-", "1e", "+1",
        "\"\x01\"", "\"tab\there\"", "\"\\x41\"", "\"\\u12\"", "\"\\ud800\"", "\"open",
        "{\"a\":1}{}", "{\"a\":1} x", "tru", "nul", "'a'", "{\"a\":1,\"a\":2}"})
    EXPECT_FALSE(Ok(s)) << s;
}

TEST(JsonTest, ReadsValues) {
  Json j;
  std::string err;
  ASSERT_TRUE(ParseJson("{\"s\":\"a\\u0041\\n\",\"n\":-12.5,\"l\":[true,null]}", &j, &err)) << err;
  ASSERT_EQ(j.type, Json::kObject);
  EXPECT_TRUE(j.Get("s")->IsString("aA\n"));
  EXPECT_EQ(j.Get("n")->type, Json::kNumber);
  EXPECT_EQ(j.Get("n")->text, "-12.5");
  ASSERT_EQ(j.Get("l")->items.size(), 2u);
  EXPECT_TRUE(j.Get("l")->items[0].boolean);
  EXPECT_EQ(j.Get("l")->items[1].type, Json::kNull);
  EXPECT_EQ(j.Get("missing"), nullptr);
}

}  // namespace
}  // namespace it
