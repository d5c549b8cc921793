#include "sched/goodput_model.h"

#include <gtest/gtest.h>

#include <cmath>

namespace drover::sched {
namespace {

ThroughputParams Truth() {
  ThroughputParams t;
  t.a_grad = 0.02;
  t.b_grad = 0.002;
  t.a_local = 0.01;
  t.b_local = 0.002;
  t.a_node = 0.05;
  t.b_node = 0.01;
  t.gamma = 1.5;
  return t;
}

BatchLimits Fixed(double batch) {
  BatchLimits l;
  l.init_batch = l.max_batch = batch;
  l.min_local = 4;
  l.max_local = 64;
  return l;
}

//! A batch that may grow from `init` to `max`, `max_local` at most per micro-step.
BatchLimits Adaptive(double init, double max, double max_local) {
  BatchLimits l = Fixed(init);
  l.max_batch = max;
  l.max_local = max_local;
  l.adaptive = true;
  return l;
}

// gain(M) = (var + sqr) / (var / s + sqr), s = M / M0.
TEST(GoodputModelTest, BatchGainIsOneAtTheInitialBatchAndBoundedByTheScale) {
  const GradientNoise noise{1.0, 3.0};
  EXPECT_DOUBLE_EQ(BatchGain(noise, 64, 64), 1.0);
  EXPECT_DOUBLE_EQ(BatchGain(noise, 64, 128), 4.0 / (1.5 + 1.0));  // s = 2: 4 / 2.5 = 1.6
  EXPECT_DOUBLE_EQ(BatchGain({}, 64, 1024), 1.0);                   // unknown noise: no gain
  // All noise (sqr = 0): a batch twice as big is worth twice the steps.
  EXPECT_DOUBLE_EQ(BatchGain({0, 1}, 64, 128), 2.0);
}

// Measured at 128 with exponent 1, the variance at 256 is twice: var 6,
// s = 4 from M0 = 64: (6 + 1) / (6 / 4 + 1) = 2.8; at 64, half: var 1.5,
// s = 1: gain 1 still. With exponent 0 (the control) it is as measured.
TEST(GoodputModelTest, NoiseScalingCarriesTheVarianceToOtherBatches) {
  const GradientNoise noise{1.0, 3.0};
  EXPECT_DOUBLE_EQ(BatchGain(noise, 64, 256, {128, 1.0}), 7.0 / 2.5);
  EXPECT_DOUBLE_EQ(BatchGain(noise, 64, 256, {128, 0.0}), 4.0 / 1.75);
  EXPECT_DOUBLE_EQ(BatchGain(noise, 64, 128, {256, 1.0}), 2.5 / 1.75);  // var 1.5 at 128, s = 2
  EXPECT_DOUBLE_EQ(BatchGain(noise, 64, 64, {256, 1.0}), 1.0);
  EXPECT_DOUBLE_EQ(BatchGain(noise, 64, 256, {0, 1.0}), BatchGain(noise, 64, 256));
}

// Noise scale var/sqr = e^(epoch / 2) * batch^0.4: each epoch's level is
// taken out, so the slope is found whatever the drift over epochs.
TEST(NoiseGrowthFitTest, FindsTheSlopeWithinEpochsNotAcrossThem) {
  auto at = [](int epoch, double batch, double exponent) {
    return GradientNoise{1.0, std::exp(epoch / 2.0) * std::pow(batch, exponent)};
  };
  NoiseGrowthFit fit;
  EXPECT_EQ(fit.Exponent(), 0) << "nothing seen";
  // One batch per epoch, the batch growing with the epoch (as a job that
  // grows does): the drift would read as a steep slope; it is not counted.
  for (int e = 0; e < 4; ++e) fit.Observe(e, 64 << e, at(e, 64 << e, 0.4));
  EXPECT_EQ(fit.Exponent(), 0) << "no epoch has two batches";
  for (int e = 0; e < 4; ++e) fit.Observe(e, 32, at(e, 32, 0.4));
  EXPECT_NEAR(fit.Exponent(), 0.4, 1e-9);
  // Clamped: noise that falls with the batch, or grows faster than it.
  NoiseGrowthFit falls, steep;
  for (double b : {32.0, 256.0}) falls.Observe(0, b, at(0, b, -0.5)), steep.Observe(0, b, at(0, b, 2.0));
  EXPECT_EQ(falls.Exponent(), 0);
  EXPECT_EQ(steep.Exponent(), 1);
  // Bad input changes nothing.
  NoiseGrowthFit bad;
  bad.Observe(0, 32, at(0, 32, 0.4));
  for (double b : {0.0, -1.0, static_cast<double>(NAN)}) bad.Observe(0, b, at(0, 64, 0.4));
  bad.Observe(0, 64, {0, 1});
  bad.Observe(0, 64, {1, NAN});
  EXPECT_EQ(bad.Exponent(), 0);
  // Bounded: old epochs go first.
  NoiseGrowthFit many;
  for (int e = 0; e < 2 * static_cast<int>(NoiseGrowthFit::kMaxEpochs); ++e) {
    for (double b : {32.0, 64.0}) many.Observe(e, b, at(e, b, e < static_cast<int>(NoiseGrowthFit::kMaxEpochs) ? 1.0 : 0.25));
  }
  EXPECT_NEAR(many.Exponent(), 0.25, 1e-9) << "only the newest epochs are kept";
}

// A job measuring its noise at batch 64 picks a larger batch when the noise
// is known to grow with it: from its own steps at two batches in one epoch,
// or from its kind (SetNoiseGrowth). The control, no growth, stays smaller.
TEST(GoodputModelTest, NoiseThatGrowsWithTheBatchMakesLargerBatchesWorthMore) {
  const BatchLimits l = Adaptive(64, 4096, 1024);
  auto model = [&] {
    GoodputModel m(l);
    for (double b : {64.0, 128.0}) m.Observe({1, 1, b, PredictStepTime(Truth(), 1, 1, b)});
    return m;
  };
  const GradientNoise at64{1.0, 10.0}, at128{1.0, 10.0 * std::pow(2.0, 0.8)};
  GoodputModel flat = model();
  flat.ObserveNoise(at64, 64);
  GoodputModel own = model();
  own.ObserveNoise(at128, 128, 3);
  own.ObserveNoise(at64, 64, 3);
  EXPECT_NEAR(own.noise_scaling().exponent, 0.8, 1e-9);
  GoodputModel kind = model();
  kind.ObserveNoise(at64, 64);
  kind.SetNoiseGrowth(0.8);
  EXPECT_GT(own.Best(1, 1).global_batch, flat.Best(1, 1).global_batch);
  EXPECT_DOUBLE_EQ(kind.Best(1, 1).global_batch, own.Best(1, 1).global_batch);
  kind.SetNoiseGrowth(std::nullopt);  // back to its own fit: none
  EXPECT_DOUBLE_EQ(kind.Best(1, 1).global_batch, flat.Best(1, 1).global_batch);
}

// The noise of a kind's jobs pools: two jobs at different batches in one
// epoch show the growth neither shows alone.
TEST(PriorBookTest, PoolsTheNoiseOfAKindsJobs) {
  PriorBook book;
  book.ObserveNoise("cifar10", 5, 128, {1.0, 10.0});
  EXPECT_EQ(book.NoiseGrowth("cifar10"), 0);
  book.ObserveNoise("cifar10", 5, 512, {1.0, 10.0 * std::pow(4.0, 0.3)});
  EXPECT_NEAR(book.NoiseGrowth("cifar10"), 0.3, 1e-9);
  book.ObserveNoise("bert", 5, 1024, {1.0, 1.0});
  EXPECT_EQ(book.NoiseGrowth("bert"), 0) << "kinds do not mix";
  EXPECT_EQ(book.NoiseGrowth("imagenet"), 0);
}

// Gradients made of a true gradient |G|^2 = 4 plus per-sample noise of
// trace 64: over b = 16 samples |g_i|^2 = 4 + 64/16 = 8, over B = 64
// |g|^2 = 4 + 1 = 5; the estimate gives back |G|^2 = 4 and var = 64 / M0.
TEST(GoodputModelTest, EstimateNoiseInvertsTheTwoBatchSizes) {
  const GradientNoise n = EstimateNoise(8, 5, 16, 64, 32);
  EXPECT_NEAR(n.sqr, 4, 1e-9);
  EXPECT_NEAR(n.var, 2, 1e-9);  // 64 / 32
  EXPECT_FALSE(EstimateNoise(8, 5, 64, 64, 32).known()) << "one worker: nothing to compare";
  EXPECT_FALSE(EstimateNoise(NAN, 5, 16, 64, 32).known());
  // The control: equal norms mean no noise at all.
  EXPECT_EQ(EstimateNoise(5, 5, 16, 64, 32).var, 0);
}

// A fixed batch of 256 on 2 replicas is 128 per replica: over max_local 64,
// so it takes one accumulation step of 64.
TEST(GoodputModelTest, AFixedBatchIsSplitIntoTheFewestMicroStepsThatFit) {
  const BatchChoice c = BestBatch(Truth(), {}, Fixed(256), 1, 2);
  ASSERT_TRUE(c.feasible);
  EXPECT_EQ(c.local_batch, 64);
  EXPECT_EQ(c.accum_steps, 1);
  EXPECT_EQ(c.global_batch, 256);
  // Too many replicas for the batch: 256 / 128 = 2 < min_local 4.
  EXPECT_FALSE(BestBatch(Truth(), {}, Fixed(256), 32, 128).feasible);
}

// With much gradient noise a bigger batch is worth nearly its size, so an
// adaptive job takes it (a bigger micro-batch amortises the fixed compute
// time); with none it is worth nothing, so it stays at M0.
TEST(GoodputModelTest, AnAdaptiveJobGrowsItsBatchOnlyWhenTheNoiseSaysItPays) {
  const BatchLimits l = Adaptive(64, 4096, 1024);
  const BatchChoice noisy = BestBatch(Truth(), {0.01, 10.0}, l, 1, 1);
  const BatchChoice quiet = BestBatch(Truth(), {10.0, 0.01}, l, 1, 1);
  EXPECT_GT(noisy.global_batch, 256);
  EXPECT_EQ(quiet.global_batch, 64);
  EXPECT_GT(noisy.goodput, quiet.goodput);
}

// A job seen on 1 and 2 replicas of one node gets a profile to 8: what it
// has run on from the fit, the rest optimistic about what it has not seen.
TEST(GoodputModelTest, TheProfileFollowsTheFitAndIsEmptyUntilAStepIsSeen) {
  GoodputModel m(Fixed(128));
  EXPECT_TRUE(m.Profile(8, 4).empty()) << "nothing seen: unknown";
  const ThroughputParams t = Truth();
  for (int k : {1, 2}) {
    const double local = std::min(64.0, 128.0 / k);
    m.Observe({1, k, local, PredictStepTime(t, 1, k, local)});
  }
  const std::vector<double> p = m.Profile(8, 4);
  ASSERT_EQ(p.size(), 9u);
  EXPECT_EQ(p[0], 0.0);
  EXPECT_EQ(p[1], 1.0);
  // The truth's own speedup at 2 (seen); 4 (not seen, sync assumed flat) is higher.
  const double base = BestBatch(t, {}, Fixed(128), 1, 1).goodput;
  EXPECT_NEAR(p[2], BestBatch(t, {}, Fixed(128), 1, 2).goodput / base, 0.02 * p[2]);
  EXPECT_GT(p[4], p[2]);
  EXPECT_EQ(m.MaxReplicasSeen(), 2);
  EXPECT_EQ(m.points(), 2u);
}

// Of two jobs seen at the same sizes, the one whose sync is costly gets the
// flatter profile; the control, the same job twice, gets the same profile.
TEST(GoodputModelTest, AJobThatSyncsSlowlyHasTheFlatterProfile) {
  ThroughputParams fast = Truth(), slow = Truth();
  slow.a_local = 0.2;
  slow.b_local = 0.05;
  GoodputModel a(Fixed(256)), b(Fixed(256)), c(Fixed(256));
  for (int k : {1, 2, 4}) {
    const double local = std::min(64.0, 256.0 / k);
    a.Observe({1, k, local, PredictStepTime(fast, 1, k, local)});
    b.Observe({1, k, local, PredictStepTime(slow, 1, k, local)});
    c.Observe({1, k, local, PredictStepTime(fast, 1, k, local)});
  }
  const auto pa = a.Profile(4, 4), pb = b.Profile(4, 4), pc = c.Profile(4, 4);
  EXPECT_GT(pa[4], pb[4] * 1.2);
  EXPECT_EQ(pa, pc);
}

TEST(GoodputModelTest, BadObservationsAreIgnoredAndPointsRoundTrip) {
  GoodputModel m(Fixed(64));
  m.Observe({1, 1, 64, 0});
  m.Observe({0, 1, 64, 0.1});
  m.Observe({1, 1, -3, 0.1});
  m.ObserveNoise({-1, 2});
  m.ObserveNoise({NAN, 2});
  EXPECT_EQ(m.points(), 0u);
  EXPECT_FALSE(m.noise().known());
  m.Observe({1, 1, 64, 0.2});
  m.Observe({1, 1, 64, 0.4});
  m.Observe({1, 2, 32, 0.15});
  m.ObserveNoise({1, 2});
  ASSERT_EQ(m.points(), 2u);
  EXPECT_EQ(m.steps(), 3);
  GoodputModel back(Fixed(64));
  back.Restore(m.Points(), m.noise());
  EXPECT_EQ(back.steps(), 3);
  EXPECT_EQ(back.MaxReplicasSeen(), 2);
  EXPECT_EQ(back.Profile(4, 4), m.Profile(4, 4));
  GoodputModel other(Fixed(64));
  other.Restore({{StepObservation{1, 1, 64, 0.3}, 2}}, {});
  EXPECT_NE(other.Profile(4, 4), m.Profile(4, 4)) << "the control: other points, another profile";
}

}  // namespace
}  // namespace drover::sched

