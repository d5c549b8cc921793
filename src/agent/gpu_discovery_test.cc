#include "agent/gpu_discovery.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

namespace drover::agent {
namespace {

// A fake NVML with two H200s; `g_fail_memory_of` makes one device's memory query fail.
int g_init_rc = 0;
int g_fail_memory_of = -1;
int g_shutdowns = 0;

int FakeInit() { return g_init_rc; }
int FakeShutdown() { return ++g_shutdowns, 0; }
int FakeCount(unsigned int* n) { return *n = 2, 0; }
int FakeHandle(unsigned int i, void** device) {
  *device = reinterpret_cast<void*>(static_cast<uintptr_t>(i + 1));
  return 0;
}
int Index(void* device) { return static_cast<int>(reinterpret_cast<uintptr_t>(device)) - 1; }
int FakeName(void* device, char* buf, unsigned int len) {
  std::strncpy(buf, "NVIDIA H200", len);
  return 0;
}
int FakeUuid(void* device, char* buf, unsigned int len) {
  std::snprintf(buf, len, "GPU-%04d", Index(device));
  return 0;
}
int FakeMemory(void* device, NvmlMemory* m) {
  if (Index(device) == g_fail_memory_of) return 999;
  m->total = 143771ull << 20;
  return 0;
}
const char* FakeError(int rc) { return rc == 999 ? "Unknown Error" : "Driver Not Loaded"; }

NvmlApi FakeApi() {
  return NvmlApi{FakeInit, FakeShutdown, FakeCount,  FakeHandle,
                 FakeName, FakeUuid,     FakeMemory, FakeError};
}

TEST(GpuDiscoveryTest, ListsEveryDevice) {
  g_init_rc = 0;
  g_fail_memory_of = -1;
  g_shutdowns = 0;
  std::string warning;
  std::vector<GpuInfo> gpus = ListGpus(FakeApi(), &warning);
  EXPECT_EQ(gpus, (std::vector<GpuInfo>{{0, "GPU-0000", "NVIDIA H200", 143771},
                                        {1, "GPU-0001", "NVIDIA H200", 143771}}));
  EXPECT_EQ(warning, "");
  EXPECT_EQ(g_shutdowns, 1);
}

TEST(GpuDiscoveryTest, SkipsADeviceThatFailsWithAWarning) {
  g_init_rc = 0;
  g_fail_memory_of = 0;
  std::string warning;
  std::vector<GpuInfo> gpus = ListGpus(FakeApi(), &warning);
  ASSERT_EQ(gpus.size(), 1u);
  EXPECT_EQ(gpus[0].index, 1);
  EXPECT_EQ(warning, "GPU 0 skipped: Unknown Error");
  g_fail_memory_of = -1;
}

TEST(GpuDiscoveryTest, FailedInitMeansNoGpus) {
  g_init_rc = 9;
  std::string warning;
  EXPECT_TRUE(ListGpus(FakeApi(), &warning).empty());
  EXPECT_EQ(warning, "NVML init failed: Driver Not Loaded; no GPUs offered");
  g_init_rc = 0;
}

TEST(GpuDiscoveryTest, ResolvesGpuSlots) {
  struct Case {
    int found;
    std::optional<int> requested;
    int slots;  // -1: an error
  };
  const Case cases[] = {
      {4, std::nullopt, 4},
      {0, std::nullopt, 0},  // discovery alone
      {4, 2, 2},
      {4, 4, 4},   // a subset of the GPUs
      {0, 8, 8},   // no GPUs: slots are declared
      {4, 5, -1},  // more than the host has
      {0, -1, -1},
  };
  for (const Case& c : cases) {
    auto slots = ResolveGpuSlots(c.found, c.requested);
    if (c.slots < 0) {
      EXPECT_FALSE(slots.ok()) << c.found << " " << c.requested.value_or(-99);
      EXPECT_EQ(slots.status().code(), StatusCode::kInvalidArgument);
    } else {
      ASSERT_TRUE(slots.ok()) << slots.status().ToString();
      EXPECT_EQ(*slots, c.slots);
    }
  }
  EXPECT_EQ(ResolveGpuSlots(4, 5).status().message(), "--gpus 5: only 4 GPUs found on this host");
}

TEST(GpuDiscoveryTest, DiscoversThisHost) {
  auto host = DiscoverHost(std::nullopt);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  EXPECT_GT(host->cpus, 0);
  EXPECT_GT(host->memory_mib, 0);
  EXPECT_EQ(host->gpu_slots, static_cast<int>(host->gpus.size()));
}

}  // namespace
}  // namespace drover::agent
