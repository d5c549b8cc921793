#include "serve/autoscaler.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace drover::serve {
namespace {

constexpr int64_t kSecond = 1000;

Observation Load(int64_t at_ms, double in_flight) {
  Observation o;
  o.at_ms = at_ms;
  o.in_flight = in_flight;
  o.requests_per_s = in_flight > 0 ? 1 : 0;
  return o;
}

// As the server runs it: each second observe that second's load, decide, and
// apply the decision. Returns the replica count after each second.
std::vector<int> Drive(Autoscaler& a, int replicas, const std::vector<double>& load_per_second,
                       int64_t start_s = 0) {
  std::vector<int> counts;
  for (size_t i = 0; i < load_per_second.size(); ++i) {
    const int64_t now = (start_s + static_cast<int64_t>(i)) * kSecond;
    a.Observe(Load(now, load_per_second[i]));
    replicas = a.Decide(now, replicas).desired;
    counts.push_back(replicas);
  }
  return counts;
}

int Changes(const std::vector<int>& counts, int start) {
  int changes = 0;
  for (int c : counts) {
    changes += c != start;
    start = c;
  }
  return changes;
}

// No delays: each decision follows the load of one window at once.
AutoscalePolicy Immediate(int min, int max) {
  AutoscalePolicy p;
  p.min_replicas = min;
  p.max_replicas = max;
  p.target_in_flight = 8;
  p.window_ms = kSecond;
  p.upscale_delay_ms = 0;
  p.downscale_delay_ms = 0;
  return p;
}

TEST(AutoscalerTest, DesiredIsTheCeilingOfLoadOverTargetWithinTheBounds) {
  struct Case {
    double load;
    int min, max, current;
    int want;
  };
  const Case cases[] = {
      {0, 0, 4, 1, 1},       // ceil(0 / 8) = 0, but without scale to zero at least 1
      {8, 0, 4, 1, 1},       // 8 / 8 = 1
      {8.5, 0, 4, 1, 2},     // ceil(1.06) = 2
      {24, 0, 4, 2, 3},      // exactly 3, not 4 by rounding
      {31.5, 0, 4, 2, 4},    // ceil(3.94) = 4
      {1000, 0, 4, 2, 4},    // 125 wanted, max 4
      {3, 2, 4, 3, 2},       // 1 wanted, min 2
      {200, 1, 64, 64, 25},  // 25 wanted: down at once without a delay
  };
  for (const Case& c : cases) {
    Autoscaler a(Immediate(c.min, c.max));
    a.Observe(Load(0, c.load));
    AutoscaleDecision d = a.Decide(0, c.current);
    EXPECT_EQ(d.desired, c.want) << "load " << c.load << ": " << d.reason;
    EXPECT_EQ(d.changed, c.want != c.current) << "load " << c.load;
  }
}

TEST(AutoscalerTest, LoadIsTheMeanOverTheWindow) {
  AutoscalePolicy p = Immediate(0, 10);
  p.window_ms = 10 * kSecond;
  Autoscaler a(p);
  a.Observe(Load(5 * kSecond, 0));
  a.Observe(Load(0, 40));  // out of order: still counted
  // At 9 s both are in (-1 s, 9 s]: mean (40 + 0) / 2 = 20, ceil(20 / 8) = 3.
  EXPECT_EQ(a.Decide(9 * kSecond, 5).desired, 3);
  // At 10 s the window is (0 s, 10 s]: only the 0 at 5 s, so 1.
  EXPECT_EQ(a.Decide(10 * kSecond, 3).desired, 1);
  EXPECT_EQ(a.observations_held(), 1u);
}

TEST(AutoscalerTest, ObservationsOutOfTheWindowAreDropped) {
  AutoscalePolicy p = Immediate(0, 4);
  p.window_ms = kSecond;
  Autoscaler a(p);
  for (int64_t t = 0; t < 100 * kSecond; t += 10) a.Observe(Load(t, 1));
  // One observation every 10 ms; those in (98.99 s, 99.99 s] are 100.
  EXPECT_EQ(a.observations_held(), 100u);
  a.Observe(Load(50 * kSecond, 1000));  // older than the window: ignored
  EXPECT_EQ(a.observations_held(), 100u);
  EXPECT_EQ(a.Decide(100 * kSecond, 1).desired, 1);
  // Nothing reported for a while: nothing held, and no load.
  EXPECT_EQ(a.Decide(200 * kSecond, 1).desired, 1);
  EXPECT_EQ(a.observations_held(), 0u);
}

TEST(AutoscalerTest, ColdStartDoesNotWaitForTheUpscaleDelay) {
  struct Case {
    int held;
    int64_t upscale_delay_ms;
    int want;
  };
  const Case cases[] = {
      {3, 60 * kSecond, 1},  // at once to max(1, min 0), not after 60 s
      {40, 60 * kSecond, 1}, // more only after the delay
      {40, 0, 5},            // no delay: straight to ceil(40 / 8)
  };
  for (const Case& c : cases) {
    AutoscalePolicy p = Immediate(0, 8);
    p.upscale_delay_ms = c.upscale_delay_ms;
    p.scale_to_zero_after_ms = 60 * kSecond;
    Autoscaler a(p);
    AutoscaleDecision idle = a.Decide(0, 0);
    EXPECT_EQ(idle.desired, 0);
    EXPECT_EQ(idle.cause, ScaleCause::kIdleAtZero);
    Observation o;
    o.at_ms = kSecond;
    o.held = c.held;
    a.Observe(o);
    AutoscaleDecision d = a.Decide(kSecond, 0);
    EXPECT_EQ(d.desired, c.want) << c.held << " held: " << d.reason;
    EXPECT_EQ(d.cause, ScaleCause::kColdStart);
    EXPECT_TRUE(d.changed);
  }
}

TEST(AutoscalerTest, ScaleUpWaitsUntilTheHigherCountWasWantedForTheUpscaleDelay) {
  AutoscalePolicy p = Immediate(1, 8);
  p.upscale_delay_ms = 10 * kSecond;
  struct Case {
    const char* what;
    std::vector<double> load;  // one a second from 0 s
    std::vector<int> want;     // replicas after each second, starting at 1
  };
  const std::vector<double> high(12, 32);  // ceil(32 / 8) = 4
  const Case cases[] = {
      {"steady high load: 4 wanted since 0 s, granted at 10 s", high, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 4}},
      {"a dip at 3 s restarts the wait: granted at 14 s",
       {32, 32, 32, 8, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32},
       {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4}},
      {"2 wanted at 3 s: at least 2 since 0 s gives 2 at 10 s, and 4 since 4 s gives 4 at 14 s",
       {32, 32, 32, 16, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32},
       {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4}},
  };
  for (const Case& c : cases) {
    Autoscaler a(p);
    EXPECT_EQ(Drive(a, 1, c.load), c.want) << c.what;
  }
}

