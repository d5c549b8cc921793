#include "train/scaling.h"

#include <cmath>

namespace drover::train {

Result<BatchMode> ParseBatchMode(const std::string& text) {
  if (text == "global") return BatchMode::kConstantGlobal;
  if (text == "per-worker") return BatchMode::kConstantPerWorker;
  if (text == "adaptive") return BatchMode::kAdaptive;
  return InvalidArgument("batch mode '" + text + "': expected global, per-worker or adaptive");
}

Result<LrScaling> ParseLrScaling(const std::string& text) {
  if (text == "none") return LrScaling::kNone;
  if (text == "linear") return LrScaling::kLinear;
  if (text == "sqrt") return LrScaling::kSqrt;
  return InvalidArgument("learning-rate scaling '" + text + "': expected none, linear or sqrt");
}

double ScaledLearningRate(double lr, LrScaling scaling, int world) {
  switch (scaling) {
    case LrScaling::kLinear:
      return lr * world;
    case LrScaling::kSqrt:
      return lr * std::sqrt(static_cast<double>(world));
    case LrScaling::kNone:
      break;
  }
  return lr;
}

}  // namespace drover::train
