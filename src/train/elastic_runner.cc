#include "train/elastic_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

namespace drover::train {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kCheckpointFile = "state.pt";
// How long a long poll for membership waits at most in one call.
constexpr milliseconds kPollWait{5000};
// How long survivors of a failure let the membership settle before reading it.
constexpr milliseconds kSettle{300};
// How long the server may stay unreachable before Fit gives up.
constexpr std::chrono::seconds kServerPatience{60};

std::atomic<bool> g_terminate{false};
extern "C" void OnTerminate(int) { g_terminate.store(true); }

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string Getenv(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// A worker's step measurements between two posts.
struct PerfSum {
  int64_t steps = 0;
  double step_s = 0, compute_s = 0;  //!< sums
  double global_batch = 0, local_batch = 0;
  //! The latest smoothed gradient norms (ElasticRunner::SmoothedNorms); 0: none yet.
  double local_sqr = 0, global_sqr = 0;
  //! The adaptive batch mode's largest global batch; 0: the batch is fixed.
  double max_batch = 0;
};

void NotePerf(const StepMetrics& m, double local_sqr, double global_sqr, PerfSum* p) {
  p->steps += 1;
  p->step_s += std::chrono::duration<double>(m.wall).count();
  p->compute_s += std::chrono::duration<double>(m.compute).count();
  p->global_batch = static_cast<double>(m.global_samples);
  p->local_batch = static_cast<double>(m.local_samples);
  p->local_sqr = local_sqr;
  p->global_sqr = global_sqr;
}

}  // namespace

// The two helper threads of an elastic worker, each with its own connection:
// a watcher that long-polls membership, and a heartbeat that reports progress.
struct ElasticRunner::Threads {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  int64_t known = 0;   //!< the generation the group is formed at
  int64_t joined = 0;  //!< the generation this worker was started at
  bool newer = false;  //!< a newer generation, all members ready, exists
  bool leaving = false;
  WorkerStatus status;  //!< the progress to report next
  std::deque<WorkerStatus::Rescale> rescales;
  //! Step measurements since the last post, at the current world size.
  PerfSum perf;
  std::thread watcher, heartbeat;

  void Watch(JobClient* client) {
    std::unique_lock<std::mutex> lock(mu);
    while (!stop) {
      if (newer) {  // wait for the main thread to act on it
        cv.wait(lock, [&] { return stop || !newer; });
        continue;
      }
      const int64_t g = known;
      lock.unlock();
      auto m = client->Members(g, /*ready=*/true, kPollWait);
      lock.lock();
      if (!m.ok()) {
        cv.wait_for(lock, milliseconds(200), [&] { return stop; });
        continue;
      }
      if (known == g && ((m->generation > g && m->AllReady()) || m->Terminal())) newer = true;
    }
  }