TEST(AutoscalerTest, ScaleDownGoesToTheHighestCountWantedOverTheDownscaleDelay) {
  AutoscalePolicy p = Immediate(1, 8);
  p.downscale_delay_ms = 5 * kSecond;
  struct Case {
    const char* what;
    std::vector<double> load;
    std::vector<int> want;  // starting at 1
  };
  const Case cases[] = {
      // 8 wanted at 0 s, 1 from 1 s: at 5 s the window [0 s, 5 s] still holds 8; at 6 s, [1 s, 6 s] only 1.
      {"a spike", {64, 8, 8, 8, 8, 8, 8, 8}, {8, 8, 8, 8, 8, 8, 1, 1}},
      // 8 at 0 s, 4 at 1 s, then 1: [1 s, 6 s] has 4 at most, [2 s, 7 s] 1.
      {"a spike that ebbs", {64, 32, 8, 8, 8, 8, 8, 8, 8}, {8, 8, 8, 8, 8, 8, 4, 1, 1}},
      // A second spike at 3 s holds 8 until 9 s.
      {"two spikes", {64, 8, 8, 64, 8, 8, 8, 8, 8, 8}, {8, 8, 8, 8, 8, 8, 8, 8, 8, 1}},
  };
  for (const Case& c : cases) {
    Autoscaler a(p);
    EXPECT_EQ(Drive(a, 1, c.load), c.want) << c.what;
  }
}

