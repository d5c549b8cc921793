// One tenant abusing the API while another uses it: the measurement behind
// the e2e test that asserts it loosely and the scale benchmark that reports it.
//
// The abuser holds `idle` connections that send nothing, `trickling` ones
// that send a header line every 2 s and never finish their request, and asks
// for `long_polls` membership long polls (60 s) on its own job; meanwhile the
// other user's GETs are timed. Plain HTTP on 127.0.0.1 only.
#pragma once

#include <vector>

#include "tests/e2e/cluster.h"

namespace drover::e2e {

struct AbuseOptions {
  int idle = 200;
  int trickling = 200;
  int long_polls = 100;
  int gets = 300;  //!< the other user's requests, one after the other
};

struct AbuseResult {
  int connections_held = 0;  //!< idle + trickling connections the server accepted
  int polls_parked = 0;      //!< the abuser's long polls the server took
  int polls_refused = 0;     //!< answered 429 at once
  int polls_failed = 0;      //!< got no answer at all (a connection that failed on this client's side)
  int gets_failed = 0;       //!< the other user's GETs without a 200 (a 5 s timeout each; it stops at 3)
  std::vector<double> get_ms;
};

//! Sets up two users (/a and /b) on `cluster` (started, plan applied by this
//! call) and runs the abuse. Returns when every abusing connection is closed.
AbuseResult RunAbuse(LocalCluster& cluster, const AbuseOptions& options);

}  // namespace drover::e2e
