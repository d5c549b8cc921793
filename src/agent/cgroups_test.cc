#include "agent/cgroups.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

// With the kernel's devices controller: a worker given GPU 0 opens
// /dev/nvidia0 (no driver here, so ENXIO: the open got past the cgroup) but
// not /dev/nvidia1 (EPERM from the cgroup); given both, it opens both (the
// control). The nodes are made in a temporary /dev with the NVIDIA major.
TEST(CgroupsTest, AWorkerOpensOnlyTheGpusItWasGiven) {
  if (geteuid() != 0) GTEST_SKIP() << "cgroups are made by a root agent";
  if (Read("/proc/self/mounts").find("devices") == std::string::npos) GTEST_SKIP() << "no devices controller";
  TestDir tmp;
  const fs::path dev = tmp.path() / "dev";
  fs::create_directories(dev);
  for (int i : {0, 1}) {
    ASSERT_EQ(::mknod((dev / ("nvidia" + std::to_string(i))).c_str(), S_IFCHR | 0666, makedev(195, i)), 0)
        << std::strerror(errno);
  }
  ASSERT_EQ(::mknod((dev / "nvidiactl").c_str(), S_IFCHR | 0666, makedev(195, 255)), 0);
  auto cg = Cgroups::Detect("cgroups-test-" + std::to_string(::getpid()), "/proc", dev.string());
  ASSERT_TRUE(cg.ok()) << cg.status().ToString();
  ASSERT_NE(cg->Describe().find("devices"), std::string::npos) << cg->Describe();
  // The errno of opening each node from inside group `name`, given `gpus`.
  auto errnos = [&](const std::string& name, std::vector<int> gpus) {
    auto procs = cg->Create(name, {0, 0, 0, gpus});
    EXPECT_TRUE(procs.ok()) << procs.status().ToString();
    int pipe_fds[2];
    EXPECT_EQ(::pipe(pipe_fds), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      for (const std::string& p : procs.ok() ? *procs : std::vector<std::string>{}) {
        int fd = ::open(p.c_str(), O_WRONLY);
        if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(1);
        ::close(fd);
      }
      int out[3];
      int i = 0;
      for (const char* node : {"nvidia0", "nvidia1", "nvidiactl"}) {
        int fd = ::open((dev / node).c_str(), O_RDWR);
        out[i++] = fd >= 0 ? 0 : errno;
      }
      ssize_t n = ::write(pipe_fds[1], out, sizeof(out));
      ::_exit(n == sizeof(out) ? 0 : 1);
    }
    ::close(pipe_fds[1]);
    std::vector<int> out(3, -1);
    EXPECT_EQ(::read(pipe_fds[0], out.data(), 3 * sizeof(int)), static_cast<ssize_t>(3 * sizeof(int)));
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    cg->Remove(name);
    return out;
  };
  EXPECT_EQ(errnos("given-0", {0}), (std::vector<int>{ENXIO, EPERM, ENXIO}));
  EXPECT_EQ(errnos("given-both", {0, 1}), (std::vector<int>{ENXIO, ENXIO, ENXIO}));
  EXPECT_EQ(errnos("given-none", {}), (std::vector<int>{EPERM, EPERM, ENXIO}));
  cg->RemoveAgentGroups();
  EXPECT_EQ(Read("/proc/self/cgroup").find("cgroups-test-"), std::string::npos);
  for (const char* ctl : {"memory", "cpu", "pids", "devices"}) {
    EXPECT_FALSE(fs::exists(fs::path("/sys/fs/cgroup") / ctl / ("drover-cgroups-test-" + std::to_string(::getpid()))));
  }
}

}  // namespace
}  // namespace drover::agent