// A load hovering around a threshold: the replica count may rise once to the
// peaks' count, and must then hold instead of following each trough.
std::vector<double> Oscillating(double low, double high, int half_period_s, int seconds) {
  std::vector<double> load;
  for (int s = 0; s < seconds; ++s) load.push_back((s / half_period_s) % 2 == 0 ? low : high);
  return load;
}

TEST(AutoscalerTest, LoadOscillatingAroundAThresholdChangesTheCountAtMostOnce) {
  struct Case {
    const char* what;
    std::vector<double> load;
    int64_t window_ms;
    int start;
  };
  const Case cases[] = {
      {"15/17 each second, 1 s window (2 or 3 wanted)", Oscillating(15, 17, 1, 300), kSecond, 2},
      {"7/9 each second, from 1 replica", Oscillating(7, 9, 1, 300), kSecond, 1},
      {"12/20 every 10 s, 1 s window", Oscillating(12, 20, 10, 300), kSecond, 2},
      {"4/60 every 20 s (shorter than the 30 s delay)", Oscillating(4, 60, 20, 300), kSecond, 1},
      {"15/17 each second, 10 s window", Oscillating(15, 17, 1, 300), 10 * kSecond, 2},
      {"7/16.5 every 5 s, 10 s window", Oscillating(7, 16.5, 5, 300), 10 * kSecond, 2},
  };
  for (const Case& c : cases) {
    AutoscalePolicy p = Immediate(1, 16);
    p.window_ms = c.window_ms;
    p.downscale_delay_ms = 30 * kSecond;
    Autoscaler a(p);
    std::vector<int> counts = Drive(a, c.start, c.load);
    EXPECT_LE(Changes(counts, c.start), 1) << c.what;
  }
}

// The negative control: without a downscale delay the same loads do flap.
TEST(AutoscalerTest, WithoutADownscaleDelayAnOscillatingLoadFlaps) {
  AutoscalePolicy p = Immediate(1, 16);
  p.downscale_delay_ms = 0;
  Autoscaler each_second(p);
  // 2 at 15, 3 at 17: a change every second after the first.
  EXPECT_EQ(Changes(Drive(each_second, 2, Oscillating(15, 17, 1, 300)), 2), 299);
  Autoscaler every_20s(p);
  // 1 at 4, 8 at 60: a change every 20 s.
  EXPECT_EQ(Changes(Drive(every_20s, 1, Oscillating(4, 60, 20, 300)), 1), 14);
}

TEST(AutoscalerTest, ScalesToZeroOnlyAfterNoRequestsForTheGracePeriod) {
  AutoscalePolicy p = Immediate(0, 4);
  p.window_ms = 10 * kSecond;
  p.downscale_delay_ms = 30 * kSecond;
  p.scale_to_zero_after_ms = 60 * kSecond;
  Autoscaler a(p);
  std::vector<double> load(200, 0);
  load[20] = 1;  // the last request, at 20 s
  std::vector<int> counts = Drive(a, 1, load);
  // Idle from 21 s on, but 60 s counts from the last request: 0 at 80 s.
  EXPECT_EQ(counts[79], 1);
  EXPECT_EQ(counts[80], 0);
  EXPECT_EQ(Changes(counts, 1), 1);
  // At zero it stays there while nothing comes, and a request brings it back.
  EXPECT_EQ(a.Decide(300 * kSecond, 0).cause, ScaleCause::kIdleAtZero);
  a.Observe(Load(301 * kSecond, 1));
  EXPECT_EQ(a.Decide(301 * kSecond, 0).desired, 1);
  // And that request restarts the grace period: 0 again at 361 s, not before.
  std::vector<int> later = Drive(a, 1, std::vector<double>(60, 0), 302);
  EXPECT_EQ(later[360 - 302], 1);
  EXPECT_EQ(later[361 - 302], 0);
}

