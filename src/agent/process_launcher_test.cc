#include "agent/process_launcher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include "agent/test_dir.h"

namespace drover::agent {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Polls the launcher until `pid` is reported, at most `timeout`.
std::optional<WorkerExit> WaitExit(Launcher& launcher, int pid,
                                   std::chrono::milliseconds timeout = 5s) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    for (const WorkerExit& e : launcher.Poll()) {
      if (e.pid == pid) return e;
    }
    std::this_thread::sleep_for(5ms);
  }
  return std::nullopt;
}

bool WaitForFile(const std::filesystem::path& file, std::chrono::milliseconds timeout = 5s) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (!ReadFile(file).empty()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

// Gone or a zombie: either way it holds nothing any more.
bool ProcessGone(int pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() &&
         (stat[paren + 2] == 'Z' || stat[paren + 2] == 'X');
}

bool WaitGone(int pid, std::chrono::milliseconds timeout = 5s) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (ProcessGone(pid)) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

LaunchSpec Shell(const std::filesystem::path& dir, const std::string& script) {
  return LaunchSpec{{"/bin/sh", "-c", script}, {}, dir};
}

TEST(ProcessLauncherTest, EnvironmentAndWorkingDirectoryArrive) {
  TestDir tmp;
  // The agent's own variables stay with it (its join token above all); what
  // a program needs to run is passed on.
  setenv("DROVER_AGENT_TEST_INHERITED", "yes", 1);
  setenv("DROVER_JOIN_TOKEN", "drv_j_secret", 1);
  setenv("LC_ALL", "C.UTF-8", 1);
  ProcessLauncher launcher;
  std::filesystem::path dir = tmp.path() / "jobs" / "12" / "0";  // created by Start
  LaunchSpec spec = Shell(dir, "env > env.txt; pwd -P > pwd.txt");
  spec.env = {{"DROVER_JOB_ID", "12"}, {"HOME", "/drover-home"}};
  auto pid = launcher.Start(spec);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  auto exit = WaitExit(launcher, *pid);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 0);

  std::string env = "\n" + ReadFile(dir / "env.txt");
  EXPECT_NE(env.find("\nDROVER_JOB_ID=12\n"), std::string::npos) << env;
  EXPECT_EQ(env.find("DROVER_AGENT_TEST_INHERITED"), std::string::npos) << env;
  EXPECT_EQ(env.find("drv_j_secret"), std::string::npos) << env;
  EXPECT_NE(env.find("\nLC_ALL=C.UTF-8\n"), std::string::npos) << env;
  EXPECT_NE(env.find("\nPATH="), std::string::npos) << env;
  // Given variables override the agent's.
  EXPECT_NE(env.find("\nHOME=/drover-home\n"), std::string::npos) << env;
  EXPECT_EQ(env.find("\nHOME=", env.find("\nHOME=") + 1), std::string::npos) << env;
  EXPECT_EQ(ReadFile(dir / "pwd.txt"), dir.string() + "\n");
  unsetenv("DROVER_AGENT_TEST_INHERITED");
  unsetenv("DROVER_JOIN_TOKEN");
  unsetenv("LC_ALL");
}

TEST(ProcessLauncherTest, StdoutAndStderrAreAppendedToOutputLog) {
  TestDir tmp;
  ProcessLauncher launcher;
  for (int i = 0; i < 2; ++i) {
    auto pid = launcher.Start(Shell(tmp.path(), "echo out; echo err >&2"));
    ASSERT_TRUE(pid.ok());
    ASSERT_TRUE(WaitExit(launcher, *pid).has_value());
  }
  EXPECT_EQ(ReadFile(tmp.path() / kOutputLogName), "out\nerr\nout\nerr\n");
}

TEST(ProcessLauncherTest, ReportsExitCodeAndSignal) {
  struct Case {
    const char* script;
    int exit_code;
    int signal;
  };
  for (const Case& c :
       {Case{"exit 3", 3, 0}, Case{"exit 0", 0, 0}, Case{"kill -KILL $$", 128 + SIGKILL, SIGKILL},
        Case{"kill -TERM $$", 128 + SIGTERM, SIGTERM}}) {
    SCOPED_TRACE(c.script);
    TestDir tmp;
    ProcessLauncher launcher;
    auto pid = launcher.Start(Shell(tmp.path(), c.script));
    ASSERT_TRUE(pid.ok());
    auto exit = WaitExit(launcher, *pid);
    ASSERT_TRUE(exit.has_value());
    EXPECT_EQ(exit->exit_code, c.exit_code);
    EXPECT_EQ(exit->signal, c.signal);
    EXPECT_EQ(launcher.live_count(), 0u);
  }
}

TEST(ProcessLauncherTest, StopEndsAWorkerWithSigterm) {
  TestDir tmp;
  ProcessLauncher launcher;
  auto pid = launcher.Start(Shell(tmp.path(), "echo ready > ready; sleep 30"));
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(WaitForFile(tmp.path() / "ready"));
  launcher.Stop(*pid, 10s);
  auto exit = WaitExit(launcher, *pid, 5s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->signal, SIGTERM);
}

TEST(ProcessLauncherTest, StopEscalatesToSigkillAfterGrace) {
  TestDir tmp;
  ProcessLauncher launcher;
  auto pid = launcher.Start(
      Shell(tmp.path(), "trap '' TERM; echo ready > ready; while :; do sleep 1; done"));
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(WaitForFile(tmp.path() / "ready"));
  auto grace = 300ms;
  auto stopped = Clock::now();
  launcher.Stop(*pid, grace);
  launcher.Stop(*pid, 0ms);  // a second Stop keeps the first deadline
  auto exit = WaitExit(launcher, *pid, grace + 3s);
  auto took = Clock::now() - stopped;
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->signal, SIGKILL);
  EXPECT_GE(took, grace);
}

