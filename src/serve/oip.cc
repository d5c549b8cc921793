#include "serve/oip.h"

#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

namespace drover::serve {
namespace {

using nlohmann::json;

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Appends one JSON value to `out` as `t`; false (with `why`) when it is not one.
bool Append(const json& v, DataType t, std::vector<uint8_t>& out, std::string& why) {
  auto put = [&out](const auto& x) {
    const size_t at = out.size();
    out.resize(at + sizeof(x));
    std::memcpy(out.data() + at, &x, sizeof(x));
  };
  switch (t) {
    case DataType::kFp32:
    case DataType::kFp16: {
      if (!v.is_number()) break;
      const double d = v.get<double>();
      const double limit = t == DataType::kFp16 ? 65504.0 : std::numeric_limits<float>::max();
      if (!(std::fabs(d) <= limit)) {
        why = Dump(v) + " is out of range for " + Name(t);
        return false;
      }
      put(static_cast<float>(d));
      return true;
    }
    case DataType::kInt64:
    case DataType::kInt32: {
      int64_t i = 0;
      if (v.is_number_integer() && !v.is_number_unsigned()) {
        i = v.get<int64_t>();
      } else if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          why = Dump(v) + " is out of range for " + Name(t);
          return false;
        }
        i = static_cast<int64_t>(u);
      } else {
        if (v.is_number()) why = Dump(v) + " is not an integer, as " + std::string(Name(t)) + " needs";
        break;
      }
      if (t == DataType::kInt64) {
        put(i);
        return true;
      }
      if (i < std::numeric_limits<int32_t>::min() || i > std::numeric_limits<int32_t>::max()) {
        why = Dump(v) + " is out of range for INT32";
        return false;
      }
      put(static_cast<int32_t>(i));
      return true;
    }
    case DataType::kBool:
      if (!v.is_boolean()) break;
      put(static_cast<uint8_t>(v.get<bool>() ? 1 : 0));
      return true;
  }
  if (why.empty()) why = Dump(v).substr(0, 40) + " is not a " + std::string(t == DataType::kBool ? "boolean" : "number") +
                         ", as " + Name(t) + " needs";
  return false;
}

// Flattens `data` (nested arrays allowed) into `out`, at most `limit` values.
bool Flatten(const json& data, DataType t, size_t limit, std::vector<uint8_t>& out, size_t& count, std::string& why) {
  if (!data.is_array()) {
    if (count++ >= limit) return true;  // one too many: the caller counts them all for its message
    return Append(data, t, out, why);
  }
  for (const json& v : data) {
    if (count > limit) return true;
    if (!Flatten(v, t, limit, out, count, why)) return false;
  }
  return true;
}

size_t CountLeaves(const json& data) {
  if (!data.is_array()) return 1;
  size_t n = 0;
  for (const json& v : data) n += CountLeaves(v);
  return n;
}

json TensorMetadata(const std::string& name, DataType t, const std::vector<int64_t>& sample) {
  std::vector<int64_t> shape{-1};
  shape.insert(shape.end(), sample.begin(), sample.end());
  return json{{"name", name}, {"datatype", Name(t)}, {"shape", shape}};
}

}  // namespace

Result<DataType> ParseDataType(std::string_view name) {
  if (name == "FP32") return DataType::kFp32;
  if (name == "FP16") return DataType::kFp16;
  if (name == "INT64") return DataType::kInt64;
  if (name == "INT32") return DataType::kInt32;
  if (name == "BOOL") return DataType::kBool;
  return InvalidArgument("datatype \"" + std::string(name) + "\" is not supported (FP32, FP16, INT64, INT32, BOOL)");
}

const char* Name(DataType t) {
  switch (t) {
    case DataType::kFp32: return "FP32";
    case DataType::kFp16: return "FP16";
    case DataType::kInt64: return "INT64";
    case DataType::kInt32: return "INT32";
    case DataType::kBool: return "BOOL";
  }
  return "?";
}