// The control: with scale_to_zero_after 0 the same idle deployment keeps one replica.
TEST(AutoscalerTest, WithoutScaleToZeroAnIdleDeploymentKeepsOneReplica) {
  AutoscalePolicy p = Immediate(0, 4);
  p.scale_to_zero_after_ms = 0;
  Autoscaler a(p);
  std::vector<int> counts = Drive(a, 1, std::vector<double>(200, 0));
  EXPECT_EQ(Changes(counts, 1), 0);
  // A deployment created at 0 goes to 1 at once.
  AutoscaleDecision d = a.Decide(200 * kSecond, 0);
  EXPECT_EQ(d.desired, 1);
  EXPECT_EQ(d.cause, ScaleCause::kIntoBounds);
}

TEST(AutoscalerTest, CountsOutsideTheBoundsMoveIntoThemAtOnce) {
  struct Case {
    int min, max, current;
    int want;
  };
  const Case cases[] = {
      {0, 4, 6, 4},  // despite the 30 s downscale delay
      {2, 4, 0, 2},  // despite the 60 s upscale delay, and without a request
      {2, 4, 1, 2},
  };
  for (const Case& c : cases) {
    AutoscalePolicy p = Immediate(c.min, c.max);
    p.upscale_delay_ms = 60 * kSecond;
    p.downscale_delay_ms = 30 * kSecond;
    Autoscaler a(p);
    AutoscaleDecision d = a.Decide(0, c.current);
    EXPECT_EQ(d.desired, c.want) << c.current;
    EXPECT_EQ(d.cause, ScaleCause::kIntoBounds) << c.current;
  }
}

TEST(AutoscalerTest, ANewAutoscalerScalesDownOnlyAfterWatchingAFullDelay) {
  AutoscalePolicy p = Immediate(1, 4);
  p.downscale_delay_ms = 30 * kSecond;
  Autoscaler a(p);
  std::vector<int> counts = Drive(a, 3, std::vector<double>(32, 0));
  // 1 wanted from 0 s; the window [0 s, 30 s] is first covered at 30 s.
  EXPECT_EQ(counts[29], 3);
  EXPECT_EQ(counts[30], 1);
  AutoscaleDecision early = Autoscaler(p).Decide(0, 3);
  EXPECT_EQ(early.cause, ScaleCause::kWaitingToScaleDown);
  EXPECT_EQ(early.reason,
            "0 requests in flight or waiting (mean over 1s) need 0 replicas at 8 per replica, at least 1 kept, "
            "but the load has been watched for less than 30s: staying at 3");
}

TEST(AutoscalerTest, ReasonsAreSentences) {
  struct Case {
    std::vector<double> load;  // one a second from 0 s
    int current;               // before the last second's decision
    int64_t upscale_delay_ms, downscale_delay_ms;
    ScaleCause cause;
    std::string reason;
  };
  const Case cases[] = {
      {{31.5}, 2, 0, 0, ScaleCause::kScaleUp,
       "31.5 requests in flight or waiting (mean over 1s) need 4 replicas at 8 per replica: 2 -> 4"},
      {{1000}, 2, 0, 0, ScaleCause::kScaleUp,
       "1000 requests in flight or waiting (mean over 1s) need 125 replicas at 8 per replica, at most 4 allowed: 2 -> 4"},
      {{12}, 2, 0, 0, ScaleCause::kSteady,
       "12 requests in flight or waiting (mean over 1s) need 2 replicas at 8 per replica: staying at 2"},
      {{32, 32, 32}, 2, 2 * kSecond, 0, ScaleCause::kScaleUp,
       "32 requests in flight or waiting (mean over 1s) need 4 replicas at 8 per replica, for the last 2s: 2 -> 4"},
      {{32, 32}, 2, 2 * kSecond, 0, ScaleCause::kWaitingToScaleUp,
       "32 requests in flight or waiting (mean over 1s) need 4 replicas at 8 per replica; scaling up once that has "
       "held for 2s: staying at 2"},
      {{32, 4}, 4, 0, 1 * kSecond, ScaleCause::kWaitingToScaleDown,
       "4 requests in flight or waiting (mean over 1s) need 1 replica at 8 per replica, but 4 were needed within the "
       "last 1s: staying at 4"},
      {{16, 4, 4}, 4, 0, 1 * kSecond, ScaleCause::kScaleDown,
       "4 requests in flight or waiting (mean over 1s) need 1 replica at 8 per replica, for the last 1s: 4 -> 1"},
      {{32, 16, 4}, 4, 0, 1 * kSecond, ScaleCause::kScaleDown,
       "4 requests in flight or waiting (mean over 1s) need 1 replica at 8 per replica, and no more than 2 within "
       "the last 1s: 4 -> 2"},
  };
  for (const Case& c : cases) {
    AutoscalePolicy p = Immediate(1, 4);
    p.upscale_delay_ms = c.upscale_delay_ms;
    p.downscale_delay_ms = c.downscale_delay_ms;
    Autoscaler a(p);
    AutoscaleDecision d;
    for (size_t i = 0; i < c.load.size(); ++i) {
      a.Observe(Load(static_cast<int64_t>(i) * kSecond, c.load[i]));
      d = a.Decide(static_cast<int64_t>(i) * kSecond, c.current);
    }
    EXPECT_EQ(d.cause, c.cause) << c.reason << "\n got: " << ScaleCauseName(d.cause);
    EXPECT_EQ(d.reason, c.reason);
  }
}

