#include "server/kv_store.h"

#include <gtest/gtest.h>

namespace drover::server {
namespace {

TEST(JobKvStoreTest, SetGetAddEraseCount) {
  JobKvStore kv;
  EXPECT_FALSE(kv.Get(1, 0, "a"));
  ASSERT_TRUE(kv.Set(1, 0, "gen1/a", std::string("x\0y", 3)).ok());
  EXPECT_EQ(kv.Get(1, 0, "gen1/a"), std::string("x\0y", 3));
  EXPECT_FALSE(kv.Get(2, 0, "gen1/a")) << "jobs do not share keys";
  EXPECT_EQ(*kv.Add(1, 0, "n", 5), 5);
  EXPECT_EQ(*kv.Add(1, 0, "n", -7), -2);
  EXPECT_EQ(kv.Get(1, 0, "n"), "-2");
  EXPECT_EQ(kv.Add(1, 0, "gen1/a", 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(kv.Count(1, 0), 2u);
  EXPECT_TRUE(kv.Erase(1, 0, "n"));
  EXPECT_FALSE(kv.Erase(1, 0, "n"));
  EXPECT_EQ(kv.Count(1, 0), 1u);
}

TEST(JobKvStoreTest, ARestartedJobStartsEmpty) {
  JobKvStore kv;
  ASSERT_TRUE(kv.Set(1, 0, "a", "1").ok());
  EXPECT_EQ(kv.Count(1, 1), 0u);
  EXPECT_FALSE(kv.Get(1, 1, "a"));
  kv.Drop(1);
  EXPECT_TRUE(kv.Jobs().empty());
}

TEST(JobKvStoreTest, Limits) {
  JobKvStore kv;
  EXPECT_EQ(kv.Set(1, 0, std::string(513, 'k'), "").code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(kv.Set(1, 0, std::string(512, 'k'), "").ok());
  std::string mib(1 << 20, 'v');
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(kv.Set(1, 0, "big" + std::to_string(i), mib).ok()) << i;
  Status full = kv.Set(1, 0, "one-more", "x");
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(full.message().find("64 MiB"), std::string::npos) << full.message();
  EXPECT_TRUE(kv.Set(1, 0, "big0", "small").ok()) << "replacing a value frees its bytes";
  for (int i = 1; i < 64; ++i) EXPECT_TRUE(kv.Erase(1, 0, "big" + std::to_string(i)));
  size_t n = kv.Count(1, 0);
  for (size_t i = n; i < JobKvStore::kMaxKeys; ++i) ASSERT_TRUE(kv.Set(1, 0, std::to_string(i), "").ok()) << i;
  EXPECT_EQ(kv.Set(1, 0, "one-more", "").code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(kv.Set(1, 0, "big0", "overwrite").ok()) << "an existing key can still change";
}

}  // namespace
}  // namespace drover::server
