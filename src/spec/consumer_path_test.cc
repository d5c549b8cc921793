#include "spec/consumer_path.h"

#include <string>

#include <gtest/gtest.h>

namespace drover::spec {
namespace {

TEST(ConsumerPathTest, NamesAreWordsOfLimitedLength) {
  for (const std::string& ok : {std::string("research"), std::string("team-1"), std::string("a_b"),
                                std::string("v1.2"), std::string("A"), std::string(63, 'x')}) {
    EXPECT_TRUE(CheckConsumerName(ok).ok()) << ok;
  }
  struct Case {
    std::string name;
    const char* message;
  };
  const Case cases[] = {
      {"", "the name is empty"},
      {"a/b", "\"a/b\" may only hold letters, digits, '-', '_' and '.'"},
      {"a b", "\"a b\" may only hold letters, digits, '-', '_' and '.'"},
      {"..", "\"..\" must not start with '.'"},
      {".hidden", "\".hidden\" must not start with '.'"},
      {std::string(64, 'x'), "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\" is longer than 63 characters"},
  };
  for (const Case& c : cases) {
    Status s = CheckConsumerName(c.name);
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.message(), c.message);
  }
}

TEST(ConsumerPathTest, PathsAreNormalised) {
  struct Case {
    const char* path;
    const char* want;
  };
  for (const Case& c : {Case{"/", "/"}, Case{"/a", "/a"}, Case{"/a/b/", "/a/b"},
                        Case{"/research/vision", "/research/vision"}}) {
    Result<std::string> p = NormalizeConsumerPath(c.path);
    ASSERT_TRUE(p.ok()) << c.path << ": " << p.status().ToString();
    EXPECT_EQ(*p, c.want);
  }
}

TEST(ConsumerPathTest, BadPathsAreExplained) {
  std::string deep;
  for (int i = 0; i < 17; ++i) deep += "/a";
  struct Case {
    std::string path;
    std::string message;
  };
  const Case cases[] = {
      {"", "\"\" must be a path from the root, like /research/vision"},
      {"research", "\"research\" must be a path from the root, like /research/vision"},
      {"//", "\"//\" has an empty name in it"},
      {"/a//b", "\"/a//b\" has an empty name in it"},
      {"/a/../b", "\"/a/../b\": \"..\" must not start with '.'"},
      {deep, "\"" + deep + "\" is deeper than 16 levels"},
  };
  for (const Case& c : cases) {
    Result<std::string> p = NormalizeConsumerPath(c.path);
    ASSERT_FALSE(p.ok()) << c.path;
    EXPECT_EQ(p.status().message(), c.message);
  }
}

}  // namespace
}  // namespace drover::spec
