// The inference autoscaler: a deployment's load in, a desired replica count out.
//
// In the spirit of Knative's KPA, without its panic mode. The router reports an
// Observation now and then; at each Decide the autoscaler
//
//   1. takes the load, in_flight + queued + held, averaged over the observations
//      of the last `window_ms` (none: load 0), and recommends
//        want = ceil(load / target_in_flight), clamped to [max(min, 1), max];
//   2. remembers that recommendation with its time, so the recommendation is a
//      step function of time: each holds from its Decide until the next one;
//   3. scales up to the lowest recommendation over the last `upscale_delay_ms`
//      (the higher count must have been wanted all that time), or down to the
//      highest over the last `downscale_delay_ms` (so a saw-tooth load holds the
//      count at its peaks instead of flapping). A window not yet covered by
//      recommendations (a new or restarted autoscaler) allows neither.
//
// Before those, in order: a count above `max_replicas` or below `min_replicas`
// moves into the bounds at once; a deployment at 0 replicas whose latest
// observation (within the window) shows any request goes at once to
// max(1, min, what step 3 allows): a cold start must not wait for the upscale
// delay; it stays at 0 otherwise. With `scale_to_zero_after_ms` > 0 (and
// min_replicas 0), a deployment that has seen no request at all for that long
// goes to 0, regardless of the downscale delay: zero requests for that long is
// itself the stability it guards. Absent observations count as no requests.
//
// Pure: no clock, no I/O. Time is an argument (milliseconds on any monotonic
// clock the caller keeps to). Memory: the observations of one window and the
// recommendations of max(upscale_delay, downscale_delay), plus one of each.
// Thread safety: none; the caller serialises calls on one Autoscaler.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "common/status.h"

namespace drover::serve {

struct AutoscalePolicy {
  int min_replicas = 0;
  int max_replicas = 1;
  double target_in_flight = 8;         //!< per replica: requests being served, queued or held
  int64_t window_ms = 10000;           //!< observations are averaged over this long
  int64_t upscale_delay_ms = 0;        //!< a higher count must have been wanted this long
  int64_t downscale_delay_ms = 30000;  //!< a lower count must have been wanted this long
  //! 0: never below max(min_replicas, 1); else 0 replicas after this long with
  //! no request at all (only with min_replicas 0).
  int64_t scale_to_zero_after_ms = 0;
};

//! kInvalidArgument naming the field at fault: `min_replicas: -1 is negative`,
//! `max_replicas: 0 must be at least 1`, `min_replicas: 5 is above max_replicas 4`,
//! `target_in_flight: expected a number above 0, got 0`, `window_ms: 0 must be at
//! least 1`, `upscale_delay_ms: -5 is negative` (likewise downscale_delay_ms and
//! scale_to_zero_after_ms), `scale_to_zero_after_ms: needs min_replicas 0, not 1`.
Status Validate(const AutoscalePolicy& policy);

//! What the router saw at one moment, summed over the deployment's replicas.
//! Negative or NaN counts are read as 0.
struct Observation {
  int64_t at_ms = 0;
  double in_flight = 0;       //!< requests a replica is running
  double queued = 0;          //!< requests in the replicas' queues
  double requests_per_s = 0;  //!< arrivals; only "any or none" matters here
  int held = 0;               //!< requests the router holds, waiting for a replica
};

//! Why a Decide came out as it did, for a program to branch on.
enum class ScaleCause {
  kSteady,             //!< the load wants the current count
  kWaitingToScaleUp,   //!< the load wants more, not yet for upscale_delay
  kWaitingToScaleDown, //!< the load wants fewer, but more were wanted within downscale_delay (or it was not watched that long)
  kIdleAtZero,         //!< at 0 with no request
  kColdStart,          //!< at 0 with requests: up at once
  kScaleUp,
  kScaleDown,
  kScaleToZero,        //!< no request for scale_to_zero_after
  kIntoBounds,         //!< the count was outside [min, max]
};

//! "steady", "waiting-to-scale-up", ..., "into-bounds".
const char* ScaleCauseName(ScaleCause cause);

struct AutoscaleDecision {
  int desired = 0;
  ScaleCause cause = ScaleCause::kSteady;
  //! A sentence for `drover deployment NAME`, e.g. "31.5 requests in flight or
  //! waiting (mean over 10s) need 4 replicas at 8 per replica: 2 -> 4".
  std::string reason;
  bool changed = false;  //!< desired differs from the current count
};

class Autoscaler {
 public:
  //! `policy` must pass Validate (checked: the caller validates user input).
  explicit Autoscaler(const AutoscalePolicy& policy);

  //! Records an observation; one older than the window (relative to the newest
  //! seen) is dropped, as are those it pushes out. Order of arrival is free.
  void Observe(const Observation& o);

  //! The replica count wanted at `now_ms` when `current_replicas` run, and
  //! records this step's recommendation. A `now_ms` earlier than the previous
  //! Decide's is taken as that one (the caller's clock must not go back).
  AutoscaleDecision Decide(int64_t now_ms, int current_replicas);

  const AutoscalePolicy& policy() const { return policy_; }
  //! Observations held now (bounded by the window), for tests.
  size_t observations_held() const { return observations_.size(); }

 private:
  struct Recommendation {
    int64_t at_ms;
    int want;
  };
  //! Lowest (`lowest`) or highest recommendation over [now - delay, now];
  //! nullopt when the recommendations do not reach back that far.
  std::optional<int> Extreme(int64_t now_ms, int64_t delay_ms, bool lowest) const;
  void DropObservationsBefore(int64_t cutoff_ms);

  AutoscalePolicy policy_;
  std::deque<Observation> observations_;  //!< by at_ms; those in the window
  std::optional<Observation> latest_;     //!< the newest ever seen, kept past the window
  std::deque<Recommendation> recs_;       //!< by at_ms; the last one at or before the longest delay, and all after
  std::optional<int64_t> first_ms_;       //!< the first time seen (Observe or Decide)
  std::optional<int64_t> last_busy_ms_;   //!< the newest observation showing any request
  std::optional<int64_t> last_decide_ms_; //!< the previous Decide's time
};

}  // namespace drover::serve
