#include "common/resources.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(ResourcesTest, FitsChecksEveryDimension) {
  Resources host{8, 32000, 65536};
  EXPECT_TRUE(host.Fits({8, 32000, 65536}));
  EXPECT_FALSE(host.Fits({1, 33000, 1}));
  EXPECT_FALSE(host.Fits({1, 1, 70000}));
}

TEST(ResourcesTest, CopiesOfIsBoundByTheScarcestDimension) {
  Resources host{8, 16000, 65536};
  // GPUs allow 4 copies of {2 GPU, 8 CPU}, CPUs only 2.
  EXPECT_EQ(host.CopiesOf({2, 8000, 0}), 2);
  EXPECT_EQ(host.CopiesOf({1, 0, 0}), 8);
  EXPECT_EQ((host - Resources{8, 0, 0}).CopiesOf({1, 0, 0}), 0);
}

}  // namespace
}  // namespace drover
