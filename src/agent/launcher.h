// Launcher: starts worker processes and stops them, in process groups.
//
// A worker is identified by its pid, which is also its process group id: it
// is its own group, so stopping it reaches every process it started. Stop is
// asynchronous (SIGTERM now, SIGKILL later from Poll) so the agent's loop
// keeps syncing while a worker winds down. When a worker's first process
// exits, whatever is left of its group is killed: a worker holds its GPUs
// until all of its processes are gone.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace drover::agent {

//! The file in a worker's directory that receives its stdout and stderr.
inline constexpr const char* kOutputLogName = "output.log";

//! Whether the agent's variable `name` is passed on to workers: only what a
//! program needs to run (PATH, HOME, locale, TMPDIR, the loader's and
//! NVIDIA's variables, how to verify the server: DROVER_CA_CERT,
//! DROVER_INSECURE, SSL_CERT_*). Never the agent's credentials
//! (DROVER_JOIN_TOKEN) or anything else it was started with.
bool PassedToWorkers(std::string_view name);

struct LaunchSpec {
  std::vector<std::string> argv;           //!< argv[0] is looked up in PATH; no shell
  //! The worker's environment besides the agent's variables that
  //! PassedToWorkers allows (these override them).
  std::map<std::string, std::string> env;
  std::filesystem::path dir;  //!< working directory, created if missing; holds output.log
  //! cgroup.procs files of the groups the worker runs in (Cgroups::Create); empty: none.
  std::vector<std::string> cgroup_procs;
  //! The user the worker runs as; unset: the agent's own. The agent must be root.
  struct User {
    unsigned uid = 0, gid = 0;
    std::vector<unsigned> groups;
  };
  std::optional<User> user;
};

struct WorkerExit {
  int pid = 0;
  int exit_code = 0;  //!< the exit status, or 128 + signal when killed by one
  int signal = 0;     //!< the signal that killed it, 0 for a normal exit
};

class Launcher {
 public:
  virtual ~Launcher() = default;

  //! Starts a worker and returns its pid. A program that cannot be executed
  //! is not an error here: the worker then exits with code 127 and the reason
  //! ("exec python3: No such file or directory") is in its output.log.
  //! Errors: kInvalidArgument for an empty argv; kUnavailable when the
  //! directory or output.log cannot be created or the process cannot be forked.
  virtual Result<int> Start(const LaunchSpec& spec) = 0;

  //! Sends SIGTERM to the worker's process group and arranges for Poll to send
  //! SIGKILL once `grace` has passed. No-op for an unknown pid or one already
  //! being stopped (its first deadline stands).
  virtual void Stop(int pid, std::chrono::milliseconds grace) = 0;

  //! Never blocks: reaps workers that exited, kills the rest of their groups,
  //! and sends the SIGKILLs that are due. Returns each exit once.
  virtual std::vector<WorkerExit> Poll() = 0;

  //! Stops every worker (SIGTERM, SIGKILL after `grace`) and waits, at most
  //! grace plus a short margin, until all have exited. Returns their exits.
  virtual std::vector<WorkerExit> StopAll(std::chrono::milliseconds grace) = 0;

  //! Workers started and not yet returned by Poll/StopAll.
  virtual size_t live_count() const = 0;
};

}  // namespace drover::agent