namespace drover::sched {
namespace {

// Profile() answers from a cache while nothing changed, and not after: a new
// point or new noise gives a new profile (the control: the same noise again
// gives the same one).
TEST(GoodputModelTest, TheProfileCacheFollowsNewPointsAndNoise) {
  const BatchLimits l = Adaptive(64, 1024, 1024);
  GoodputModel m(l);
  const ThroughputParams t = Truth();
  m.Observe({1, 1, 64, PredictStepTime(t, 1, 1, 64), PredictStepTime(t, 1, 1, 64)});
  m.Observe({1, 2, 64, PredictStepTime(t, 1, 2, 64), 0.02 + 0.002 * 64});
  m.ObserveNoise({10, 1});
  const std::vector<double> quiet = m.Profile(4, 4);
  m.ObserveNoise({10, 1});
  EXPECT_EQ(m.Profile(4, 4), quiet);
  m.ObserveNoise({0.1, 100});
  const std::vector<double> noisy = m.Profile(4, 4);
  EXPECT_NE(noisy, quiet);
  m.Observe({1, 4, 64, 10 * PredictStepTime(t, 1, 4, 64), 0.02 + 0.002 * 64});
  EXPECT_NE(m.Profile(4, 4), noisy);
}

}  // namespace
}  // namespace drover::sched

