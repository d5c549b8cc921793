// How an elastic job's batch and learning rate follow its world size. Pure.
#pragma once

#include <string>

#include "common/status.h"

namespace drover::train {

enum class BatchMode {
  //! global batch fixed (TrainOptions::global_batch): the model does not depend on the schedule.
  kConstantGlobal,
  //! per-worker batch fixed: the global batch is world x per_worker_batch.
  kConstantPerWorker,
  //! the global batch with the best goodput at each world size, from what the
  //! job measured (sched::GoodputModel), within [initial, max_batch]; the
  //! learning rate scaled by the batch's statistical gain (AdaScale).
  kAdaptive,
};
enum class LrScaling { kNone, kLinear, kSqrt };
//! Parses "global"/"per-worker"/"adaptive" and "none"/"linear"/"sqrt"; InvalidArgument otherwise.
Result<BatchMode> ParseBatchMode(const std::string& text);
Result<LrScaling> ParseLrScaling(const std::string& text);
//! The learning rate at `world` workers for base rate `lr` at one worker:
//! lr (none), lr x world (linear), lr x sqrt(world) (sqrt).
double ScaledLearningRate(double lr, LrScaling scaling, int world);

}  // namespace drover::train
