// Test-only: running ranks of an ElasticGroup as forked children. Children
// report through their exit status (0, or the failed check's line) and are
// bounded by alarm(); the parent reaps them with a deadline and SIGKILLs the
// rest. Fork happens before any libtorch thread exists in the parent.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "train/process_group.h"

namespace drover::train::mp {

using std::chrono::milliseconds;

//! Gloo and store timeout for test ranks. Generous: a loaded CI machine can take
//! seconds to schedule a rendezvous; a killed peer is still noticed in
//! milliseconds (its sockets close).
inline constexpr milliseconds kTimeout{8000};
//! Every child is killed by alarm() after this long, whatever it is doing.
inline constexpr int kChildAlarmS = 60;

// A port nobody listened on a moment ago (racy, but good enough for tests).
inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// In a child: report the failed check and exit with its line number.
#define CHILD_CHECK(cond)                                                          \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "[pid %d] %s:%d: check failed: %s\n", getpid(), __FILE__, \
                   __LINE__, #cond);                                               \
      _exit(__LINE__ % 250 + 1);                                                   \
    }                                                                              \
  } while (0)

#define CHILD_OK(expr)                                                                    \
  do {                                                                                    \
    Status _st = (expr);                                                                  \
    if (!_st.ok()) {                                                                      \
      std::fprintf(stderr, "[pid %d] %s:%d: %s: %s\n", getpid(), __FILE__, __LINE__, #expr, \
                   _st.ToString().c_str());                                               \
      _exit(__LINE__ % 250 + 1);                                                          \
    }                                                                                     \
  } while (0)

inline pid_t Spawn(const std::function<int()>& body, int alarm_s = kChildAlarmS) {
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(alarm_s);
    _exit(body());
  }
  return pid;
}

// The store host: lives until the parent kills it.
inline pid_t SpawnStore(int port, milliseconds timeout = kTimeout, int alarm_s = kChildAlarmS) {
  return Spawn([port, timeout] {
    GroupOptions o{.store_host = "127.0.0.1", .store_port = port, .is_store_server = true,
                   .timeout = timeout};
    auto g = ElasticGroup::Create(o);
    CHILD_CHECK(g.ok());
    for (;;) pause();
    return 0;
  }, alarm_s);
}

inline std::unique_ptr<ElasticGroup> Connect(int port, milliseconds timeout = kTimeout) {
  GroupOptions o{.store_host = "127.0.0.1", .store_port = port, .is_store_server = false,
                 .timeout = timeout};
  auto g = ElasticGroup::Create(o);
  CHILD_OK(g.status());
  return std::move(g).value();
}

// Waits for every pid until `deadline`, then SIGKILLs the rest; returns the wait statuses
// (-1 for a child that had to be killed).
inline std::vector<int> Reap(const std::vector<pid_t>& pids, milliseconds deadline) {
  std::vector<int> status(pids.size(), -1);
  std::vector<bool> done(pids.size(), false);
  auto end = std::chrono::steady_clock::now() + deadline;
  size_t left = pids.size();
  while (left > 0 && std::chrono::steady_clock::now() < end) {
    for (size_t i = 0; i < pids.size(); ++i) {
      if (done[i]) continue;
      int st = 0;
      if (waitpid(pids[i], &st, WNOHANG) == pids[i]) {
        status[i] = st;
        done[i] = true;
        --left;
      }
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  for (size_t i = 0; i < pids.size(); ++i) {
    if (done[i]) continue;
    kill(pids[i], SIGKILL);
    waitpid(pids[i], nullptr, 0);
  }
  return status;
}

inline void KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

inline bool ExitedOk(int st) { return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0; }

inline std::string Describe(int st) {
  if (st == -1) return "still running at the deadline";
  if (WIFEXITED(st)) return "exit " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return "signal " + std::to_string(WTERMSIG(st));
  return "status " + std::to_string(st);
}

}  // namespace drover::train::mp
