#include "serve/oip.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/check.h"

namespace drover::serve {
namespace {

using nlohmann::json;

// Sizes and element counts above this are refused (2^31: what a tensor index may hold).
constexpr int64_t kMaxElements = int64_t{1} << 31;

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// One leaf of "data" as nlohmann's lexer would classify it: a non-negative
// integer is unsigned, a negative one (and "-0") signed, anything with a
// fraction or an exponent a double. Both parse paths store values through
// Store, so they hold the same bytes and refuse the same values.
struct Scalar {
  enum class Kind { kInt, kUint, kFloat, kBool, kOther };
  Kind kind = Kind::kOther;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  bool b = false;
};

Scalar ScalarOf(const json& v) {
  Scalar s;
  if (v.is_number_unsigned()) {
    s.kind = Scalar::Kind::kUint;
    s.u = v.get<uint64_t>();
  } else if (v.is_number_integer()) {
    s.kind = Scalar::Kind::kInt;
    s.i = v.get<int64_t>();
  } else if (v.is_number_float()) {
    s.kind = Scalar::Kind::kFloat;
    s.d = v.get<double>();
  } else if (v.is_boolean()) {
    s.kind = Scalar::Kind::kBool;
    s.b = v.get<bool>();
  }
  return s;
}

enum class Fit { kOk, kOutOfRange, kNotInteger, kWrongKind };

// Appends `v` to `out` as `t` when it fits; leaves `out` as it was when not.
Fit Store(const Scalar& v, DataType t, std::vector<uint8_t>& out) {
  auto put = [&out](const auto& x) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(&x);
    out.insert(out.end(), bytes, bytes + sizeof(x));
  };
  using Kind = Scalar::Kind;
  switch (t) {
    case DataType::kFp32:
    case DataType::kFp16: {
      double d = 0;
      switch (v.kind) {
        case Kind::kInt: d = static_cast<double>(v.i); break;
        case Kind::kUint: d = static_cast<double>(v.u); break;
        case Kind::kFloat: d = v.d; break;
        default: return Fit::kWrongKind;
      }
      const double limit = t == DataType::kFp16 ? 65504.0 : std::numeric_limits<float>::max();
      if (!(std::fabs(d) <= limit)) return Fit::kOutOfRange;
      put(static_cast<float>(d));
      return Fit::kOk;
    }
    case DataType::kInt64:
    case DataType::kInt32: {
      int64_t i = 0;
      if (v.kind == Kind::kInt) {
        i = v.i;
      } else if (v.kind == Kind::kUint) {
        if (v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return Fit::kOutOfRange;
        i = static_cast<int64_t>(v.u);
      } else {
        return v.kind == Kind::kFloat ? Fit::kNotInteger : Fit::kWrongKind;
      }
      if (t == DataType::kInt64) {
        put(i);
        return Fit::kOk;
      }
      if (i < std::numeric_limits<int32_t>::min() || i > std::numeric_limits<int32_t>::max()) return Fit::kOutOfRange;
      put(static_cast<int32_t>(i));
      return Fit::kOk;
    }
    case DataType::kBool:
      if (v.kind != Kind::kBool) return Fit::kWrongKind;
      put(static_cast<uint8_t>(v.b ? 1 : 0));
      return Fit::kOk;
  }
  return Fit::kWrongKind;
}

// Appends one JSON value to `out` as `t`; false (with `why`) when it is not one.
bool Append(const json& v, DataType t, std::vector<uint8_t>& out, std::string& why) {
  switch (Store(ScalarOf(v), t, out)) {
    case Fit::kOk: return true;
    case Fit::kOutOfRange: why = Dump(v) + " is out of range for " + Name(t); break;
    case Fit::kNotInteger: why = Dump(v) + " is not an integer, as " + std::string(Name(t)) + " needs"; break;
    case Fit::kWrongKind:
      why = Dump(v).substr(0, 40) + " is not a " + std::string(t == DataType::kBool ? "boolean" : "number") + ", as " +
            Name(t) + " needs";
      break;
  }
  return false;
}

// Calls `leaf` on each non-array value under `data` in document order (`data`
// itself when it is not an array) until it returns false. Iterative: nesting
// depth is the sender's choice, and a recursion here once let a 200 KB body
// of brackets overflow the stack.
template <typename F>
bool ForEachLeaf(const json& data, F&& leaf) {
  if (!data.is_array()) return leaf(data);
  std::vector<std::pair<const json*, size_t>> stack{{&data, 0}};
  while (!stack.empty()) {
    auto& [array, next] = stack.back();
    if (next == array->size()) {
      stack.pop_back();
      continue;
    }
    const json& v = (*array)[next++];
    if (v.is_array()) {
      stack.emplace_back(&v, 0);  // invalidates `array` and `next`; both are reread next round
    } else if (!leaf(v)) {
      return false;
    }
  }
  return true;
}

// Flattens `data` into `out`, at most `limit` values; `count` ends at limit + 1 when there are more.
bool Flatten(const json& data, DataType t, size_t limit, std::vector<uint8_t>& out, size_t& count, std::string& why) {
  bool ok = true;
  ForEachLeaf(data, [&](const json& v) {
    if (count++ >= limit) return false;  // one too many: the caller counts them all for its message
    ok = Append(v, t, out, why);
    return ok;
  });
  return ok;
}

size_t CountLeaves(const json& data) {
  size_t n = 0;
  ForEachLeaf(data, [&n](const json&) {
    ++n;
    return true;
  });
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

namespace {

// The reference parser: the whole body into a DOM, then checked field by
// field in a fixed order, so that the first thing wrong is the one named.
// It defines what ParseInferRequest accepts and every message it gives; the
// fast path below only ever agrees with it. Duplicate keys: nlohmann keeps
// the last, so the last one counts.
Result<InferRequest> ParseWithDom(std::string_view body, const Signature& sig, int64_t max_batch) {
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
    if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > kMaxElements) {
      return InvalidArgument("inputs[0].shape: " + Dump(d).substr(0, 40) + " is not a size");
    }
    req.input.shape.push_back(d.get<int64_t>());
    product *= req.input.shape.back();
    if (product > kMaxElements) return InvalidArgument("inputs[0].shape: too many elements");
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
  // The shape is the sender's word; the values actually sent are at most one per two bytes of body.
  req.input.data.reserve(std::min(want_count, body.size() / 2 + 1) * HeldSize(*type));
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

// The fast path: one pass over the body, no DOM, "data" converted straight
// into the tensor's bytes with std::from_chars. Not nlohmann's SAX: its lexer
// alone (a handler that keeps nothing) takes three quarters of the time the
// DOM parser took on one image (71 of 96 us), nearly all of it reading
// numbers, so SAX could save at most a quarter; this takes a sixth
// (bench/oip_bench.cc has the figures).
//
// It takes only bodies it is sure of: valid JSON, and a request the
// reference path would accept, with the very same result. On anything else
// (any error, a duplicate key it cares about, an integer beyond 64 bits, a
// float from_chars cannot hold, nesting deeper than kMaxNesting, a byte
// order mark) it declines, and the reference path parses the body again and
// names what is wrong. Errors are rare and cold, so their messages cost a
// second parse and stay exactly what they were.
//
// Numbers follow nlohmann's lexer: the same grammar, integers held as
// int64 or uint64 by sign, fractions and exponents as a correctly rounded
// double (as strtod gives), stored through the same Store. Strings with no
// escape and no byte over 0x7f are taken as they are; any other is handed to
// nlohmann, so escapes and UTF-8 are checked as the reference checks them.
//
// "data" may come before "datatype": it is then only checked as JSON on the
// way, and read once the datatype is known, from where it began.
class FastParser {
 public:
  FastParser(std::string_view body, const Signature& sig, int64_t max_batch)
      : p_(body.data()), end_(body.data() + body.size()), body_size_(body.size()), sig_(sig), max_batch_(max_batch) {}

  //! The request, or nullopt when the reference path has to decide.
  std::optional<InferRequest> Parse();

 private:
  //! Bounds this parser's recursion; deeper bodies go to the reference path, which has none.
  static constexpr int kMaxNesting = 32;

  bool Inputs();
  bool Input();
  bool Shape();
  bool Outputs();
  bool Data(int depth);
  bool Skip(int depth);
  bool String(std::string& out);
  bool Number(Scalar& v);
  bool Leaf(Scalar& v);
  template <typename F>
  bool Object(F&& member);
  template <typename F>
  bool Array(F&& element);

  void Space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool Take(char c) {
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  bool Digits() {
    const char* from = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    return p_ > from;
  }
  bool Word(std::string_view w) {
    if (static_cast<size_t>(end_ - p_) < w.size() || std::memcmp(p_, w.data(), w.size()) != 0) return false;
    p_ += w.size();
    return true;
  }

  const char* p_;                //!< the next byte to read
  const char* end_;              //!< one past the body's last byte
  const size_t body_size_;       //!< bounds how many values "data" can hold
  const Signature& sig_;
  const int64_t max_batch_;
  InferRequest req_;             //!< filled as the body is read
  int64_t product_ = -1;         //!< the shape's element count; -1 until "shape" is read
  int64_t leaves_ = 0;           //!< values read from "data"
};

// Calls `member(key)` with `p_` at each member's value, which it must read.
template <typename F>
bool FastParser::Object(F&& member) {
  if (!Take('{')) return false;
  Space();
  if (Take('}')) return true;
  std::string key;
  for (;;) {
    if (!String(key)) return false;
    Space();
    if (!Take(':')) return false;
    Space();
    if (!member(key)) return false;
    Space();
    if (Take('}')) return true;
    if (!Take(',')) return false;
    Space();
  }
}

// Calls `element()` with `p_` at each element, which it must read.
template <typename F>
bool FastParser::Array(F&& element) {
  if (!Take('[')) return false;
  Space();
  if (Take(']')) return true;
  for (;;) {
    if (!element()) return false;
    Space();
    if (Take(']')) return true;
    if (!Take(',')) return false;
    Space();
  }
}

std::optional<InferRequest> FastParser::Parse() {
  bool id = false, inputs = false, outputs = false;
  Space();
  const bool ok = Object([&](const std::string& key) {
    if (key == "id") return !std::exchange(id, true) && String(req_.id);
    if (key == "inputs") return !std::exchange(inputs, true) && Inputs();
    if (key == "outputs") return !std::exchange(outputs, true) && Outputs();
    return Skip(1);
  });
  Space();
  if (!ok || p_ != end_ || !inputs) return std::nullopt;

  const std::vector<int64_t>& shape = req_.input.shape;
  bool shape_ok = shape.size() == sig_.input_shape.size() + 1 && shape[0] >= 1;
  for (size_t i = 1; shape_ok && i < shape.size(); ++i) shape_ok = shape[i] == sig_.input_shape[i - 1];
  if (!shape_ok || (max_batch_ > 0 && shape[0] > max_batch_) || leaves_ != product_) return std::nullopt;
  req_.input.datatype = sig_.input_type;
  req_.batch = shape[0];
  return std::move(req_);
}

bool FastParser::Inputs() {
  int n = 0;
  return Array([&] { return n++ == 0 && Input(); }) && n == 1;
}

bool FastParser::Input() {
  bool name = false, datatype = false, shape = false, data = false;
  const char* data_at = nullptr;  // where "data" began, when it came before "datatype"
  const bool ok = Object([&](const std::string& key) {
    if (key == "name") return !std::exchange(name, true) && String(req_.input.name) && req_.input.name == sig_.input_name;
    if (key == "datatype") {
      std::string text;
      if (std::exchange(datatype, true) || !String(text)) return false;
      Result<DataType> t = ParseDataType(text);
      return t.ok() && *t == sig_.input_type;
    }
    if (key == "shape") return !std::exchange(shape, true) && Shape();
    if (key == "data") {
      if (std::exchange(data, true)) return false;
      if (datatype) return Data(1);
      data_at = p_;
      return Skip(1);
    }
    return Skip(1);
  });
  if (!ok || !name || !datatype || !shape || !data) return false;
  if (data_at == nullptr) return true;
  const char* resume = p_;
  p_ = data_at;
  const bool read = Data(1);
  p_ = resume;
  return read;
}

bool FastParser::Shape() {
  product_ = 1;
  return Array([&] {
    Scalar d;
    if (!Number(d) || d.kind == Scalar::Kind::kFloat) return false;
    const int64_t size = d.kind == Scalar::Kind::kInt ? d.i : static_cast<int64_t>(std::min<uint64_t>(d.u, kMaxElements + 1));
    if (size < 0 || size > kMaxElements) return false;
    req_.input.shape.push_back(size);
    product_ *= size;
    return product_ <= kMaxElements;
  });
}

bool FastParser::Outputs() {
  return Array([&] {
    bool named = false;
    return Object([&](const std::string& key) {
      if (key != "name") return Skip(1);
      std::string name;
      return !std::exchange(named, true) && String(name) && name == sig_.output_name;
    }) && named;
  });
}

bool FastParser::Data(int depth) {
  if (depth > kMaxNesting) return false;
  if (p_ < end_ && *p_ == '[') {
    if (depth == 1) {
      // The shape is the sender's word; the values actually sent are at most one per two bytes of body.
      const size_t values = product_ >= 0 ? std::min<size_t>(product_, body_size_ / 2 + 1) : 0;
      req_.input.data.reserve(values * HeldSize(sig_.input_type));
    }
    return Array([&] { return Data(depth + 1); });
  }
  Scalar v;
  if (!Leaf(v) || Store(v, sig_.input_type, req_.input.data) != Fit::kOk) return false;
  ++leaves_;
  return true;
}

bool FastParser::Skip(int depth) {
  if (depth > kMaxNesting || p_ == end_) return false;
  switch (*p_) {
    case '{': return Object([&](const std::string&) { return Skip(depth + 1); });
    case '[': return Array([&] { return Skip(depth + 1); });
    case '"': {
      std::string s;
      return String(s);
    }
    case 'n': return Word("null");
    default: {
      Scalar v;
      return Leaf(v);
    }
  }
}

bool FastParser::Leaf(Scalar& v) {
  if (p_ < end_ && (*p_ == 't' || *p_ == 'f')) {
    v.kind = Scalar::Kind::kBool;
    v.b = *p_ == 't';
    return Word(v.b ? "true" : "false");
  }
  return Number(v);
}

bool FastParser::String(std::string& out) {
  const char* open = p_;
  if (!Take('"')) return false;
  bool plain = true;
  for (; p_ < end_ && *p_ != '"'; ++p_) {
    const auto c = static_cast<unsigned char>(*p_);
    if (c < 0x20) return false;
    if (c == '\\') {
      plain = false;
      if (++p_ == end_) return false;
    } else if (c >= 0x80) {
      plain = false;
    }
  }
  if (!Take('"')) return false;
  if (plain) {
    out.assign(open + 1, p_ - 1);
    return true;
  }
  json s = json::parse(std::string_view(open, static_cast<size_t>(p_ - open)), nullptr, /*allow_exceptions=*/false);
  if (!s.is_string()) return false;
  out = s.get<std::string>();
  return true;
}

bool FastParser::Number(Scalar& v) {
  const char* begin = p_;
  const bool negative = Take('-');
  if (!Take('0') && !(p_ < end_ && *p_ >= '1' && *p_ <= '9' && Digits())) return false;
  bool integer = true;
  if (Take('.')) {
    integer = false;
    if (!Digits()) return false;
  }
  if (Take('e') || Take('E')) {
    integer = false;
    if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    if (!Digits()) return false;
  }
  std::from_chars_result r{};
  if (!integer) {
    v.kind = Scalar::Kind::kFloat;
    r = std::from_chars(begin, p_, v.d);
  } else if (negative) {
    v.kind = Scalar::Kind::kInt;
    r = std::from_chars(begin, p_, v.i);
  } else {
    v.kind = Scalar::Kind::kUint;
    r = std::from_chars(begin, p_, v.u);
  }
  // Out of range: nlohmann would read the integer as a double, or take 1e-400 as 0; the reference decides.
  return r.ec == std::errc() && r.ptr == p_;
}

}  // namespace

Result<InferRequest> ParseInferRequest(std::string_view body, const Signature& sig, int64_t max_batch) {
  std::optional<InferRequest> fast = FastParser(body, sig, max_batch).Parse();
  if (!fast) return ParseWithDom(body, sig, max_batch);
#ifdef DROVER_OIP_CROSS_CHECK
  // Fuzz builds: whatever the fast path takes, the reference takes the same way.
  Result<InferRequest> ref = ParseWithDom(body, sig, max_batch);
  DROVER_CHECK(ref.ok());
  DROVER_CHECK(ref->id == fast->id && ref->batch == fast->batch && ref->input.name == fast->input.name);
  DROVER_CHECK(ref->input.datatype == fast->input.datatype && ref->input.shape == fast->input.shape);
  DROVER_CHECK(ref->input.data == fast->input.data);
#endif
  return std::move(*fast);
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
