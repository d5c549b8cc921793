// ElasticGroup across real processes: every rank (and the store host) is a
// forked child, so the gtest process itself never touches libtorch and every
// fork happens from a process without libtorch threads. Children report
// through their exit code (0 = all checks passed, else the failed check's
// line) and through a MAP_SHARED page of timestamps; each one is bounded by
// alarm(), and the parent SIGKILLs whatever is left at the end.
//
// The timestamps use steady_clock (CLOCK_MONOTONIC, one clock for all
// processes), so the parent can print the rescale pause: from the failure (or
// the newcomer's start) to each rank's first successful collective in the new
// generation.
#include "train/process_group.h"
#include "train/multiprocess_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace drover::train {
namespace {

using std::chrono::milliseconds;

using namespace mp;  // the multi-process helpers: Spawn, Reap, Connect, kTimeout, ...

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Written by children, read by the parent after they exit.
struct Shared {
  std::atomic<int64_t> t_fail_ns{0};     // victim: just before SIGKILL
  std::atomic<int64_t> t_start_ns{0};    // grow: newcomer forked
  std::atomic<int> gen0_done{0};         // grow: incumbents finished gen 0
  std::atomic<int64_t> t_err_ns[3]{};    // survivor r: collective failed
  std::atomic<int64_t> t_ok_ns[3]{};     // rank r: first OK collective of gen 1
};

Shared* MapShared() {
  void* p = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return new (p) Shared();
}

double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// rank r contributes (r + 1) * i at index i, so the sum over ranks 0..w-1 is w(w+1)/2 * i.
std::vector<float> Contribution(int rank, size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>((rank + 1) * i);
  return v;
}
bool IsSumOverWorld(const std::vector<float>& v, int world) {
  const float k = static_cast<float>(world * (world + 1) / 2);
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != k * static_cast<float>(i)) return false;
  }
  return true;
}

std::vector<uint8_t> Blob(size_t n, uint8_t seed) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 31 + seed);
  return b;
}

TEST(ElasticGroupTest, RejectsBadArgumentsWithoutTouchingState) {
  auto bad = ElasticGroup::Create({.store_host = "127.0.0.1", .store_port = 0});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);

  const int port = FreePort();
  pid_t child = Spawn([port] {
    auto g = ElasticGroup::Create(
        {.store_host = "127.0.0.1", .store_port = port, .is_store_server = true, .timeout = kTimeout});
    CHILD_OK(g.status());
    // A write to a dead peer must not kill this process (Gloo's writev raises SIGPIPE).
    struct sigaction pipe_action {};
    CHILD_CHECK(sigaction(SIGPIPE, nullptr, &pipe_action) == 0 && pipe_action.sa_handler == SIG_IGN);
    ElasticGroup& group = **g;
    std::vector<float> v{1, 2};
    CHILD_CHECK(group.AllReduceSum(v).code() == StatusCode::kFailedPrecondition);
    CHILD_CHECK(group.Form(0, 1, 1).code() == StatusCode::kInvalidArgument);  // rank >= world
    CHILD_CHECK(!group.formed());
    CHILD_OK(group.Form(0, 0, 1));  // a world of one needs no peer
    CHILD_OK(group.AllReduceSum(v));
    CHILD_CHECK(v[0] == 1 && v[1] == 2);
    std::vector<uint8_t> b{7};
    CHILD_CHECK(group.Broadcast(b, 1).code() == StatusCode::kInvalidArgument);
    CHILD_CHECK(group.Form(0, 0, 1).code() == StatusCode::kInvalidArgument);  // reused generation
    CHILD_CHECK(group.formed() && group.generation() == 0);
    CHILD_OK(group.Form(1, 0, 1));
    CHILD_OK(group.Barrier());
    return 0;
  });
  auto st = Reap({child}, milliseconds(20000));
  EXPECT_TRUE(ExitedOk(st[0])) << Describe(st[0]);
}

