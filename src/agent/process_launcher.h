// ProcessLauncher: the Launcher of real processes, with fork/exec.
//
// Each worker runs under a small keeper process, forked from the agent:
//
//   agent --fork--> keeper (session and process-group leader; its pid is the
//                   worker's pid and group id) --fork+exec--> the program
//
// The keeper exists because PR_SET_PDEATHSIG reaches only the agent's direct
// child: the keeper gets a death signal (SIGRTMIN+7) when the agent dies and
// answers it by SIGKILLing its whole group, so nothing the program started
// outlives the agent. The keeper ignores the other signals sent to the group
// (they are meant for the program), waits for the program and exits the same
// way (code, or signal). The program gets PR_SET_PDEATHSIG(SIGKILL) towards the
// keeper, default signal handling, stdin /dev/null, stdout and stderr appended
// to <dir>/output.log, <dir> as working directory, and no other descriptor of
// the agent's; it is exec'ed with execvp (no shell). A close-on-exec pipe
// carries errno back when a step before or at exec fails; the agent then writes
// the reason to output.log and the worker exits 127.
//
// Thread safety: all methods may be called from any thread (one mutex). But
// PR_SET_PDEATHSIG fires when the *thread* that forked the keeper exits, so
// call Start from a thread that lives as long as the workers (the agent's
// loop). Ownership: the destructor kills (SIGKILL) and reaps any worker still
// alive.
#pragma once

#include <chrono>
#include <map>
#include <mutex>

#include "agent/launcher.h"

namespace drover::agent {

class ProcessLauncher : public Launcher {
 public:
  ProcessLauncher() = default;
  ~ProcessLauncher() override;
  ProcessLauncher(const ProcessLauncher&) = delete;
  ProcessLauncher& operator=(const ProcessLauncher&) = delete;

  Result<int> Start(const LaunchSpec& spec) override;
  void Stop(int pid, std::chrono::milliseconds grace) override;
  std::vector<WorkerExit> Poll() override;
  std::vector<WorkerExit> StopAll(std::chrono::milliseconds grace) override;
  size_t live_count() const override;

 private:
  struct Child {
    bool stopping = false;
    bool killed = false;  //!< SIGKILL sent
    std::chrono::steady_clock::time_point kill_at;
  };
  std::vector<WorkerExit> PollLocked();

  mutable std::mutex mu_;
  std::map<int, Child> children_;  //!< by pid, which is also the process group id
};

}  // namespace drover::agent