namespace drover::sched {
namespace {

TEST(ComputeCorrectionTest, ExactWhereMeasuredInterpolatedBetweenFlatBeyond) {
  const ComputeCorrection c({{64, 1.5}, {16, 1.0}, {0, 3}, {32, NAN}});
  EXPECT_FALSE(c.empty());
  EXPECT_DOUBLE_EQ(c.At(16), 1.0);
  EXPECT_DOUBLE_EQ(c.At(64), 1.5);
  EXPECT_DOUBLE_EQ(c.At(8), 1.0);
  EXPECT_DOUBLE_EQ(c.At(256), 1.5);
  EXPECT_NEAR(c.At(32), std::sqrt(1.5), 1e-12) << "halfway in log m, halfway in log ratio";
  EXPECT_EQ(ComputeCorrection().At(32), 1.0);
  EXPECT_EQ(c.batches(), (std::vector<double>{16, 64}));
}

// A job whose compute bends at large micro-batches (memory pressure: 128
// samples take 1.5x what the affine form says) has measured 32, 64 and 128.
// Its fit is affine, so without the correction it would run its batch of
// 128 at once; with it, it accumulates 2 x 64. The control: a job whose
// compute is affine keeps 128 at once.
TEST(GoodputModelTest, AJobIsNotSteeredToALocalBatchItsOwnStepsShowedSlow) {
  const BatchLimits l = Adaptive(128, 256, 128);
  auto run = [&](double bend) {
    GoodputModel m(l);
    const ThroughputParams t = Truth();
    for (double local : {32.0, 64.0, 128.0}) {
      double compute = ComputeTime(t, local) * (local > 64 ? bend : 1.0);
      m.Observe({1, 1, local, compute, compute});
    }
    return m.Best(1, 1);
  };
  const BatchChoice bent = run(1.5), affine = run(1.0);
  EXPECT_EQ(bent.local_batch, 64);
  EXPECT_EQ(bent.accum_steps, 1);
  EXPECT_EQ(affine.local_batch, 128);
  EXPECT_EQ(affine.accum_steps, 0);
}

// Sync fitted as linear over 2..4 replicas is not extrapolated past 4: the
// profile at 16 is what 4's sync with 16's compute gives, above what the
// linear growth would leave. The control: a job that has seen 16 sync
// slowly keeps its measured, flatter profile.
TEST(GoodputModelTest, SyncPastTheMostReplicasSeenIsWhatItWasThere) {
  ThroughputParams t = Truth();
  t.b_node = 0.03;
  const BatchLimits l = Adaptive(64, 4096, 4096);
  auto seen_up_to = [&](int most) {
    GoodputModel m(l);
    for (auto [nodes, replicas] : {std::pair{1, 1}, {1, 2}, {1, 4}, {2, 3}, {2, 4}, {4, most}}) {
      for (double local : {32.0, 64.0}) m.Observe({nodes, replicas, local, PredictStepTime(t, nodes, replicas, local)});
    }
    m.ObserveNoise({1, 50});
    return m.Profile(16, 4);
  };
  const std::vector<double> short_seen = seen_up_to(4), long_seen = seen_up_to(16);
  EXPECT_GT(short_seen[16], long_seen[16] * 1.05);
  const double linear = BestBatch(t, {1, 50}, l, 4, 16).goodput / BestBatch(t, {1, 50}, l, 1, 1).goodput;
  EXPECT_NEAR(long_seen[16] / linear, 1.0, 0.05) << "seen at 16, the linear sync stands";
}

// A placement that syncs far slower than the form allows (as YOLOv3 does on
// 2 nodes in Pollux's traces) is judged by what the job measured there, not
// by the fit, which the other placements hold near the form. The controls:
// the fit alone predicts a much faster step there, and placements not run
// (or run on one replica) have no measured sync.
TEST(GoodputModelTest, SyncOnAPlacementRunIsWhatWasMeasuredThere) {
  const ThroughputParams t = Truth();
  const BatchLimits l = Fixed(256);
  GoodputModel m(l);
  const double slow_sync = 3 * SyncTime(t, 2, 8);
  double slow_step = 0;
  for (auto [nodes, replicas] : {std::pair{1, 1}, {1, 2}, {1, 4}, {2, 5}, {2, 6}, {3, 12}, {4, 16}, {2, 8}}) {
    const double local = 256.0 / replicas, grad = ComputeTime(t, local);
    const double sync = nodes == 2 && replicas == 8 ? slow_sync : SyncTime(t, nodes, replicas);
    const double step = CombineStep(t, grad, sync);
    if (replicas == 8) slow_step = step;
    m.Observe({nodes, replicas, local, step, grad});
  }
  ASSERT_TRUE(m.MeasuredSync(2, 8).has_value());
  EXPECT_NEAR(*m.MeasuredSync(2, 8) / slow_sync, 1.0, 0.1);
  EXPECT_NEAR(m.Best(2, 8).step_time / slow_step, 1.0, 0.05) << "the measured step";
  const double fitted = BestBatch(m.Params(), {}, l, 2, 8).step_time;
  EXPECT_LT(fitted, 0.85 * slow_step) << "the control: the fit alone thinks it fast";
  EXPECT_FALSE(m.MeasuredSync(2, 7).has_value());
  EXPECT_FALSE(m.MeasuredSync(1, 1).has_value());
  const std::vector<double> p = m.Profile(16, 4);
  const double fit_only = BestBatch(m.Params(), {}, l, 2, 8).goodput / m.Best(1, 1).goodput;
  EXPECT_LT(p[8], 0.85 * fit_only) << "the profile has the slow placement slow";
  EXPECT_LT(p[8], p[6]);
}

// A prior learned from an earlier job fills in what this job has not seen:
// it has a profile before its first step, and its first steps, all on one
// node, leave the cross-node sync where the earlier job measured it (slow:
// the profile falls past one node). The control, a job with a generic prior,
// guesses cross-node sync as cheap as within a node.
TEST(GoodputModelTest, ALearnedPriorFillsInWhatTheJobHasNotSeen) {
  ThroughputParams t = Truth();
  t.a_node = 0.5;
  const BatchLimits l = Adaptive(64, 1024, 1024);
  GoodputModel earlier(l);
  EXPECT_FALSE(earlier.Informative());
  for (auto [nodes, replicas] : {std::pair{1, 1}, {1, 2}, {1, 4}, {2, 8}}) {
    earlier.Observe({nodes, replicas, 64, PredictStepTime(t, nodes, replicas, 64)});
  }
  EXPECT_TRUE(earlier.Informative());
  PriorBook book;
  EXPECT_EQ(book.Find("resnet"), nullptr);
  GoodputModel thin(l);
  thin.Observe({1, 1, 64, PredictStepTime(t, 1, 1, 64)});
  book.Offer("resnet", thin);
  EXPECT_EQ(book.Find("resnet"), nullptr) << "one point is not enough to start another job from";
  book.Offer("resnet", earlier);
  ASSERT_NE(book.Find("resnet"), nullptr);
  EXPECT_EQ(book.Find("bert"), nullptr);

  GoodputModel informed(l, *book.Find("resnet"), /*learned_prior=*/true), generic(l);
  EXPECT_EQ(informed.Profile(8, 4).size(), 9u) << "a profile before any step";
  EXPECT_TRUE(generic.Profile(8, 4).empty());
  for (int k : {1, 2, 4}) {
    informed.Observe({1, k, 64, PredictStepTime(t, 1, k, 64)});
    generic.Observe({1, k, 64, PredictStepTime(t, 1, k, 64)});
  }
  const std::vector<double> pi = informed.Profile(8, 4), pg = generic.Profile(8, 4);
  EXPECT_LT(pi[8], pi[4]) << "past one node, the earlier job's slow sync";
  EXPECT_GT(pg[8], pg[4]) << "the control: a generic prior guesses it cheap";
}

}  // namespace
}  // namespace drover::sched
