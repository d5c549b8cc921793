#include "agent/process_launcher.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <thread>

extern char** environ;

namespace drover::agent {
namespace {

using Clock = std::chrono::steady_clock;

// What the child sends back through the close-on-exec pipe when a step fails.
enum class ChildStep : int { kSetsid, kParentGone, kChdir, kDup, kFork, kExec, kCgroup, kUser };

// Who the worker becomes before exec (resolved by the agent: the child may not look users up).
struct Become {
  bool set = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;
  size_t ngroups = 0;
};
struct ChildFailure {
  ChildStep step;
  int err;
};

// Moves `fd` to a number above stdin/stdout/stderr, so the child's dup2 onto
// 0-2 cannot collide with it (possible when the agent runs with 0-2 closed).
int AboveStdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return moved;
}

void CloseFrom(unsigned int first, unsigned int last) {
  if (first > last) return;
#ifdef SYS_close_range
  if (syscall(SYS_close_range, first, last, 0) == 0) return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (long fd = first; fd < max && fd <= static_cast<long>(last); ++fd)
    close(static_cast<int>(fd));
}

[[noreturn]] void ChildFail(int report_fd, ChildStep step) {
  ChildFailure f{step, errno};
  ssize_t ignored = write(report_fd, &f, sizeof(f));
  (void)ignored;
  _exit(127);
}

void SetAll(void (*handler)(int), std::initializer_list<int> except) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP ||
        std::find(except.begin(), except.end(), sig) != except.end())
      continue;
    sigaction(sig, &sa, nullptr);  // fails harmlessly for the C library's own signals
  }
}

void UnblockAll() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

// The keeper's answer to the agent's death: end the whole worker group, itself included.
void OnAgentDeath(int) { kill(0, SIGKILL); }

// The worker, forked by the keeper: default signal handling, then exec.
[[noreturn]] void RunWorker(int report_fd, char** argv, char** envp, const Become& become) {
  SetAll(SIG_DFL, {});
  if (become.set) {
    // Groups first, then the group, then the user: after setuid nothing else may change.
    if (setgroups(become.ngroups, become.groups) != 0 || setgid(become.gid) != 0 || setuid(become.uid) != 0) {
      ChildFail(report_fd, ChildStep::kUser);
    }
  }
  // Should the keeper be killed alone, the worker follows.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  UnblockAll();
  environ = envp;
  execvp(argv[0], argv);
  ChildFail(report_fd, ChildStep::kExec);
}

// The keeper, forked by the agent with every signal blocked. Only
// async-signal-safe calls here and in RunWorker (plus execvp's PATH lookup,
// which reads the `environ` set just before it).
[[noreturn]] void RunKeeper(pid_t agent, int death_signal, int report_fd, int null_fd, int log_fd,
                            const char* dir, char** argv, char** envp, const int* cgroup_fds, int cgroups,
                            const Become& become) {
  SetAll(SIG_DFL, {});
  if (setsid() < 0) ChildFail(report_fd, ChildStep::kSetsid);
  prctl(PR_SET_NAME, "drover-keeper");
  struct sigaction on_death {};
  on_death.sa_handler = OnAgentDeath;
  sigaction(death_signal, &on_death, nullptr);
  prctl(PR_SET_PDEATHSIG, death_signal);
  // The agent may have died before prctl took effect; then no signal comes.
  if (getppid() != agent) {
    errno = ESRCH;
    ChildFail(report_fd, ChildStep::kParentGone);
  }
  if (chdir(dir) < 0) ChildFail(report_fd, ChildStep::kChdir);
  if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
    ChildFail(report_fd, ChildStep::kDup);
  // Into the worker's control groups ("0": the writer itself), before the worker is forked.
  for (int i = 0; i < cgroups; ++i) {
    if (write(cgroup_fds[i], "0", 1) != 1) ChildFail(report_fd, ChildStep::kCgroup);
  }
  // Everything else the agent has open (server sockets, other logs) stays behind;
  // report_fd is close-on-exec.
  CloseFrom(3, static_cast<unsigned int>(report_fd) - 1);
  CloseFrom(static_cast<unsigned int>(report_fd) + 1, ~0U);
  // Signals sent to the group are meant for the worker: the keeper outlives them
  // (but not SIGKILL), and it never faults, so the fault signals stay default.
  SetAll(SIG_IGN,
         {SIGCHLD, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS, death_signal});
  pid_t worker = fork();
  if (worker < 0) ChildFail(report_fd, ChildStep::kFork);
  if (worker == 0) RunWorker(report_fd, argv, envp, become);
  close(report_fd);  // the agent reads EOF once the worker has exec'ed
  UnblockAll();
  int status = 0;
  while (waitpid(worker, &status, 0) < 0) {
    if (errno != EINTR) _exit(127);
  }
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  // Die of the worker's signal, so the agent sees it; without the worker's core dump.
  int sig = WTERMSIG(status);
  struct rlimit no_core {};
  setrlimit(RLIMIT_CORE, &no_core);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, nullptr);
  raise(sig);
  _exit(128 + sig);
}

