#include "spec/suggest.h"

#include <string>

#include <gtest/gtest.h>

namespace drover::spec {
namespace {

TEST(SuggestTest, EditDistanceCountsSwapsAsOneEdit) {
  EXPECT_EQ(EditDistance("owned", "owned"), 0u);
  EXPECT_EQ(EditDistance("onwed", "owned"), 1u);  // adjacent swap
  EXPECT_EQ(EditDistance("owne", "owned"), 1u);   // insertion
  EXPECT_EQ(EditDistance("ownedd", "owned"), 1u); // deletion
  EXPECT_EQ(EditDistance("awned", "owned"), 1u);  // substitution
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
}

TEST(SuggestTest, ClosestMatchSuggestsOnlyPlausibleTypos) {
  constexpr std::string_view kFields[] = {"name", "owned", "share", "limit", "reclaim_grace"};
  struct Case {
    const char* word;
    const char* want;
  };
  for (const Case& c : {Case{"onwed", "owned"}, Case{"Owned", "owned"}, Case{"shar", "share"},
                        Case{"lmit", "limit"}, Case{"reclaim-grace", "reclaim_grace"},
                        Case{"nmae", "name"}, Case{"x", ""}, Case{"colour", ""},
                        Case{"ab", ""}}) {
    EXPECT_EQ(ClosestMatch(c.word, kFields), c.want) << c.word;
  }
  EXPECT_EQ(ClosestMatch(std::string(1000, 'o'), kFields), "");
}

}  // namespace
}  // namespace drover::spec