size_t HeldSize(DataType t) {
  switch (t) {
    case DataType::kFp32:
    case DataType::kFp16:
    case DataType::kInt32: return 4;
    case DataType::kInt64: return 8;
    case DataType::kBool: return 1;
  }
  return 1;
}

int64_t Tensor::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<InferRequest> ParseInferRequest(std::string_view body, const Signature& sig, int64_t max_batch) {
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("the body is not JSON: ") + e.what());
  }
  if (!doc.is_object()) return InvalidArgument("the body must be a JSON object with \"inputs\"");
  InferRequest req;
  if (auto it = doc.find("id"); it != doc.end()) {
    if (!it->is_string()) return InvalidArgument("\"id\" must be a string");
    req.id = it->get<std::string>();
  }
  auto inputs = doc.find("inputs");
  if (inputs == doc.end() || !inputs->is_array()) return InvalidArgument("\"inputs\" must be an array of tensors");
  if (inputs->size() != 1) {
    return InvalidArgument("model \"" + sig.model + "\" takes one input (\"" + sig.input_name + "\"), and " +
                           std::to_string(inputs->size()) + " were given");
  }
  const json& in = (*inputs)[0];
  if (!in.is_object()) return InvalidArgument("inputs[0] must be an object with name, shape, datatype and data");
  for (const char* field : {"name", "shape", "datatype", "data"}) {
    if (!in.contains(field)) return InvalidArgument(std::string("inputs[0] has no \"") + field + "\"");
  }
  if (!in["name"].is_string()) return InvalidArgument("inputs[0].name must be a string");
  req.input.name = in["name"].get<std::string>();
  if (req.input.name != sig.input_name) {
    return InvalidArgument("model \"" + sig.model + "\" has no input \"" + req.input.name + "\" (its input is \"" +
                           sig.input_name + "\")");
  }
  if (!in["datatype"].is_string()) return InvalidArgument("inputs[0].datatype must be a string");
  Result<DataType> type = ParseDataType(in["datatype"].get<std::string>());
  if (!type.ok()) return InvalidArgument("inputs[0]: " + type.status().message());
  if (*type != sig.input_type) {
    return InvalidArgument("input \"" + sig.input_name + "\" is " + Name(sig.input_type) + ", not " + Name(*type));
  }
  req.input.datatype = *type;

  const json& shape = in["shape"];
  if (!shape.is_array()) return InvalidArgument("inputs[0].shape must be an array of sizes");
  std::vector<int64_t> want{-1};
  want.insert(want.end(), sig.input_shape.begin(), sig.input_shape.end());
  std::string expected = "[N";
  for (int64_t d : sig.input_shape) expected += ", " + std::to_string(d);
  int64_t product = 1;
  for (const json& d : shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > (int64_t{1} << 31)) {
      return InvalidArgument("inputs[0].shape: " + Dump(d).substr(0, 40) + " is not a size");
    }
    req.input.shape.push_back(d.get<int64_t>());
    product *= req.input.shape.back();
    if (product > (int64_t{1} << 31)) return InvalidArgument("inputs[0].shape: too many elements");
  }
  bool shape_ok = req.input.shape.size() == want.size() && !req.input.shape.empty() && req.input.shape[0] >= 1;
  for (size_t i = 1; shape_ok && i < want.size(); ++i) shape_ok = req.input.shape[i] == want[i];
  if (!shape_ok) {
    return InvalidArgument("input \"" + sig.input_name + "\" has shape " + ShapeText(req.input.shape) +
                           "; the model takes " + expected + "] with N >= 1");
  }
  req.batch = req.input.shape[0];
  if (max_batch > 0 && req.batch > max_batch) {
    return InvalidArgument("input \"" + sig.input_name + "\" holds " + std::to_string(req.batch) +
                           " samples; at most " + std::to_string(max_batch) + " per request");
  }

  const size_t want_count = static_cast<size_t>(product);
  std::string why;
  size_t count = 0;
  req.input.data.reserve(want_count * HeldSize(*type));
  if (!Flatten(in["data"], *type, want_count, req.input.data, count, why)) {
    return InvalidArgument("inputs[0].data: " + why);
  }
  if (count != want_count || req.input.data.size() != want_count * HeldSize(*type)) {
    return InvalidArgument("inputs[0].data holds " + std::to_string(count == want_count ? count : CountLeaves(in["data"])) +
                           " values; shape " + ShapeText(req.input.shape) + " needs " + std::to_string(want_count));
  }

  if (auto outputs = doc.find("outputs"); outputs != doc.end()) {
    if (!outputs->is_array()) return InvalidArgument("\"outputs\" must be an array");
    for (const json& o : *outputs) {
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) {
        return InvalidArgument("each of \"outputs\" must be an object with a name");
      }
      if (o["name"].get<std::string>() != sig.output_name) {
        return InvalidArgument("model \"" + sig.model + "\" has no output \"" + o["name"].get<std::string>() +
                               "\" (its output is \"" + sig.output_name + "\")");
      }
    }
  }
  return req;
}