std::string DescribeFailure(const ChildFailure& f, const LaunchSpec& spec) {
  std::string what;
  switch (f.step) {
    case ChildStep::kSetsid:
      what = "setsid";
      break;
    case ChildStep::kParentGone:
      what = "agent exited during start";
      break;
    case ChildStep::kChdir:
      what = "chdir " + spec.dir.string();
      break;
    case ChildStep::kDup:
      what = "redirect output";
      break;
    case ChildStep::kFork:
      what = "fork";
      break;
    case ChildStep::kExec:
      what = "exec " + spec.argv[0];
      break;
    case ChildStep::kCgroup:
      what = "join its cgroup";
      break;
    case ChildStep::kUser:
      what = "become uid " + std::to_string(spec.user ? spec.user->uid : 0);
      break;
  }
  return what + ": " + std::strerror(f.err);
}

WorkerExit ExitFromStatus(int pid, int status) {
  WorkerExit e{pid, 0, 0};
  if (WIFEXITED(status)) {
    e.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
    e.exit_code = 128 + e.signal;
  }
  return e;
}

}  // namespace

ProcessLauncher::~ProcessLauncher() {
  std::lock_guard lock(mu_);
  for (auto& [pid, child] : children_) killpg(pid, SIGKILL);
  // SIGKILL is final; the bound only guards against a process stuck in the kernel.
  auto deadline = Clock::now() + std::chrono::seconds(2);
  while (!children_.empty() && Clock::now() < deadline) {
    for (auto it = children_.begin(); it != children_.end();) {
      int status = 0;
      pid_t r = waitpid(it->first, &status, WNOHANG);
      it = (r == it->first || (r < 0 && errno == ECHILD)) ? children_.erase(it) : std::next(it);
    }
    if (!children_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool PassedToWorkers(std::string_view name) {
  static constexpr std::string_view kNames[] = {"PATH",     "HOME",           "USER",          "LOGNAME",
                                                "SHELL",    "LANG",           "LANGUAGE",      "TZ",
                                                "TMPDIR",   "TERM",           "LD_LIBRARY_PATH", "SSL_CERT_FILE",
                                                "SSL_CERT_DIR", "DROVER_CA_CERT", "DROVER_INSECURE"};
  static constexpr std::string_view kPrefixes[] = {"LC_", "NVIDIA_"};
  for (std::string_view n : kNames) {
    if (name == n) return true;
  }
  for (std::string_view p : kPrefixes) {
    if (name.substr(0, p.size()) == p) return true;
  }
  return false;
}

Result<int> ProcessLauncher::Start(const LaunchSpec& spec) {
  if (spec.argv.empty()) return InvalidArgument("worker argv is empty");
  std::error_code ec;
  std::filesystem::create_directories(spec.dir, ec);
  if (ec) return Unavailable("create worker directory " + spec.dir.string() + ": " + ec.message());
  std::filesystem::path log_path = spec.dir / kOutputLogName;
  int log_fd = AboveStdio(open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (log_fd < 0) return Unavailable("open " + log_path.string() + ": " + std::strerror(errno));
  int null_fd = AboveStdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
  int pipe_fds[2] = {-1, -1};
  if (null_fd < 0 || pipe2(pipe_fds, O_CLOEXEC) < 0) {
    int err = errno;
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    return Unavailable(std::string("worker start: ") + std::strerror(err));
  }
  pipe_fds[0] = AboveStdio(pipe_fds[0]);
  pipe_fds[1] = AboveStdio(pipe_fds[1]);

  Become become;
  std::vector<gid_t> groups;
  if (spec.user) {
    groups.assign(spec.user->groups.begin(), spec.user->groups.end());
    become = {true, static_cast<uid_t>(spec.user->uid), static_cast<gid_t>(spec.user->gid), groups.data(),
              groups.size()};
  }
  std::vector<int> cgroup_fds;  // opened here: the keeper may not allocate or format
  for (const std::string& procs : spec.cgroup_procs) {
    int fd = AboveStdio(open(procs.c_str(), O_WRONLY | O_CLOEXEC));
    if (fd < 0) {
      int err = errno;
      for (int f : cgroup_fds) close(f);
      close(log_fd);
      close(null_fd);
      close(pipe_fds[0]);
      close(pipe_fds[1]);
      return Unavailable("worker start: " + procs + ": " + std::strerror(err));
    }
    cgroup_fds.push_back(fd);
  }

  // Everything the child needs is built before fork: it may not allocate.
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    std::string_view name = kv.substr(0, kv.find('='));
    if (PassedToWorkers(name) && spec.env.count(std::string(name)) == 0) env_strings.emplace_back(kv);
  }
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = spec.argv;
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::string dir = spec.dir.string();

  std::lock_guard lock(mu_);
  // Blocked across fork so no agent signal handler runs in the child before it resets them.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t agent = getpid();
  int death_signal = SIGRTMIN + 7;  // unused by the C library and, in practice, by workers
  pid_t pid = fork();
  if (pid == 0) {
    RunKeeper(agent, death_signal, pipe_fds[1], null_fd, log_fd, dir.c_str(), argv.data(),
              envp.data(), cgroup_fds.data(), static_cast<int>(cgroup_fds.size()), become);
  }
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(pipe_fds[1]);
  close(null_fd);
  for (int fd : cgroup_fds) close(fd);
  if (pid < 0) {
    close(pipe_fds[0]);
    close(log_fd);
    return Unavailable(std::string("fork: ") + std::strerror(fork_errno));
  }
  children_[pid] = Child{};

  // EOF means exec succeeded (the keeper closed its end, the exec the worker's);
  // a record means a step failed.
  ChildFailure failure{};
  ssize_t n;
  do {
    n = read(pipe_fds[0], &failure, sizeof(failure));
  } while (n < 0 && errno == EINTR);
  close(pipe_fds[0]);
  if (n == static_cast<ssize_t>(sizeof(failure))) {
    std::string message = DescribeFailure(failure, spec);
    spdlog::warn("worker pid {}: {}; it exits with code 127", pid, message);
    std::string line = "drover agent: " + message + "\n";
    ssize_t ignored = write(log_fd, line.data(), line.size());
    (void)ignored;
  }
  close(log_fd);
  return static_cast<int>(pid);
}

void ProcessLauncher::Stop(int pid, std::chrono::milliseconds grace) {
  std::lock_guard lock(mu_);
  auto it = children_.find(pid);
  if (it == children_.end() || it->second.stopping) return;
  Child& child = it->second;
  child.stopping = true;
  child.kill_at = Clock::now() + grace;
  if (grace.count() <= 0) {
    killpg(pid, SIGKILL);
    child.killed = true;
  } else {
    killpg(pid, SIGTERM);
  }
}

std::vector<WorkerExit> ProcessLauncher::Poll() {
  std::lock_guard lock(mu_);
  return PollLocked();
}

std::vector<WorkerExit> ProcessLauncher::PollLocked() {
  std::vector<WorkerExit> exits;
  auto now = Clock::now();
  for (auto it = children_.begin(); it != children_.end();) {
    int pid = it->first;
    Child& child = it->second;
    siginfo_t info{};
    // WNOWAIT leaves the exited leader a zombie, so its pid (the group id)
    // cannot be reused while the rest of its group is killed.
    int r = waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT);
    if (r == 0 && info.si_pid == pid) {
      killpg(pid, SIGKILL);
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      exits.push_back(ExitFromStatus(pid, status));
      it = children_.erase(it);
      continue;
    }
    if (r < 0 && errno == ECHILD) {
      // Reaped by someone else (a bug elsewhere in the process): its status is lost.
      spdlog::error("worker pid {} was reaped outside the launcher; exit status unknown", pid);
      exits.push_back(WorkerExit{pid, 255, 0});
      it = children_.erase(it);
      continue;
    }
    if (child.stopping && !child.killed && now >= child.kill_at) {
      spdlog::warn("worker pid {} still running after its grace period: SIGKILL", pid);
      killpg(pid, SIGKILL);
      child.killed = true;
    }
    ++it;
  }
  return exits;
}

std::vector<WorkerExit> ProcessLauncher::StopAll(std::chrono::milliseconds grace) {
  std::vector<int> pids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [pid, child] : children_) pids.push_back(pid);
  }
  for (int pid : pids) Stop(pid, grace);
  std::vector<WorkerExit> exits;
  auto deadline = Clock::now() + grace + std::chrono::seconds(2);
  while (true) {
    std::vector<WorkerExit> batch = Poll();
    exits.insert(exits.end(), batch.begin(), batch.end());
    if (live_count() == 0) break;
    if (Clock::now() >= deadline) {
      spdlog::error("{} worker(s) did not exit after SIGKILL", live_count());
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exits;
}

size_t ProcessLauncher::live_count() const {
  std::lock_guard lock(mu_);
  return children_.size();
}

}  // namespace drover::agent
