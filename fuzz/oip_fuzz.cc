// Fuzzes the infer body parser (serve/oip.h) against a fixed signature for
// each datatype. Whatever parses must hold elements x HeldSize bytes, and,
// written out again, both in the usual key order with flat data and with
// "data" first, nested by the shape, must parse to the same request.
//
// oip.cc is built here with DROVER_OIP_CROSS_CHECK: every body its fast path
// takes is parsed by the reference (DOM) path too, and the two must agree.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/oip.h"

namespace {

using drover::serve::DataType;
using drover::serve::InferRequest;
using drover::serve::Signature;
using nlohmann::json;

Signature Sig(DataType type, std::vector<int64_t> sample) {
  Signature s;
  s.model = "m";
  s.input_type = type;
  s.input_shape = std::move(sample);
  s.output_shape = {1};
  return s;
}

json Value(const InferRequest& r, int64_t i) {
  switch (r.input.datatype) {
    case DataType::kFp32:
    case DataType::kFp16: return r.input.as<float>()[i];
    case DataType::kInt64: return r.input.as<int64_t>()[i];
    case DataType::kInt32: return r.input.as<int32_t>()[i];
    case DataType::kBool: return r.input.as<uint8_t>()[i] != 0;
  }
  std::abort();
}

// The values from `i` on, nested by shape[dim...].
json Nested(const InferRequest& r, size_t dim, int64_t& i) {
  if (dim == r.input.shape.size()) return Value(r, i++);
  json a = json::array();
  for (int64_t k = 0; k < r.input.shape[dim]; ++k) a.push_back(Nested(r, dim + 1, i));
  return a;
}

// `r` as a body: ExampleInferBody's layout, or "data" first and nested.
std::string Encode(const InferRequest& r, bool data_first) {
  json data = json::array();
  if (data_first) {
    int64_t i = 0;
    data = Nested(r, 0, i);
  } else {
    for (int64_t i = 0; i < r.input.elements(); ++i) data.push_back(Value(r, i));
  }
  // nlohmann's object keeps keys sorted; the text is assembled so the order is ours.
  const std::string name = json(r.input.name).dump(), type = json(Name(r.input.datatype)).dump();
  const std::string shape = json(r.input.shape).dump(), values = data.dump();
  std::string input = data_first ? R"({"data": )" + values + R"(, "shape": )" + shape + R"(, "datatype": )" + type +
                                       R"(, "name": )" + name + "}"
                                 : R"({"name": )" + name + R"(, "shape": )" + shape + R"(, "datatype": )" + type +
                                       R"(, "data": )" + values + "}";
  std::string body = R"({"inputs": [)" + input + "]";
  if (!r.id.empty()) body += R"(, "id": )" + json(r.id).dump();
  return body + "}";
}

bool Same(const InferRequest& a, const InferRequest& b) {
  return a.id == b.id && a.batch == b.batch && a.input.name == b.input.name && a.input.datatype == b.input.datatype &&
         a.input.shape == b.input.shape && a.input.data == b.input.data;
}

void Check(const std::string& body, const Signature& sig, int64_t max_batch) {
  drover::Result<InferRequest> r = drover::serve::ParseInferRequest(body, sig, max_batch);
  if (!r.ok()) return;
  if (r->input.data.size() != static_cast<size_t>(r->input.elements()) * HeldSize(r->input.datatype)) std::abort();
  if (r->batch != r->input.shape.at(0) || (max_batch > 0 && r->batch > max_batch)) std::abort();
  for (bool data_first : {false, true}) {
    drover::Result<InferRequest> again = drover::serve::ParseInferRequest(Encode(*r, data_first), sig, max_batch);
    if (!again.ok() || !Same(*r, *again)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::pair<Signature, int64_t>> kSignatures = {
      {Sig(DataType::kFp32, {1, 2, 2}), 0}, {Sig(DataType::kFp16, {3}), 4}, {Sig(DataType::kInt64, {2}), 0},
      {Sig(DataType::kInt32, {1, 2}), 0},   {Sig(DataType::kBool, {2}), 0},
  };
  const std::string body(reinterpret_cast<const char*>(data), size);
  for (const auto& [sig, max_batch] : kSignatures) Check(body, sig, max_batch);
  return 0;
}