TEST(ElasticGroupTest, ThreeRanksAllReduceAndBroadcast) {
  const int port = FreePort();
  pid_t store = SpawnStore(port);
  std::vector<pid_t> ranks;
  for (int r = 0; r < 3; ++r) {
    ranks.push_back(Spawn([port, r] {
      auto g = Connect(port);
      CHILD_OK(g->Form(0, r, 3));
      std::vector<float> flat = Contribution(r, 100000);
      CHILD_OK(g->AllReduceSum(flat));
      CHILD_CHECK(IsSumOverWorld(flat, 3));

      const std::vector<uint8_t> sent = Blob(100003, 5);
      std::vector<uint8_t> bytes = r == 1 ? sent : std::vector<uint8_t>{1, 2, 3};
      CHILD_OK(g->Broadcast(bytes, /*root=*/1));
      CHILD_CHECK(bytes == sent);
      std::vector<uint8_t> empty = r == 2 ? std::vector<uint8_t>{} : Blob(10, 1);
      CHILD_OK(g->Broadcast(empty, /*root=*/2));
      CHILD_CHECK(empty.empty());
      CHILD_OK(g->Barrier());
      return 0;
    }));
  }
  auto st = Reap(ranks, milliseconds(25000));
  KillAndReap(store);
  for (int r = 0; r < 3; ++r) EXPECT_TRUE(ExitedOk(st[r])) << "rank " << r << ": " << Describe(st[r]);
}

// One round of in-process shrink: rank 1 of 3 dies (or, with `freeze`, stops without
// closing its sockets), ranks 0 and 2 notice, re-form as generation 1 with ranks 0..1,
// and all-reduce again. Returns false on any failure.
bool ShrinkRound(bool freeze, std::vector<double>& detect_ms, std::vector<double>& pause_ms) {
  const int port = FreePort();
  Shared* sh = MapShared();
  pid_t store = SpawnStore(port);
  std::vector<pid_t> ranks;
  constexpr int kVictim = 1;
  for (int r = 0; r < 3; ++r) {
    ranks.push_back(Spawn([port, r, sh, freeze] {
      auto g = Connect(port);
      CHILD_OK(g->Form(0, r, 3));
      std::vector<float> flat = Contribution(r, 4096);
      CHILD_OK(g->AllReduceSum(flat));
      CHILD_CHECK(IsSumOverWorld(flat, 3));
      if (r == kVictim) {
        sh->t_fail_ns = NowNs();
        raise(freeze ? SIGSTOP : SIGKILL);
        return 0;  // only a frozen victim gets here, when the parent kills it
      }
      flat = Contribution(r, 4096);
      Status st = g->AllReduceSum(flat);
      const int64_t t_err = NowNs();
      CHILD_CHECK(st.code() == StatusCode::kUnavailable);
      CHILD_CHECK(st.message().find("generation 0") != std::string::npos);
      CHILD_CHECK(!g->formed());
      sh->t_err_ns[r] = t_err;

      const int new_rank = r < kVictim ? r : r - 1;
      CHILD_OK(g->Form(1, new_rank, 2));
      flat = Contribution(new_rank, 4096);
      CHILD_OK(g->AllReduceSum(flat));
      sh->t_ok_ns[r] = NowNs();
      CHILD_CHECK(IsSumOverWorld(flat, 2));
      return 0;
    }));
  }
  std::vector<int> st;
  if (freeze) {
    auto survivors = Reap({ranks[0], ranks[2]}, milliseconds(25000));
    st = {survivors[0], -1, survivors[1]};
    KillAndReap(ranks[kVictim]);
  } else {
    st = Reap(ranks, milliseconds(25000));
  }
  KillAndReap(store);
  bool ok = true;
  for (int r = 0; r < 3; ++r) {
    if (r == kVictim) {
      if (freeze) continue;
      ok &= st[r] != -1 && WIFSIGNALED(st[r]) && WTERMSIG(st[r]) == SIGKILL;
      EXPECT_TRUE(st[r] != -1 && WIFSIGNALED(st[r])) << "victim: " << Describe(st[r]);
      continue;
    }
    EXPECT_TRUE(ExitedOk(st[r])) << "survivor " << r << ": " << Describe(st[r]);
    if (!ExitedOk(st[r])) {
      ok = false;
      continue;
    }
    const int64_t detect = sh->t_err_ns[r] - sh->t_fail_ns;
    EXPECT_LE(detect, std::chrono::nanoseconds(kTimeout + milliseconds(1000)).count())
        << "survivor " << r;
    detect_ms.push_back(Ms(detect));
    pause_ms.push_back(Ms(sh->t_ok_ns[r] - sh->t_fail_ns));
  }
  munmap(sh, sizeof(Shared));
  return ok;
}

