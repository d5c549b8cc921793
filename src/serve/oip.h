// The Open Inference Protocol v2 (KServe, Triton) as drover's replicas and
// router speak it over REST: the infer request body parsed and checked
// against the model's signature, the response and metadata bodies encoded.
// No libtorch, no I/O: the replica, the router and a fuzz target link it.
//
//   POST /v2/models/{m}/infer
//   {"id": "7", "inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32",
//                           "data": [0.0, 0.1, ...]}]}
//   -> {"model_name": "fmnist", "id": "7",
//       "outputs": [{"name": "output", "shape": [1, 10], "datatype": "FP32", "data": [...]}]}
//
// Tensor data travels as JSON numbers (or booleans), flat or nested in the
// tensor's natural shape. Values are held in the datatype's natural layout,
// except FP16, held as float until the model converts it (JSON has no
// half-precision number). Datatypes: FP32, FP16, INT64, INT32, BOOL.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace drover::serve {

enum class DataType { kFp32, kFp16, kInt64, kInt32, kBool };
//! "FP32" -> kFp32, ...; kInvalidArgument naming the supported ones.
Result<DataType> ParseDataType(std::string_view name);
const char* Name(DataType t);
//! Bytes per element as held here (FP16: 4, a float).
size_t HeldSize(DataType t);

//! A tensor: its name, datatype, shape and data (row-major, HeldSize bytes each).
struct Tensor {
  std::string name;
  DataType datatype = DataType::kFp32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
  int64_t elements() const;
  template <typename T>
  const T* as() const { return reinterpret_cast<const T*>(data.data()); }
};

//! What a model takes and gives: one input and one output, each with its
//! shape per sample (the batch dimension, first, is left out).
struct Signature {
  std::string model;  //!< the name it is served under
  std::string input_name = "input";
  DataType input_type = DataType::kFp32;
  std::vector<int64_t> input_shape;  //!< per sample
  std::string output_name = "output";
  DataType output_type = DataType::kFp32;
  std::vector<int64_t> output_shape;  //!< per sample; known once the model has run
};

struct InferRequest {
  std::string id;       //!< echoed in the response when given
  Tensor input;         //!< checked against the signature
  int64_t batch = 0;    //!< samples: the input's first dimension
};

//! Parses and checks an infer body against `sig` (a key given twice: the last
//! one counts, as in nlohmann's DOM). kInvalidArgument (HTTP
//! 400) with a message naming what is wrong: malformed JSON, no or several
//! inputs, an input the model does not take, a datatype other than the
//! model's, a shape that is not [N, <sample shape>] with N >= 1, data whose
//! length is not the shape's product, a value out of the datatype's range,
//! an output the model does not give. `max_batch`: requests with more samples
//! are refused (0: no limit).
Result<InferRequest> ParseInferRequest(std::string_view body, const Signature& sig, int64_t max_batch = 0);

//! The response body for one request's output.
std::string EncodeInferResponse(const Signature& sig, const std::string& id, const Tensor& output);
//! {"error": message}.
std::string ErrorBody(std::string_view message);
//! The model metadata body (GET /v2/models/{m}): variable sizes are -1.
std::string ModelMetadata(const Signature& sig, std::string_view platform);
//! `n` samples of zeros of `sig`'s input (warm-up, the compute ceiling).
Tensor ZeroInput(const Signature& sig, int64_t n);
//! An infer body for `sig` with `batch` samples of value `v` (tests, warmup, benchmarks).
std::string ExampleInferBody(const Signature& sig, int64_t batch, double v);

}  // namespace drover::serve
