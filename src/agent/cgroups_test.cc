#include "agent/cgroups.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/test_dir.h"

namespace drover::agent {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A /proc that shows v1 memory, cpu and pids hierarchies mounted under `root`,
// the agent in the memory group /jobs/a and at the top of the others.
fs::path FakeProc(const fs::path& root) {
  fs::path proc = root / "proc" / "self";
  fs::create_directories(proc);
  std::ofstream(proc / "mounts") << "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n"
                                 << "cgroup " << (root / "memory").string() << " cgroup rw,relatime,memory 0 0\n"
                                 << "cgroup " << (root / "cpu").string() << " cgroup rw,relatime,cpu 0 0\n"
                                 << "cgroup " << (root / "pids").string() << " cgroup rw,relatime,pids 0 0\n";
  std::ofstream(proc / "cgroup") << "8:pids:/\n4:memory:/jobs/a\n1:cpu,cpuacct:/\n0::/\n";
  fs::create_directories(root / "memory" / "jobs" / "a");
  fs::create_directories(root / "cpu");
  fs::create_directories(root / "pids");
  return root / "proc";
}

TEST(CgroupsTest, AGroupPerWorkerWithItsRequestAsLimits) {
  if (geteuid() != 0) GTEST_SKIP() << "cgroups are made by a root agent";
  TestDir tmp;
  auto cg = Cgroups::Detect("h1", FakeProc(tmp.path()).string());
  ASSERT_TRUE(cg.ok()) << cg.status().ToString();
  auto procs = cg->Create("job7-rank0-gen1", {64, 250, 100});
  ASSERT_TRUE(procs.ok()) << procs.status().ToString();
  const fs::path mem = tmp.path() / "memory" / "jobs" / "a" / "drover-h1" / "job7-rank0-gen1";
  const fs::path cpu = tmp.path() / "cpu" / "drover-h1" / "job7-rank0-gen1";
  const fs::path pids = tmp.path() / "pids" / "drover-h1" / "job7-rank0-gen1";
  EXPECT_EQ(*procs, (std::vector<std::string>{(mem / "cgroup.procs").string(), (cpu / "cgroup.procs").string(),
                                              (pids / "cgroup.procs").string()}));
  EXPECT_EQ(Read(mem / "memory.limit_in_bytes"), std::to_string(64 << 20));
  EXPECT_EQ(Read(cpu / "cpu.cfs_period_us"), "100000");
  EXPECT_EQ(Read(cpu / "cpu.cfs_quota_us"), "25000");  // 250m of a CPU: 25 ms per 100 ms
  EXPECT_EQ(Read(pids / "pids.max"), "100");
  // The kernel's count of OOM kills decides what the agent reports.
  EXPECT_FALSE(cg->OomKilled("job7-rank0-gen1"));
  std::ofstream(mem / "memory.oom_control") << "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
  EXPECT_TRUE(cg->OomKilled("job7-rank0-gen1"));
  // No request, no limit.
  ASSERT_TRUE(cg->Create("job8-rank0-gen1", {0, 0, 0}).ok());
  EXPECT_FALSE(fs::exists(tmp.path() / "cpu" / "drover-h1" / "job8-rank0-gen1" / "cpu.cfs_quota_us"));
}

TEST(CgroupsTest, NoV1ControllersIsReportedNotIgnored) {
  if (geteuid() != 0) GTEST_SKIP() << "cgroups are made by a root agent";
  TestDir tmp;
  fs::create_directories(tmp.path() / "proc" / "self");
  std::ofstream(tmp.path() / "proc" / "self" / "mounts") << "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n";
  std::ofstream(tmp.path() / "proc" / "self" / "cgroup") << "0::/\n";
  auto cg = Cgroups::Detect("h1", (tmp.path() / "proc").string());
  ASSERT_FALSE(cg.ok());
  EXPECT_NE(cg.status().message().find("cgroup v2 alone is not supported yet"), std::string::npos)
      << cg.status().message();
}

}  // namespace
}  // namespace drover::agent
