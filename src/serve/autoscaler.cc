#include "serve/autoscaler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/check.h"

namespace drover::serve {
namespace {

// A count as the router reports it; a negative or NaN one is a router bug read as none.
double Count(double v) { return v > 0 ? v : 0; }

bool Busy(const Observation& o) {
  return Count(o.in_flight) > 0 || Count(o.queued) > 0 || Count(o.requests_per_s) > 0 || o.held > 0;
}

double Load(const Observation& o) { return Count(o.in_flight) + Count(o.queued) + std::max(o.held, 0); }

// At most 4 significant digits: "31.5", "8", "0.3333".
std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// "1h30m", "10s", "500ms", "0s".
std::string Duration(int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  const int64_t h = ms / 3'600'000, m = ms / 60'000 % 60, s = ms / 1000 % 60, rest = ms % 1000;
  if (h > 0) out += std::to_string(h) + "h";
  if (m > 0) out += std::to_string(m) + "m";
  if (s > 0) out += std::to_string(s) + "s";
  if (rest > 0) out += std::to_string(rest) + "ms";
  return out;
}

std::string Replicas(int n) { return std::to_string(n) + (n == 1 ? " replica" : " replicas"); }

std::string Arrow(int from, int to) { return std::to_string(from) + " -> " + std::to_string(to); }

}  // namespace

const char* ScaleCauseName(ScaleCause cause) {
  switch (cause) {
    case ScaleCause::kSteady: return "steady";
    case ScaleCause::kWaitingToScaleUp: return "waiting-to-scale-up";
    case ScaleCause::kWaitingToScaleDown: return "waiting-to-scale-down";
    case ScaleCause::kIdleAtZero: return "idle-at-zero";
    case ScaleCause::kColdStart: return "cold-start";
    case ScaleCause::kScaleUp: return "scale-up";
    case ScaleCause::kScaleDown: return "scale-down";
    case ScaleCause::kScaleToZero: return "scale-to-zero";
    case ScaleCause::kIntoBounds: return "into-bounds";
  }
  return "unknown";
}

Status Validate(const AutoscalePolicy& p) {
  if (p.min_replicas < 0) return InvalidArgument("min_replicas: " + std::to_string(p.min_replicas) + " is negative");
  if (p.max_replicas < 1) {
    return InvalidArgument("max_replicas: " + std::to_string(p.max_replicas) + " must be at least 1");
  }
  if (p.min_replicas > p.max_replicas) {
    return InvalidArgument("min_replicas: " + std::to_string(p.min_replicas) + " is above max_replicas " +
                           std::to_string(p.max_replicas));
  }
  if (!(p.target_in_flight > 0) || !std::isfinite(p.target_in_flight)) {
    return InvalidArgument("target_in_flight: expected a number above 0, got " + Number(p.target_in_flight));
  }
  if (p.window_ms < 1) return InvalidArgument("window_ms: " + std::to_string(p.window_ms) + " must be at least 1");
  const std::pair<const char*, int64_t> delays[] = {{"upscale_delay_ms", p.upscale_delay_ms},
                                                    {"downscale_delay_ms", p.downscale_delay_ms},
                                                    {"scale_to_zero_after_ms", p.scale_to_zero_after_ms}};
  for (const auto& [name, v] : delays) {
    if (v < 0) return InvalidArgument(std::string(name) + ": " + std::to_string(v) + " is negative");
  }
  if (p.scale_to_zero_after_ms > 0 && p.min_replicas > 0) {
    return InvalidArgument("scale_to_zero_after_ms: needs min_replicas 0, not " + std::to_string(p.min_replicas));
  }
  return Status::Ok();
}

Autoscaler::Autoscaler(const AutoscalePolicy& policy) : policy_(policy) {
  // The server validates the user's spec before it builds an autoscaler.
  DROVER_CHECK(Validate(policy).ok());
}

void Autoscaler::Observe(const Observation& o) {
  if (!first_ms_ || o.at_ms < *first_ms_) first_ms_ = o.at_ms;
  if (Busy(o) && (!last_busy_ms_ || o.at_ms > *last_busy_ms_)) last_busy_ms_ = o.at_ms;
  if (!latest_ || o.at_ms >= latest_->at_ms) latest_ = o;
  const int64_t cutoff = latest_->at_ms - policy_.window_ms;  // kept: at_ms > cutoff
  if (o.at_ms <= cutoff) return;
  auto at = std::upper_bound(observations_.begin(), observations_.end(), o.at_ms,
                             [](int64_t t, const Observation& x) { return t < x.at_ms; });
  observations_.insert(at, o);
  DropObservationsBefore(cutoff + 1);
}

void Autoscaler::DropObservationsBefore(int64_t cutoff_ms) {
  while (!observations_.empty() && observations_.front().at_ms < cutoff_ms) observations_.pop_front();
}

std::optional<int> Autoscaler::Extreme(int64_t now_ms, int64_t delay_ms, bool lowest) const {
  const int64_t start = now_ms - delay_ms;
  // recs_ is a step function: the last recommendation at or before `start` holds there.
  size_t first = 0;
  while (first + 1 < recs_.size() && recs_[first + 1].at_ms <= start) ++first;
  if (recs_.empty() || recs_[first].at_ms > start) return std::nullopt;
  int best = recs_[first].want;
  for (size_t i = first + 1; i < recs_.size(); ++i) {
    best = lowest ? std::min(best, recs_[i].want) : std::max(best, recs_[i].want);
  }
  return best;
}

AutoscaleDecision Autoscaler::Decide(int64_t now_ms, int current) {
  if (last_decide_ms_ && now_ms < *last_decide_ms_) now_ms = *last_decide_ms_;
  last_decide_ms_ = now_ms;
  if (!first_ms_ || now_ms < *first_ms_) first_ms_ = now_ms;
  const AutoscalePolicy& p = policy_;
  DropObservationsBefore(now_ms - p.window_ms + 1);

  // 1. This step's recommendation from the mean load over the window.
  double sum = 0;
  int n = 0;
  for (const Observation& o : observations_) {
    if (o.at_ms > now_ms) break;
    sum += Load(o);
    ++n;
  }
  const double load = n > 0 ? sum / n : 0;
  // Bounded before the cast; the epsilon keeps 24 / 8 at 3 despite rounding.
  const int raw = static_cast<int>(std::min(std::ceil(load / p.target_in_flight - 1e-9), 1e6));
  const int want = std::clamp(raw, std::max(p.min_replicas, 1), p.max_replicas);

  // 2. Remember it; keep what the longer delay needs.
  if (!recs_.empty() && recs_.back().at_ms == now_ms) {
    recs_.back().want = want;
  } else {
    recs_.push_back({now_ms, want});
  }
  const int64_t longest = std::max(p.upscale_delay_ms, p.downscale_delay_ms);
  while (recs_.size() >= 2 && recs_[1].at_ms <= now_ms - longest) recs_.pop_front();

  std::string need = Number(load) + " requests in flight or waiting (mean over " + Duration(p.window_ms) + ") need " +
                     Replicas(raw) + " at " + Number(p.target_in_flight) + " per replica";
  if (raw < want) need += ", at least " + std::to_string(want) + " kept";
  if (raw > want) need += ", at most " + std::to_string(want) + " allowed";

  auto result = [&](int desired, ScaleCause cause, std::string reason) {
    return AutoscaleDecision{desired, cause, std::move(reason), desired != current};
  };
  auto stay = [&](ScaleCause cause, const std::string& why) {
    return result(current, cause, why + ": staying at " + std::to_string(current));
  };

  // 3. The bounds, then zero, then the delays.
  const bool zero_allowed = p.scale_to_zero_after_ms > 0;  // Validate: then min_replicas is 0
  const int lowest = zero_allowed ? 0 : std::max(p.min_replicas, 1);
  if (current > p.max_replicas) {
    return result(p.max_replicas, ScaleCause::kIntoBounds,
                  "above the maximum of " + Replicas(p.max_replicas) + ": " + Arrow(current, p.max_replicas));
  }
  if (current < lowest) {
    return result(lowest, ScaleCause::kIntoBounds,
                  "below the minimum of " + Replicas(lowest) + ": " + Arrow(current, lowest));
  }
  const std::optional<int> up = Extreme(now_ms, p.upscale_delay_ms, true);
  if (current == 0) {
    const bool requested = latest_ && latest_->at_ms > now_ms - p.window_ms && Busy(*latest_);
    if (!requested) return stay(ScaleCause::kIdleAtZero, "no requests");
    const int to = std::max(std::max(p.min_replicas, 1), up.value_or(0));
    std::string why = latest_->held > 0 ? std::to_string(latest_->held) + " requests are waiting for a replica"
                                        : "requests arrived with no replica running";
    return result(to, ScaleCause::kColdStart, "cold start: " + why + ": " + Arrow(0, to));
  }
  if (zero_allowed) {
    const int64_t idle_since = last_busy_ms_.value_or(*first_ms_);
    if (now_ms - idle_since >= p.scale_to_zero_after_ms) {
      return result(0, ScaleCause::kScaleToZero,
                    "no requests for " + Duration(p.scale_to_zero_after_ms) + ": " + Arrow(current, 0));
    }
  }
  if (up && *up > current) {
    std::string why = need;
    if (p.upscale_delay_ms > 0) {
      why += *up == want ? ", for " : ", and at least " + std::to_string(*up) + " for ";
      why += "the last " + Duration(p.upscale_delay_ms);
    }
    return result(*up, ScaleCause::kScaleUp, why + ": " + Arrow(current, *up));
  }
  if (want > current) {
    return stay(ScaleCause::kWaitingToScaleUp,
                need + "; scaling up once that has held for " + Duration(p.upscale_delay_ms));
  }
  if (want < current) {
    const std::optional<int> down = Extreme(now_ms, p.downscale_delay_ms, false);
    if (!down) {
      return stay(ScaleCause::kWaitingToScaleDown,
                  need + ", but the load has been watched for less than " + Duration(p.downscale_delay_ms));
    }
    if (*down >= current) {
      return stay(ScaleCause::kWaitingToScaleDown,
                  need + ", but " + std::to_string(*down) + " were needed within the last " +
                      Duration(p.downscale_delay_ms));
    }
    std::string why = need;
    if (p.downscale_delay_ms > 0) {
      why += *down == want ? ", for " : ", and no more than " + std::to_string(*down) + " within ";
      why += "the last " + Duration(p.downscale_delay_ms);
    }
    return result(*down, ScaleCause::kScaleDown, why + ": " + Arrow(current, *down));
  }
  return stay(ScaleCause::kSteady, need);
}

}  // namespace drover::serve