  void Beat(JobClient* client, milliseconds interval) {
    std::unique_lock<std::mutex> lock(mu);
    bool warned = false;
    while (!stop) {
      WorkerStatus s = status;
      s.generation = std::max(known, joined);
      if (!rescales.empty()) s.rescale = rescales.front();
      if (perf.steps > 0 && perf.compute_s > 0) {
        const double n = static_cast<double>(perf.steps);
        s.perf = api::StepPerf{perf.steps, perf.global_batch, perf.local_batch, perf.step_s / n,
                          std::min(perf.compute_s, perf.step_s) / n};
        if (perf.global_sqr > 0) s.perf->local_grad_sqr = perf.local_sqr, s.perf->global_grad_sqr = perf.global_sqr;
        if (perf.max_batch > 0) s.perf->max_batch = std::max(perf.max_batch, perf.global_batch);
        perf.steps = 0;
        perf.step_s = perf.compute_s = 0;
      }
      lock.unlock();
      auto r = client->PostStatus(s);
      lock.lock();
      if (r.ok()) {
        if (s.rescale && !rescales.empty()) rescales.pop_front();
        warned = false;
      } else if (!warned && r.status().code() != StatusCode::kNotFound) {
        spdlog::warn("cannot report progress: {}", r.status().message());
        warned = true;
      }
      if (!rescales.empty() && r.ok()) continue;
      cv.wait_for(lock, interval, [&] { return stop || !rescales.empty(); });
    }
  }
};

Result<std::unique_ptr<ElasticRunner>> ElasticRunner::Create(Trainer* trainer, const ElasticOptions& options) {
  if (!trainer) return InvalidArgument("ElasticRunner: null trainer");
  if (options.batch_mode == BatchMode::kConstantPerWorker && options.per_worker_batch <= 0) {
    return InvalidArgument("ElasticRunner: per_worker_batch must be positive");
  }
  if (options.checkpoint_every < 0) return InvalidArgument("ElasticRunner: checkpoint_every must not be negative");
  std::unique_ptr<ElasticRunner> runner(new ElasticRunner(trainer, options));
  auto env = WorkerEnvFromEnvironment();
  if (env.ok()) {
    auto client = JobClient::Create(*env);
    if (!client.ok()) return client.status();
    runner->client_ = std::move(*client);
  } else if (env.status().code() != StatusCode::kNotFound) {
    return env.status();
  }
  return runner;
}

ElasticRunner::ElasticRunner(Trainer* trainer, const ElasticOptions& options)
    : trainer_(trainer), options_(options), base_lr_(trainer->options().lr),
      init_batch_(trainer->options().global_batch) {
  if (options_.batch_mode == BatchMode::kAdaptive) {
    sched::BatchLimits l;
    l.init_batch = static_cast<double>(init_batch_);
    l.max_batch = static_cast<double>(options_.max_batch > 0 ? options_.max_batch : 8 * init_batch_);
    l.min_local = 1;
    l.max_local = l.max_batch;  // the Trainer accumulates above max_micro_batch itself
    l.adaptive = true;
    goodput_ = std::make_unique<sched::GoodputModel>(l);
  }
}

void ElasticRunner::SmoothedNorms::Add(const StepMetrics& m) {
  if (!(m.global_grad_sqr > 0) || !std::isfinite(m.local_grad_sqr + m.global_grad_sqr)) return;
  const bool first = global == 0;
  local = first ? m.local_grad_sqr : 0.9 * local + 0.1 * m.local_grad_sqr;
  global = first ? m.global_grad_sqr : 0.9 * global + 0.1 * m.global_grad_sqr;
}

void ElasticRunner::Learn(const StepMetrics& m) {
  if (!goodput_ || m.local_samples <= 0) return;
  goodput_->Observe({hosts_, m.world_size, static_cast<double>(m.local_samples),
                     std::chrono::duration<double>(m.wall).count(), std::chrono::duration<double>(m.compute).count()});
  if (norms_.global > 0) {
    goodput_->ObserveNoise(sched::EstimateNoise(norms_.local, norms_.global, static_cast<double>(m.local_samples),
                                                static_cast<double>(m.global_samples),
                                                static_cast<double>(init_batch_)),
                           static_cast<double>(m.global_samples), m.epoch);
  }
}

ElasticRunner::~ElasticRunner() { StopThreads(); }

bool ElasticRunner::Done() const {
  if (options_.stop_when && options_.stop_when()) return true;
  const TrainOptions& o = trainer_->options();
  if (o.max_steps > 0 && trainer_->step() >= o.max_steps) return true;
  return o.epochs > 0 && trainer_->sampler().epoch() >= o.epochs;
}

std::optional<double> ElasticRunner::SamplesLeft() const {
  const TrainOptions& o = trainer_->options();
  const SamplerState& at = trainer_->sampler().state();
  std::optional<double> left;
  if (o.epochs > 0) {
    left = std::max<double>(0, static_cast<double>(o.epochs - at.epoch) * static_cast<double>(at.dataset_size) -
                                   static_cast<double>(at.cursor));
  }
  if (o.max_steps > 0) {
    const double by_steps = std::max<double>(0, static_cast<double>(o.max_steps - trainer_->step()) *
                                                    static_cast<double>(o.global_batch));
    left = left ? std::min(*left, by_steps) : by_steps;
  }
  return left;
}

bool ElasticRunner::SaveDue() const {
  return rank() == 0 && options_.checkpoint_every > 0 && trainer_->step() % options_.checkpoint_every == 0;
}

Status ElasticRunner::Configure(int world) {
  if (options_.batch_mode == BatchMode::kConstantGlobal) return Status::Ok();
  if (options_.batch_mode == BatchMode::kAdaptive) {
    // Rank 0 chooses from what it measured; the sum over the group, where
    // every other rank adds 0, is its choice on every rank.
    std::vector<float> choice(2, 0.0f);
    if (rank() == 0) {
      const sched::BatchChoice c = goodput_->Best(hosts_, world);
      const double batch = c.feasible && goodput_->points() > 0 ? std::round(c.global_batch) : init_batch_;
      choice = {static_cast<float>(batch),
                static_cast<float>(sched::BatchGain(goodput_->noise(), static_cast<double>(init_batch_), batch,
                                                    goodput_->noise_scaling()))};
    }
    if (group_ && world > 1) DROVER_RETURN_IF_ERROR(group_->AllReduceSum(choice));
    const int64_t batch = std::max<int64_t>(static_cast<int64_t>(choice[0]), world);
    spdlog::info("adaptive batch: {} workers on {} hosts: global batch {} (was {}; from {} measured sizes), "
                 "learning rate x{:.3f}",
                 world, hosts_, batch, trainer_->options().global_batch, goodput_->points(), choice[1]);
    DROVER_RETURN_IF_ERROR(trainer_->SetGlobalBatch(batch));
    return trainer_->SetLearningRate(base_lr_ * std::max(1.0f, choice[1]));
  }
  DROVER_RETURN_IF_ERROR(trainer_->SetGlobalBatch(options_.per_worker_batch * world));
  return trainer_->SetLearningRate(ScaledLearningRate(base_lr_, options_.lr_scaling, world));
}

Status ElasticRunner::SaveCheckpoint() {
  if (options_.checkpoint_dir.empty()) return Status::Ok();
  auto bytes = trainer_->SaveState();
  if (!bytes.ok()) return bytes.status();
  std::error_code ec;
  std::filesystem::create_directories(options_.checkpoint_dir, ec);
  const auto path = options_.checkpoint_dir / kCheckpointFile;
  const auto tmp = options_.checkpoint_dir / (std::string(kCheckpointFile) + ".tmp");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Unavailable("checkpoint " + tmp.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes->size()) {
    ssize_t n = ::write(fd, bytes->data() + done, bytes->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return Unavailable("checkpoint " + tmp.string() + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return Unavailable("checkpoint " + path.string() + ": " + std::strerror(errno));
  }
  int dir = ::open(options_.checkpoint_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Status::Ok();
}

Status ElasticRunner::LoadCheckpoint(bool* loaded) {
  *loaded = false;
  if (options_.checkpoint_dir.empty()) return Status::Ok();
  const auto path = options_.checkpoint_dir / kCheckpointFile;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Ok();
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Status st = trainer_->LoadState(bytes);
  if (!st.ok()) return InvalidArgument("checkpoint " + path.string() + ": " + st.message());
  *loaded = true;
  spdlog::info("resumed from checkpoint {} at step {}", path.string(), trainer_->step());
  return Status::Ok();
}

Status ElasticRunner::Fit() {
  bool loaded = false;
  DROVER_RETURN_IF_ERROR(LoadCheckpoint(&loaded));
  have_state_ = loaded;
  Status st = client_ ? FitElastic() : FitStandalone();
  trainer_->SetSignal(nullptr);
  StopThreads();
  if (st.ok() && !left_ && rank() == 0) DROVER_RETURN_IF_ERROR(SaveCheckpoint());
  return st;
}

GroupOptions ElasticRunner::BaseGroupOptions() const {
  GroupOptions go;
  go.timeout = options_.collective_timeout;
  go.nccl = options_.nccl && trainer_->device().is_cuda();
  return go;
}

// A fixed group, as torchrun would give it.
Status ElasticRunner::FitStandalone() {
  auto rank = std::atoi(Getenv("RANK", "0").c_str());
  auto world = std::atoi(Getenv("WORLD_SIZE", "1").c_str());
  if (world < 1 || rank < 0 || rank >= world) {
    return InvalidArgument("RANK/WORLD_SIZE: need 0 <= RANK < WORLD_SIZE");
  }
  if (world > 1) {
    GroupOptions go = BaseGroupOptions();
    go.store_host = Getenv("MASTER_ADDR", "127.0.0.1");
    go.store_port = std::atoi(Getenv("MASTER_PORT", "29500").c_str());
    go.is_store_server = rank == 0;
    go.timeout = std::max(go.timeout, milliseconds(30000));  // a slow peer start is no failure here
    auto group = ElasticGroup::Create(go);
    if (!group.ok()) return group.status();
    group_ = std::move(*group);
    DROVER_RETURN_IF_ERROR(group_->Form(0, rank, world));
    trainer_->SetGroup(group_.get());
    DROVER_RETURN_IF_ERROR(trainer_->Synchronize(0));
  }
  DROVER_RETURN_IF_ERROR(Configure(world));
  while (!Done()) {
    const auto t0 = Clock::now();
    auto m = trainer_->Step();
    if (!m.ok()) return m.status();
    norms_.Add(*m);
    Learn(*m);
    NoteStep(*m);
    if (SaveDue()) DROVER_RETURN_IF_ERROR(SaveCheckpoint());
    std::this_thread::sleep_until(t0 + options_.min_step);
  }
  return Status::Ok();
}

void ElasticRunner::StartThreads(int64_t joined) {
  threads_ = std::make_unique<Threads>();
  threads_->status.ready = true;
  threads_->joined = joined;
  auto watch_client = JobClient::Create(client_->env());
  auto beat_client = JobClient::Create(client_->env());
  // Create() only fails on a bad URL, which client_ already passed.
  threads_->watcher = std::thread([t = threads_.get(), c = std::shared_ptr<JobClient>(std::move(*watch_client))] {
    t->Watch(c.get());
  });
  threads_->heartbeat = std::thread([t = threads_.get(), c = std::shared_ptr<JobClient>(std::move(*beat_client)),
                                     interval = options_.status_interval] { t->Beat(c.get(), interval); });
}

void ElasticRunner::StopThreads() {
  if (!threads_) return;
  {
    std::lock_guard<std::mutex> lock(threads_->mu);
    threads_->stop = true;
  }
  threads_->cv.notify_all();
  if (threads_->watcher.joinable()) threads_->watcher.join();
  if (threads_->heartbeat.joinable()) threads_->heartbeat.join();
  threads_.reset();
}

Status ElasticRunner::Regroup(const MembershipDecision& d) {
  const int world = static_cast<int>(d.group.members.size());
  std::set<std::string> hosts;
  for (const auto& member : d.group.members) hosts.insert(member.host);
  hosts_ = std::max<int>(1, static_cast<int>(hosts.size()));
  const int rank = d.rank;
  const auto t0 = Clock::now();
  DROVER_RETURN_IF_ERROR(group_->Form(d.prefix, rank, world));
  const auto t1 = Clock::now();
  form_ms_ = Ms(t1 - t0);
  sync_ms_ = 0;
  trainer_->SetGroup(group_.get());
  if (world > 1) {
    // Elect the root: the highest committed step wins, then the lowest rank.
    std::vector<float> steps(static_cast<size_t>(world), 0.0f);
    steps[static_cast<size_t>(rank)] = have_state_ ? static_cast<float>(trainer_->step() + 1) : 0.0f;
    DROVER_RETURN_IF_ERROR(group_->AllReduceSum(steps));
    const int root = static_cast<int>(std::max_element(steps.begin(), steps.end()) - steps.begin());
    const bool same = std::all_of(steps.begin(), steps.end(), [&](float s) { return s == steps[0] && s > 0; });
    if (!same) DROVER_RETURN_IF_ERROR(trainer_->Synchronize(root));
    sync_ms_ = Ms(Clock::now() - t1);
  }
  have_state_ = true;
  return Configure(world);
}

void ElasticRunner::FinalReport(int world) {
  if (left_) return;
  WorkerStatus last;
  {
    std::lock_guard<std::mutex> lock(threads_->mu);
    last = threads_->status;
  }
  last.generation = std::max(known_generation_, threads_->joined);
  last.world_size = world;
  auto r = client_->PostStatus(last);
  if (!r.ok() && r.status().code() != StatusCode::kNotFound) {
    spdlog::warn("cannot report the final progress: {}", r.status().message());
  }
}

void ElasticRunner::AwaitNewGeneration(int64_t generation, bool ask_now) {
  if (!ask_now) {
    auto m = client_->Members(generation, /*ready=*/false, options_.regroup_after);
    if (m.ok() && (m->generation > generation || m->Terminal())) return;
    spdlog::warn("the group of generation {} failed but the server has no new one after {} ms; asking for one",
                 generation, options_.regroup_after.count());
  }
  WorkerStatus ask;
  ask.generation = generation;
  ask.ready = true;
  ask.regroup = true;
  auto r = client_->PostStatus(ask);
  if (!r.ok()) spdlog::warn("cannot ask for a new generation: {}", r.status().message());
}

Status ElasticRunner::FitElastic() {
  struct sigaction sa {};
  sa.sa_handler = OnTerminate;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);

  GroupOptions go = BaseGroupOptions();
  go.kv = std::shared_ptr<JobClient>(JobClient::Create(client_->env()).value());
  go.device_hostname = Getenv("DROVER_GLOO_HOSTNAME", "127.0.0.1");
  auto group = ElasticGroup::Create(go);
  if (!group.ok()) return group.status();
  group_ = std::move(*group);
  // The generation this worker was started at: its ready reports name it.
  int64_t joined = 0;
  for (Clock::time_point until = Clock::now() + kServerPatience;;) {
    auto now = client_->Members(-1, /*ready=*/false, milliseconds(0));
    if (now.ok()) {
      for (const Member& mem : now->members) {
        if (mem.slot == client_->env().slot) joined = mem.generation;
      }
      break;
    }
    if (Clock::now() > until) return now.status();
    std::this_thread::sleep_for(milliseconds(200));
  }
  StartThreads(joined);
  trainer_->SetSignal([t = threads_.get()] {
    std::lock_guard<std::mutex> lock(t->mu);
    return t->newer || g_terminate.load() ? 1.0f : 0.0f;
  });
  const int slot = client_->env().slot;
  int world = 0;  // of the last group formed
  Clock::time_point last_step_end = Clock::now();
  bool after_failure = false;
  Clock::time_point unreachable_since{};

  while (!Done()) {
    // Survivors of a failure do not wait for newcomers to be ready (see below).
    const bool survivor = after_failure && have_state_ && !group_->formed();
    auto m = client_->Members(known_generation_, /*ready=*/!survivor, kPollWait);
    if (!m.ok()) {
      if (g_terminate.load()) return FailedPrecondition("terminated by SIGTERM; the server is unreachable");
      if (unreachable_since == Clock::time_point{}) unreachable_since = Clock::now();
      if (Clock::now() - unreachable_since > kServerPatience) return m.status();
      std::this_thread::sleep_for(milliseconds(200));
      continue;
    }
    unreachable_since = {};
    if (survivor && m->generation > known_generation_ && !m->Terminal()) {
      // One failure often brings two changes a moment apart (the dead worker
      // leaves; the scheduler refills its slot). Survivors let them settle and
      // read again, so that they agree on the group they form.
      std::this_thread::sleep_for(kSettle);
      auto settled = client_->Members(-1, /*ready=*/false, milliseconds(0));
      if (settled.ok() && settled->generation >= m->generation) m = std::move(settled);
    }
    // What to do with it (membership.h): end, leave, wait, or form a group.
    const MembershipDecision d = DecideMembership(*m, slot, known_generation_, survivor);
    if (d.kind == MembershipDecision::Kind::kEnded) {
      return FailedPrecondition("job " + std::to_string(client_->env().job) + " is " + api::Name(m->job_state));
    }
    if (d.kind == MembershipDecision::Kind::kLeave) {
      spdlog::info("worker {} is no longer a member of generation {}: leaving at step {}", slot, m->generation,
                   trainer_->step());
      left_ = true;
      break;
    }
    if (g_terminate.load()) return FailedPrecondition("terminated by SIGTERM");
    if (d.kind == MembershipDecision::Kind::kWait) continue;
    const int rank = m->RankOf(slot);
    const int64_t failed_at = m->generation;
    Status st = Regroup(d);
    if (!st.ok()) {
      spdlog::warn("re-forming generation {} failed: {}", failed_at, st.message());
      known_generation_ = std::max(known_generation_, failed_at);
      // A newcomer that could not join most likely met survivors training as
      // the ready subset: it asks for the regroup that brings them in at once.
      AwaitNewGeneration(failed_at, /*ask_now=*/!have_state_);
      continue;
    }
    if (d.ask_regroup) {
      // The newcomers left out are most likely still starting. A generation
      // newer than the one they were started at makes them rendezvous there
      // (once ready) rather than with a group that will never form, and this
      // group moves to it at the step after they are ready.
      AwaitNewGeneration(m->generation, /*ask_now=*/true);
    }
    const int new_world = group_->world_size();
    RescaleEvent ev{world, new_world, Ms(Clock::now() - last_step_end), trainer_->step(), after_failure, form_ms_,
                    sync_ms_};
    {
      std::lock_guard<std::mutex> lock(threads_->mu);
      known_generation_ = m->generation;
      threads_->known = m->generation;
      threads_->newer = false;
      threads_->status.world_size = new_world;
      threads_->perf = {};  // measurements are per world size
      norms_ = {};
      if (goodput_) threads_->perf.max_batch = goodput_->limits().max_batch;
      if (world > 0 && world != new_world && rank == 0) {
        threads_->rescales.push_back({world, new_world, ev.pause_ms});
      }
    }
    threads_->cv.notify_all();
    if (world > 0 && world != new_world) {
      spdlog::info("rescaled {} -> {} workers at step {} (generation {}, rank {}): paused {:.1f} ms "
                   "(forming the group {:.1f} ms, electing and sending state {:.1f} ms){}",
                   world, new_world, ev.step, m->generation, rank, ev.pause_ms, ev.form_ms, ev.sync_ms,
                   after_failure ? " after a failure" : "");
      if (on_rescale_) on_rescale_(ev);
    } else {
      spdlog::info("formed generation {}: rank {} of {} at step {}", m->generation, rank, new_world, ev.step);
    }
    world = new_world;
    after_failure = false;

    // Train until the signal says the group changes after this step, or a step fails.
    bool warm = false;  // the first step of a group warms caches up: not measured
    while (!Done()) {
      const auto t0 = Clock::now();
      auto step = trainer_->Step();
      if (!step.ok()) {
        spdlog::warn("step {} failed, rolled back: {}", trainer_->step() + 1, step.status().message());
        after_failure = true;
        group_->Leave();
        AwaitNewGeneration(known_generation_, /*ask_now=*/false);
        break;
      }
      if (warm) norms_.Add(*step);
      {
        std::lock_guard<std::mutex> lock(threads_->mu);
        WorkerStatus& s = threads_->status;
        s.step = step->step;
        s.epoch = step->epoch;
        s.loss = step->loss;
        s.samples_per_s = step->samples_per_s;
        s.samples_left = SamplesLeft();
        if (warm && step->local_samples > 0) NotePerf(*step, norms_.local, norms_.global, &threads_->perf);
      }
      if (warm) Learn(*step);
      warm = true;
      NoteStep(*step);
      if (SaveDue()) {
        Status cs = SaveCheckpoint();
        if (!cs.ok()) spdlog::warn("{}", cs.message());
      }
      std::this_thread::sleep_until(t0 + options_.min_step);
      last_step_end = Clock::now();
      if (step->signal > 0) break;
    }
  }
  FinalReport(world);
  return Status::Ok();
}

void ElasticRunner::NoteStep(const StepMetrics& m) {
  if (!options_.epoch_metrics) return;
  epoch_loss_ += m.loss;
  ++epoch_steps_;
  if (trainer_->sampler().epoch() == m.epoch) return;  // the epoch goes on
  if (rank() == 0) {
    std::map<std::string, double> values = {{"epoch", static_cast<double>(m.epoch + 1)},
                                            {"loss", epoch_loss_ / static_cast<double>(epoch_steps_)},
                                            {"samples_per_s", m.samples_per_s}};
    if (on_epoch_metrics_) on_epoch_metrics_(m.epoch + 1, &values);
    std::string line = "drover-metric {";
    for (const auto& [name, v] : values) {
      char num[32];
      std::snprintf(num, sizeof num, "%.9g", std::isfinite(v) ? v : 0.0);
      line += (line.back() == '{' ? "\"" : ", \"") + name + "\": " + num;
    }
    std::printf("%s}\n", line.c_str());
    std::fflush(stdout);
  }
  epoch_loss_ = 0;
  epoch_steps_ = 0;
}

Status Fit(Trainer* trainer, const ElasticOptions& options, bool* left) {
  auto runner = ElasticRunner::Create(trainer, options);
  if (!runner.ok()) return runner.status();
  Status st = (*runner)->Fit();
  if (left) *left = (*runner)->left();
  return st;
}

}  // namespace drover::train