TEST(AutoscalerTest, ColdStartAndScaleToZeroReasons) {
  AutoscalePolicy p = Immediate(0, 4);
  p.scale_to_zero_after_ms = 5 * 60 * kSecond;
  Autoscaler a(p);
  Observation o;
  o.held = 3;
  a.Observe(o);
  EXPECT_EQ(a.Decide(0, 0).reason, "cold start: 3 requests are waiting for a replica: 0 -> 1");
  EXPECT_EQ(a.Decide(5 * 60 * kSecond, 1).reason, "no requests for 5m: 1 -> 0");
  EXPECT_EQ(a.Decide(5 * 60 * kSecond, 0).reason, "no requests: staying at 0");
}

TEST(AutoscalerTest, ValidateNamesTheBadField) {
  ASSERT_TRUE(Validate(AutoscalePolicy{}).ok());  // the control: the defaults are valid
  struct Case {
    void (*change)(AutoscalePolicy&);
    std::string error;
  };
  const Case cases[] = {
      {[](AutoscalePolicy& p) { p.min_replicas = -1; }, "min_replicas: -1 is negative"},
      {[](AutoscalePolicy& p) { p.max_replicas = 0; }, "max_replicas: 0 must be at least 1"},
      {[](AutoscalePolicy& p) { p.min_replicas = 5, p.max_replicas = 4; }, "min_replicas: 5 is above max_replicas 4"},
      {[](AutoscalePolicy& p) { p.target_in_flight = 0; }, "target_in_flight: expected a number above 0, got 0"},
      {[](AutoscalePolicy& p) { p.target_in_flight = -2; }, "target_in_flight: expected a number above 0, got -2"},
      {[](AutoscalePolicy& p) { p.window_ms = 0; }, "window_ms: 0 must be at least 1"},
      {[](AutoscalePolicy& p) { p.upscale_delay_ms = -5; }, "upscale_delay_ms: -5 is negative"},
      {[](AutoscalePolicy& p) { p.downscale_delay_ms = -1; }, "downscale_delay_ms: -1 is negative"},
      {[](AutoscalePolicy& p) { p.scale_to_zero_after_ms = -1; }, "scale_to_zero_after_ms: -1 is negative"},
      {[](AutoscalePolicy& p) { p.min_replicas = 1, p.scale_to_zero_after_ms = 1; },
       "scale_to_zero_after_ms: needs min_replicas 0, not 1"},
  };
  for (const Case& c : cases) {
    AutoscalePolicy p;
    p.max_replicas = 4;
    c.change(p);
    Status s = Validate(p);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.error;
    EXPECT_EQ(s.message(), c.error);
  }
}

}  // namespace
}  // namespace drover::serve