std::string EncodeInferResponse(const Signature& sig, const std::string& id, const Tensor& output) {
  json data = json::array();
  const int64_t n = output.elements();
  data.get_ref<json::array_t&>().reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (output.datatype) {
      case DataType::kFp32:
      case DataType::kFp16: data.push_back(output.as<float>()[i]); break;
      case DataType::kInt64: data.push_back(output.as<int64_t>()[i]); break;
      case DataType::kInt32: data.push_back(output.as<int32_t>()[i]); break;
      case DataType::kBool: data.push_back(output.as<uint8_t>()[i] != 0); break;
    }
  }
  json out{{"model_name", sig.model},
           {"outputs", json::array({json{{"name", output.name},
                                         {"datatype", Name(output.datatype)},
                                         {"shape", output.shape},
                                         {"data", std::move(data)}}})}};
  if (!id.empty()) out["id"] = id;
  return Dump(out);
}

std::string ErrorBody(std::string_view message) { return Dump(json{{"error", std::string(message)}}); }

std::string ModelMetadata(const Signature& sig, std::string_view platform) {
  return Dump(json{{"name", sig.model},
                   {"versions", json::array({"1"})},
                   {"platform", std::string(platform)},
                   {"inputs", json::array({TensorMetadata(sig.input_name, sig.input_type, sig.input_shape)})},
                   {"outputs", json::array({TensorMetadata(sig.output_name, sig.output_type, sig.output_shape)})}});
}

Tensor ZeroInput(const Signature& sig, int64_t n) {
  Tensor t;
  t.name = sig.input_name;
  t.datatype = sig.input_type;
  t.shape = {n};
  t.shape.insert(t.shape.end(), sig.input_shape.begin(), sig.input_shape.end());
  t.data.assign(static_cast<size_t>(t.elements()) * HeldSize(t.datatype), 0);
  return t;
}

std::string ExampleInferBody(const Signature& sig, int64_t batch, double v) {
  std::vector<int64_t> shape{batch};
  shape.insert(shape.end(), sig.input_shape.begin(), sig.input_shape.end());
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  json data = json::array();
  for (int64_t i = 0; i < n; ++i) {
    if (sig.input_type == DataType::kBool) {
      data.push_back(v != 0);
    } else if (sig.input_type == DataType::kInt64 || sig.input_type == DataType::kInt32) {
      data.push_back(static_cast<int64_t>(v));
    } else {
      data.push_back(v);
    }
  }
  return Dump(json{{"inputs", json::array({json{{"name", sig.input_name},
                                                  {"shape", shape},
                                                  {"datatype", Name(sig.input_type)},
                                                  {"data", std::move(data)}}})}});
}

}  // namespace drover::serve