TEST(ProcessLauncherTest, ExecFailureIsReportedAsExit127WithReasonInLog) {
  TestDir tmp;
  ProcessLauncher launcher;
  auto pid = launcher.Start(LaunchSpec{{"drover-no-such-program", "train.py"}, {}, tmp.path()});
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  auto exit = WaitExit(launcher, *pid);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 127);
  EXPECT_EQ(exit->signal, 0);
  EXPECT_NE(ReadFile(tmp.path() / kOutputLogName)
                .find("exec drover-no-such-program: No such file or directory"),
            std::string::npos)
      << ReadFile(tmp.path() / kOutputLogName);
}

TEST(ProcessLauncherTest, EmptyArgvIsInvalid) {
  TestDir tmp;
  ProcessLauncher launcher;
  auto pid = launcher.Start(LaunchSpec{{}, {}, tmp.path()});
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), StatusCode::kInvalidArgument);
}

TEST(ProcessLauncherTest, UncreatableDirectoryIsUnavailable) {
  TestDir tmp;
  WriteFile(tmp.path() / "file", "x");
  ProcessLauncher launcher;
  auto pid = launcher.Start(Shell(tmp.path() / "file" / "sub", "true"));
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(pid.status().message().find("file/sub"), std::string::npos) << pid.status().message();
}

TEST(ProcessLauncherTest, StopKillsTheWholeProcessGroup) {
  TestDir tmp;
  ProcessLauncher launcher;
  auto pid = launcher.Start(Shell(tmp.path(), "sleep 300 & echo $! > grandchild.pid; wait"));
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(WaitForFile(tmp.path() / "grandchild.pid"));
  int grandchild = std::stoi(ReadFile(tmp.path() / "grandchild.pid"));
  EXPECT_FALSE(ProcessGone(grandchild));
  launcher.Stop(*pid, 5s);
  ASSERT_TRUE(WaitExit(launcher, *pid).has_value());
  EXPECT_TRUE(WaitGone(grandchild, 3s));
}

TEST(ProcessLauncherTest, ExitOfTheWorkerKillsWhatItLeftBehind) {
  TestDir tmp;
  ProcessLauncher launcher;
  auto pid = launcher.Start(Shell(tmp.path(), "sleep 300 & echo $! > grandchild.pid; exit 4"));
  ASSERT_TRUE(pid.ok());
  auto exit = WaitExit(launcher, *pid);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 4);
  int grandchild = std::stoi(ReadFile(tmp.path() / "grandchild.pid"));
  EXPECT_TRUE(WaitGone(grandchild, 3s));
}

TEST(ProcessLauncherTest, AgentDescriptorsAreNotInherited) {
  TestDir tmp;
  int leaked = open("/dev/null", O_RDONLY);  // no O_CLOEXEC: would leak without the cleanup
  ASSERT_GE(leaked, 3);
  ProcessLauncher launcher;
  auto pid = launcher.Start(LaunchSpec{{"ls", "-1", "/proc/self/fd"}, {}, tmp.path()});
  close(leaked);
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(WaitExit(launcher, *pid).has_value());
  // 0-2, and 3 for the directory ls is reading.
  EXPECT_EQ(ReadFile(tmp.path() / kOutputLogName), "0\n1\n2\n3\n");
}

TEST(ProcessLauncherTest, WorkersDieWithTheAgent) {
  TestDir tmp;
  // A child process plays the agent: it starts a worker, then dies abruptly.
  pid_t agent = fork();
  ASSERT_GE(agent, 0);
  if (agent == 0) {
    ProcessLauncher launcher;
    auto pid = launcher.Start(
        Shell(tmp.path(), "sleep 300 & echo $! > grandchild.pid; echo $$ > worker.pid; wait"));
    if (!pid.ok()) _exit(2);
    auto deadline = Clock::now() + 5s;
    while (ReadFile(tmp.path() / "worker.pid").empty() && Clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    _exit(0);  // no destructor: only the death signal can end the worker
  }
  int status = 0;
  ASSERT_EQ(waitpid(agent, &status, 0), agent);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::string worker_pid = ReadFile(tmp.path() / "worker.pid");
  std::string grandchild_pid = ReadFile(tmp.path() / "grandchild.pid");
  ASSERT_FALSE(worker_pid.empty());
  ASSERT_FALSE(grandchild_pid.empty());
  EXPECT_TRUE(WaitGone(std::stoi(worker_pid), 3s));
  EXPECT_TRUE(WaitGone(std::stoi(grandchild_pid), 3s));
}

TEST(ProcessLauncherTest, StopAllEndsEveryWorker) {
  TestDir tmp;
  ProcessLauncher launcher;
  auto a = launcher.Start(Shell(tmp.path() / "a", "sleep 30"));
  auto b = launcher.Start(
      Shell(tmp.path() / "b", "trap '' TERM; echo ready > ready; while :; do sleep 1; done"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(WaitForFile(tmp.path() / "b" / "ready"));
  std::vector<WorkerExit> exits = launcher.StopAll(200ms);
  EXPECT_EQ(exits.size(), 2u);
  EXPECT_EQ(launcher.live_count(), 0u);
}

}  // namespace
}  // namespace drover::agent
