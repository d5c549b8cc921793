// The job as a user submits it: who runs it, where it is accounted, and how
// many workers of what size it may use.
#pragma once

#include <cstdint>
#include <string>

#include "common/resources.h"

namespace drover {

using JobId = uint64_t;
//! Seconds; the scheduler and simulator never read a wall clock themselves.
using TimePoint = double;

//! `min == max` makes a rigid job: all workers start together or none do.
struct WorkerBounds {
  int min = 1;
  int max = 1;
  bool rigid() const { return min == max; }
  friend bool operator==(const WorkerBounds&, const WorkerBounds&) = default;
};

struct JobSpec {
  std::string name;
  std::string consumer = "/";  //!< consumer path the job is accounted to
  std::string user;
  int priority = 0;            //!< larger runs first inside a consumer
  WorkerBounds workers;
  Resources per_worker{1, 1000, 1024};
  std::string command;         //!< what each worker runs (the platform's concern)
};

}  // namespace drover