TEST(ElasticGroupTest, SurvivorsOfAKilledRankReformInProcess) {
  constexpr int kRounds = 5;
  std::vector<double> detect_ms, pause_ms;
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_TRUE(ShrinkRound(/*freeze=*/false, detect_ms, pause_ms)) << "round " << round;
  }
  std::printf("shrink 3->2, %d rounds x 2 survivors:\n  failure detected after ms:", kRounds);
  for (double d : detect_ms) std::printf(" %.1f", d);
  std::printf("\n  rescale pause (kill -> first OK all-reduce of gen 1) ms:");
  for (double p : pause_ms) std::printf(" %.1f", p);
  std::printf("\n  median detect %.1f ms, median pause %.1f ms\n", Median(detect_ms),
              Median(pause_ms));
}

// A stopped rank keeps its sockets open, so only the Gloo timeout reveals it; the
// first survivor to time out tears its group down, which fails the other one fast.
TEST(ElasticGroupTest, SurvivorsOfAFrozenRankFailAfterTheTimeoutAndReform) {
  std::vector<double> detect_ms, pause_ms;
  ASSERT_TRUE(ShrinkRound(/*freeze=*/true, detect_ms, pause_ms));
  std::printf("frozen rank (timeout %lld ms): detected after ms: %.1f %.1f, pause ms: %.1f %.1f\n",
              static_cast<long long>(kTimeout.count()), detect_ms[0], detect_ms[1], pause_ms[0],
              pause_ms[1]);
}

TEST(ElasticGroupTest, NewcomerJoinsAndReceivesState) {
  const int port = FreePort();
  Shared* sh = MapShared();
  pid_t store = SpawnStore(port);
  const std::vector<uint8_t> state = Blob(1 << 20, 42);  // the model state stand-in
  auto rank_body = [port, sh, &state](int r, bool newcomer) {
    auto g = Connect(port);
    if (!newcomer) {
      CHILD_OK(g->Form(0, r, 2));
      std::vector<float> flat = Contribution(r, 1000);
      CHILD_OK(g->AllReduceSum(flat));
      CHILD_CHECK(IsSumOverWorld(flat, 2));
      sh->gen0_done.fetch_add(1);
    }
    CHILD_OK(g->Form(1, r, 3));
    std::vector<uint8_t> bytes = r == 0 ? state : std::vector<uint8_t>{};
    CHILD_OK(g->Broadcast(bytes, /*root=*/0));
    sh->t_ok_ns[r] = NowNs();
    CHILD_CHECK(bytes == state);
    std::vector<float> flat = Contribution(r, 1000);
    CHILD_OK(g->AllReduceSum(flat));
    CHILD_CHECK(IsSumOverWorld(flat, 3));
    return 0;
  };
  std::vector<pid_t> ranks;
  for (int r = 0; r < 2; ++r) ranks.push_back(Spawn([&rank_body, r] { return rank_body(r, false); }));
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (sh->gen0_done.load() < 2 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(sh->gen0_done.load(), 2);
  sh->t_start_ns = NowNs();
  ranks.push_back(Spawn([&rank_body] { return rank_body(2, true); }));
  auto st = Reap(ranks, milliseconds(25000));
  KillAndReap(store);
  bool all_ok = true;
  for (int r = 0; r < 3; ++r) {
    EXPECT_TRUE(ExitedOk(st[r])) << "rank " << r << ": " << Describe(st[r]);
    all_ok &= ExitedOk(st[r]);
  }
  if (all_ok) {
    std::printf("grow 2->3: newcomer forked -> 1 MiB state broadcast done, ms: %.1f %.1f %.1f\n",
                Ms(sh->t_ok_ns[0] - sh->t_start_ns), Ms(sh->t_ok_ns[1] - sh->t_start_ns),
                Ms(sh->t_ok_ns[2] - sh->t_start_ns));
  }
  munmap(sh, sizeof(Shared));
}

}  // namespace
}  // namespace drover::train
