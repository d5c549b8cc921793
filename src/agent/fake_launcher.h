// FakeLauncher: a Launcher without processes, for tests. Start hands out pids
// from 100; a test ends a worker with Exit(); Stop ends it at once (as if it
// obeyed SIGTERM) unless `stop_exits` is false. Thread safety: none.
#pragma once

#include <set>
#include <utility>
#include <vector>

#include "agent/launcher.h"

namespace drover::agent {

class FakeLauncher : public Launcher {
 public:
  struct Started {
    int pid;
    LaunchSpec spec;
  };

  Result<int> Start(const LaunchSpec& spec) override {
    if (!start_error.ok()) return std::exchange(start_error, Status::Ok());
    int pid = next_pid++;
    started.push_back({pid, spec});
    live.insert(pid);
    return pid;
  }
  void Stop(int pid, std::chrono::milliseconds grace) override {
    stopped.emplace_back(pid, grace);
    if (stop_exits) Exit(pid, 128 + 15, 15);
  }
  std::vector<WorkerExit> Poll() override { return std::exchange(pending, {}); }
  std::vector<WorkerExit> StopAll(std::chrono::milliseconds grace) override {
    std::set<int> all = live;
    for (int pid : all) {
      stopped.emplace_back(pid, grace);
      Exit(pid, 128 + 15, 15);
    }
    return Poll();
  }
  size_t live_count() const override { return live.size(); }

  //! The worker `pid` exits; the next Poll reports it.
  void Exit(int pid, int exit_code, int signal = 0) {
    if (live.erase(pid)) pending.push_back(WorkerExit{pid, exit_code, signal});
  }

  std::vector<Started> started;
  std::vector<std::pair<int, std::chrono::milliseconds>> stopped;
  std::set<int> live;
  std::vector<WorkerExit> pending;
  bool stop_exits = true;
  Status start_error;  //!< returned by the next Start, once
  int next_pid = 100;
};

}  // namespace drover::agent
