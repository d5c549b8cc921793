// Cgroups: each worker in its own control group, limited to what its job
// requested: memory (the kernel OOM-kills the group past it), CPU (a CFS
// quota: `cpus: 0.5` is 50 ms of CPU time per 100 ms), and a number of
// processes. A worker that the kernel killed for memory is reported as such.
// Where the devices controller is mounted, a worker can open only the GPUs it
// was given: the device nodes /dev/nvidia<N> of the others are denied to its
// group (N is the NVML index; nvidiactl, nvidia-uvm and other devices stay
// open), so hiding them from CUDA_VISIBLE_DEVICES is not the only fence.
//
// Groups are made under the agent's own group in each hierarchy, as
// drover-<host>-<work dir hash>/<worker>; at start the agent removes the
// empty groups a killed predecessor in the same work dir left. cgroup v1 (memory, cpu and pids controllers, as
// this project's test machines mount them) is supported; a host with only the
// unified v2 hierarchy is reported as unsupported for now, and its workers
// run without limits (the agent says so at start).
//
// Joining: a process writes "0" to a group's cgroup.procs to move itself; the
// launcher opens those files before it forks and the keeper writes to them
// (async-signal-safe) before it forks the worker, so the worker and all it
// starts are in the group from their first instruction.
//
// Thread safety: none; the agent's loop owns it.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace drover::agent {

struct WorkerLimits {
  int64_t memory_mib = 0;  //!< 0: no memory limit
  int64_t cpu_millis = 0;  //!< 0: no CPU quota
  int64_t pids = 4096;     //!< processes and threads
  std::vector<int> gpus;   //!< GPU indices it may open; every other /dev/nvidia<N> is denied
};

class Cgroups {
 public:
  //! The hierarchies under which the workers of agent `agent` (unique on the
  //! machine: the host and its work dir) get groups. kUnavailable,
  //! saying why, when there are none this process may use (not root, no
  //! cgroup v1 controllers). The devices controller is used where mounted.
  //! `proc` is where /proc is, `dev` where the GPU device nodes are (tests).
  static Result<Cgroups> Detect(const std::string& agent, const std::string& proc = "/proc",
                                const std::string& dev = "/dev");

  //! Makes the group `name` with `limits`; returns the cgroup.procs files a
  //! process writes "0" into to join it. kUnavailable naming the file on failure.
  Result<std::vector<std::string>> Create(const std::string& name, const WorkerLimits& limits);
  //! Whether the kernel OOM-killed a process of group `name`.
  bool OomKilled(const std::string& name) const;
  //! Removes group `name` (once its processes are gone; else later, at the next Remove).
  void Remove(const std::string& name);
  //! Removes the agent's own groups (at its exit, its workers stopped); a
  //! group something still runs in stays.
  void RemoveAgentGroups();
  //! "cgroup v1: memory, cpu, pids under /sys/fs/cgroup/memory/.../drover-h1".
  std::string Describe() const;

 private:
  struct Hierarchy {
    std::string controller;  //!< memory, cpu, pids or devices
    std::string base;        //!< the agent's group for its workers
  };
  std::string Dir(const Hierarchy& h, const std::string& name) const { return h.base + "/" + name; }
  //! Denies `name` the GPU device nodes not in `gpus`.
  Status DenyOtherGpus(const std::string& dir, const std::vector<int>& gpus) const;
  std::vector<Hierarchy> hierarchies_;
  std::string dev_ = "/dev";
  std::set<std::string> leftovers_;  //!< groups whose removal failed (still busy)
};

}  // namespace drover::agent
