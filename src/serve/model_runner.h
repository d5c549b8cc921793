// ModelRunner: one TorchScript model loaded for one executor, run on batches
// of OIP tensors. The only code of drover-serve that sees libtorch
// (torch_model.cc), behind an interface without torch types, so the rest of
// the replica compiles quickly and the router never links torch.
//
// Each executor loads its own copy (torch::jit::load), runs under
// c10::InferenceMode, and concatenates its batch's inputs along the first
// dimension into one tensor on its device; the output is split back by
// request. libtorch throws; every exception stops here as a Status.
//
// Thread safety: one thread per runner (Run, Warmup); Load from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "serve/oip.h"

namespace drover::serve {

struct ModelConfig {
  std::string path;            //!< a TorchScript file (torch.jit.save)
  std::string device = "cpu";  //!< "cpu", "cuda" or "cuda:N"
  int threads = 1;             //!< intra-op threads (process-wide in libtorch)
  bool optimize = true;        //!< freeze and optimize_for_inference (torch.jit's)
};

class ModelRunner {
 public:
  //! Loads the model. kNotFound for a missing file; kInvalidArgument for a
  //! file that is not TorchScript or a device that does not exist.
  static Result<std::unique_ptr<ModelRunner>> Load(const ModelConfig& config);
  virtual ~ModelRunner() = default;

  //! Runs the inputs as one batch: outputs[i] is inputs[i]'s share of the
  //! output, named `sig.output_name`. Sets `sig`'s output type and per-sample
  //! shape from the result when `learn` is set (the first warmup pass).
  //! kInternal with libtorch's message when the model fails on them.
  virtual Status Run(const std::vector<const Tensor*>& inputs, Signature& sig, bool learn,
                     std::vector<Tensor>* outputs) = 0;
};

//! The compute ceiling without HTTP: `streams` threads each running its own
//! copy of the model for `seconds`, at batch 1 and then at `batch`.
struct Ceiling {
  double unbatched_samples_per_s = 0;
  double batched_samples_per_s = 0;
  double forward_ms = 0;  //!< mean batch-1 forward
  int batch = 0;
};
Result<Ceiling> MeasureCeiling(const ModelConfig& config, const Signature& sig, int streams, int batch, double seconds);

}  // namespace drover::serve
