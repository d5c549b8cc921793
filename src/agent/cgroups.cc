#include "agent/cgroups.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace drover::agent {
namespace {

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);) out.push_back(item);
  return out;
}

// Writes `value` to a control file; the file and errno when it fails.
Status WriteFile(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  if (!out) return Unavailable("cannot write " + value + " to " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

// Makes `agent`'s group in a hierarchy (mounted at `mount`, the agent in
// `own` there) and removes the empty groups a killed predecessor left: their
// workers' keepers took them along, or something still runs there and they stay.
Result<std::string> AgentGroup(const std::string& mount, const std::string& own, const std::string& agent) {
  std::string base = mount + (own == "/" ? "" : own) + "/drover-" + agent;
  if (::mkdir(base.c_str(), 0755) != 0 && errno != EEXIST) {
    return Unavailable("cannot make " + base + ": " + std::strerror(errno));
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
    if (entry.is_directory(ec)) (void)::rmdir(entry.path().c_str());
  }
  return base;
}

}  // namespace

Result<Cgroups> Cgroups::Detect(const std::string& agent, const std::string& proc, const std::string& dev) {
  if (geteuid() != 0) return Unavailable("the agent is not root, so it cannot make cgroups for its workers");
  // Where each v1 controller is mounted: "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0".
  std::map<std::string, std::string> mounts;
  std::ifstream m(proc + "/self/mounts");
  for (std::string line; std::getline(m, line);) {
    std::vector<std::string> f = Split(line, ' ');
    if (f.size() < 4 || f[2] != "cgroup") continue;
    for (const std::string& opt : Split(f[3], ',')) {
      if (opt == "memory" || opt == "cpu" || opt == "pids" || opt == "devices") mounts[opt] = f[1];
    }
  }
  // The agent's own group in each: "4:memory:/some/path", "1:cpu,cpuacct:/".
  std::map<std::string, std::string> own;
  std::ifstream c(proc + "/self/cgroup");
  for (std::string line; std::getline(c, line);) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    for (const std::string& ctl : Split(line.substr(a + 1, b - a - 1), ',')) own[ctl] = line.substr(b + 1);
  }
  Cgroups out;
  out.dev_ = dev;
  for (const char* ctl : {"memory", "cpu", "pids", "devices"}) {
    const bool optional = std::string(ctl) == "devices";
    if (!mounts.count(ctl) || !own.count(ctl)) {
      if (optional) continue;
      return Unavailable(std::string("no cgroup v1 ") + ctl + " controller is mounted" +
                         (mounts.empty() ? " (cgroup v2 alone is not supported yet)" : ""));
    }
    Result<std::string> base = AgentGroup(mounts[ctl], own[ctl], agent);
    if (!base.ok()) return base.status();
    out.hierarchies_.push_back({ctl, *base});
  }
  return out;
}

Result<std::vector<std::string>> Cgroups::Create(const std::string& name, const WorkerLimits& limits) {
  for (const std::string& old : std::set<std::string>(leftovers_)) Remove(old);
  std::vector<std::string> procs;
  for (const Hierarchy& h : hierarchies_) {
    std::string dir = Dir(h, name);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Unavailable("cannot make " + dir + ": " + std::strerror(errno));
    }
    if (h.controller == "memory" && limits.memory_mib > 0) {
      std::string bytes = std::to_string(limits.memory_mib << 20);
      DROVER_RETURN_IF_ERROR(WriteFile(dir + "/memory.limit_in_bytes", bytes));
      // Memory plus swap, where the kernel accounts it: the limit is not escaped by swapping.
      if (::access((dir + "/memory.memsw.limit_in_bytes").c_str(), W_OK) == 0) {
        (void)WriteFile(dir + "/memory.memsw.limit_in_bytes", bytes);
      }
    } else if (h.controller == "cpu" && limits.cpu_millis > 0) {
      DROVER_RETURN_IF_ERROR(WriteFile(dir + "/cpu.cfs_period_us", "100000"));
      // millis of a CPU -> microseconds per 100 ms period; the kernel's floor is 1 ms.
      DROVER_RETURN_IF_ERROR(
          WriteFile(dir + "/cpu.cfs_quota_us", std::to_string(std::max<int64_t>(1000, limits.cpu_millis * 100))));
    } else if (h.controller == "pids" && limits.pids > 0) {
      DROVER_RETURN_IF_ERROR(WriteFile(dir + "/pids.max", std::to_string(limits.pids)));
    } else if (h.controller == "devices") {
      DROVER_RETURN_IF_ERROR(DenyOtherGpus(dir, limits.gpus));
    }
    procs.push_back(dir + "/cgroup.procs");
  }
  return procs;
}

Status Cgroups::DenyOtherGpus(const std::string& dir, const std::vector<int>& gpus) const {
  // /dev/nvidia<N>: one per GPU (nvidiactl, nvidia-uvm, nvidia-caps are not GPUs).
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dev_, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.size() <= 6 || file.size() > 12 || file.compare(0, 6, "nvidia") != 0 ||
        !std::all_of(file.begin() + 6, file.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    struct stat st {};
    if (::stat(entry.path().c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) continue;
    if (std::find(gpus.begin(), gpus.end(), std::stoi(file.substr(6))) != gpus.end()) continue;
    // One rule per write: the kernel parses a single entry at a time.
    DROVER_RETURN_IF_ERROR(WriteFile(dir + "/devices.deny", "c " + std::to_string(major(st.st_rdev)) + ":" +
                                                                std::to_string(minor(st.st_rdev)) + " rwm"));
  }
  return Status::Ok();
}

bool Cgroups::OomKilled(const std::string& name) const {
  for (const Hierarchy& h : hierarchies_) {
    if (h.controller != "memory") continue;
    std::ifstream in(Dir(h, name) + "/memory.oom_control");
    for (std::string key; in >> key;) {
      int64_t n = 0;
      in >> n;
      if (key == "oom_kill") return n > 0;
    }
  }
  return false;
}

void Cgroups::Remove(const std::string& name) {
  bool busy = false;
  for (const Hierarchy& h : hierarchies_) {
    std::string dir = Dir(h, name);
    if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) busy = true;
  }
  if (busy) {
    leftovers_.insert(name);
  } else {
    leftovers_.erase(name);
  }
}

void Cgroups::RemoveAgentGroups() {
  for (const std::string& name : std::set<std::string>(leftovers_)) Remove(name);
  for (const Hierarchy& h : hierarchies_) (void)::rmdir(h.base.c_str());
}

std::string Cgroups::Describe() const {
  std::string s = "cgroup v1:";
  for (const Hierarchy& h : hierarchies_) s += " " + h.controller + " (" + h.base + ")";
  return s;
}

}  // namespace drover::agent
