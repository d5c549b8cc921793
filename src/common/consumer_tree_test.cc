#include "common/consumer_tree.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(ConsumerTreeTest, PathsAreBuiltFromNames) {
  ConsumerTree t;
  int research = t.Add(0, "research", {.owned = 8}).value();
  int vision = t.Add(research, "vision", {.owned = 4}).value();
  EXPECT_EQ(t.node(vision).path, "/research/vision");
  EXPECT_EQ(t.Find("/research/vision/"), vision);
  EXPECT_EQ(t.Find("/research/audio"), -1);
  EXPECT_TRUE(t.IsWithin(vision, research));
  EXPECT_FALSE(t.IsWithin(research, vision));
}

TEST(ConsumerTreeTest, DuplicateSiblingIsRefused) {
  ConsumerTree t;
  ASSERT_TRUE(t.Add(0, "a", {}).ok());
  auto again = t.Add(0, "a", {});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(t.size(), 2);
}

TEST(ConsumerTreeTest, ChildrenMayNotOwnMoreThanTheirParent) {
  ConsumerTree t;
  int a = t.Add(0, "a", {.owned = 4}).value();
  ASSERT_TRUE(t.Add(a, "x", {.owned = 3}).ok());
  ASSERT_TRUE(t.Add(a, "y", {.owned = 2}).ok());
  Status s = t.Validate();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("children own 5"), std::string::npos) << s.message();
}

TEST(ConsumerTreeTest, LimitBelowOwnedIsRefused) {
  ConsumerTree t;
  ASSERT_TRUE(t.Add(0, "a", {.owned = 4, .limit = 2}).ok());
  EXPECT_FALSE(t.Validate().ok());
}

}  // namespace
}  // namespace drover
