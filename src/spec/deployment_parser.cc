#include "spec/deployment_parser.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include "spec/consumer_path.h"
#include "spec/job_parser.h"
#include "spec/quantity.h"
#include "spec/yaml_util.h"

namespace drover {
namespace {

using spec::Field;
using spec::FieldMap;

constexpr std::size_t kMaxDeploymentName = 40;
constexpr std::size_t kMaxPathLength = 1024;
constexpr std::size_t kMaxTensorName = 64;
constexpr std::size_t kMaxDims = 8;
constexpr int64_t kMaxDimSize = int64_t{1} << 24;
constexpr int64_t kMaxSampleElements = int64_t{1} << 30;
constexpr int64_t kMaxExecutors = 16;
constexpr int64_t kMaxThreads = 64;
constexpr int64_t kMaxBatchSize = 1024;
constexpr int64_t kMaxQueueDelayUs = 1'000'000;
constexpr int64_t kMaxQueue = 65'536;
constexpr double kMaxTargetInFlight = 1e6;
constexpr int64_t kDefaultScaleToZeroMs = 5 * 60'000;

constexpr std::string_view kFields[] = {"name",     "consumer",  "priority", "model",    "replicas",
                                        "resources", "runtime", "batching", "autoscale"};
constexpr std::string_view kModelFields[] = {"path", "input", "output"};
constexpr std::string_view kInputFields[] = {"name", "datatype", "shape"};
constexpr std::string_view kOutputFields[] = {"name"};
constexpr std::string_view kReplicaFields[] = {"min", "max"};
constexpr std::string_view kRuntimeFields[] = {"executors", "threads"};
constexpr std::string_view kBatchingFields[] = {"max_batch_size", "max_queue_delay_us", "preferred_batch_sizes",
                                                "max_queue"};
constexpr std::string_view kAutoscaleFields[] = {"target_in_flight", "window", "upscale_delay", "downscale_delay",
                                                 "scale_to_zero_after"};
constexpr std::string_view kDatatypes[] = {"FP32", "FP16", "INT64", "INT32", "BOOL"};

// The first letter keeps the name a word in the URL /v2/models/NAME.
bool IsDeploymentName(std::string_view s) { return !s.empty() && s[0] >= 'a' && s[0] <= 'z' && IsDnsLabelName(s); }

bool IsTensorName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_-.:").find(c) != std::string_view::npos;
  });
}

// A duration's bounds, in milliseconds and as the messages write them.
struct DurationRange {
  int64_t min_ms;
  int64_t max_ms;
  const char* min_text;
  const char* max_text;
};

class DeploymentParser {
 public:
  explicit DeploymentParser(std::string_view file) : reader_(file) {}

  Result<DeploymentSpec> Parse(std::string_view text) {
    Result<Field> doc = reader_.LoadDocument(text);
    if (!doc.ok()) return doc.status();
    Result<FieldMap> fields = reader_.ReadMap(*doc, kFields);
    if (!fields.ok()) return fields.status();
    for (const char* required : {"name", "model", "replicas"}) {
      if (!fields->Find(required)) return Missing(*doc, required);
    }
    DeploymentSpec d;
    const Field& name = *fields->Find("name");
    Result<std::string> name_text = reader_.ReadString(name, kMaxDeploymentName);
    if (!name_text.ok()) return name_text.status();
    if (!IsDeploymentName(*name_text)) {
      return reader_.Error(name, spec::Quote(*name_text) +
                                     " must be lowercase letters, digits and '-', starting with a letter and "
                                     "ending with a letter or digit");
    }
    d.name = *name_text;
    if (const Field* f = fields->Find("consumer")) {
      Result<std::string> t = reader_.ReadString(*f, kMaxPathLength);
      if (!t.ok()) return t.status();
      Result<std::string> path = spec::NormalizeConsumerPath(*t);
      if (!path.ok()) return reader_.Error(*f, path.status().message());
      d.consumer = *path;
    }
    if (const Field* f = fields->Find("priority")) {
      Result<int64_t> v = reader_.ReadInt(*f, -kMaxPriority, kMaxPriority);
      if (!v.ok()) return v.status();
      d.priority = static_cast<int>(*v);
    }
    DROVER_RETURN_IF_ERROR(ParseModel(*fields->Find("model"), &d));
    DROVER_RETURN_IF_ERROR(ParseReplicas(*fields->Find("replicas"), &d));
    if (const Field* f = fields->Find("resources")) {
      DROVER_RETURN_IF_ERROR(ParseResourcesField(reader_, *f, &d.per_replica));
    }
    if (const Field* f = fields->Find("runtime")) DROVER_RETURN_IF_ERROR(ParseRuntime(*f, &d));
    if (const Field* f = fields->Find("batching")) DROVER_RETURN_IF_ERROR(ParseBatching(*f, &d));
    d.scale_to_zero_after_ms = d.min_replicas == 0 ? kDefaultScaleToZeroMs : 0;
    if (const Field* f = fields->Find("autoscale")) DROVER_RETURN_IF_ERROR(ParseAutoscale(*f, &d));
    return d;
  }

 private:
  Status Missing(const Field& at, const char* field) const {
    return reader_.Error(at, std::string("missing required field \"") + field + "\"");
  }

  // Reads an int field of `m` into `*out` when it is there.
  template <typename T>
  Status ReadIntInto(const FieldMap& m, const char* key, int64_t min, int64_t max, T* out) const {
    const Field* f = m.Find(key);
    if (f == nullptr) return Status::Ok();
    Result<int64_t> v = reader_.ReadInt(*f, min, max);
    if (!v.ok()) return v.status();
    *out = static_cast<T>(*v);
    return Status::Ok();
  }

  Status ParseModel(const Field& at, DeploymentSpec* d) {
    Result<FieldMap> m = reader_.ReadMap(at, kModelFields);
    if (!m.ok()) return m.status();
    for (const char* required : {"path", "input"}) {
      if (!m->Find(required)) return Missing(at, required);
    }
    const Field& path = *m->Find("path");
    Result<std::string> p = reader_.ReadString(path, kMaxPathLength);
    if (!p.ok()) return p.status();
    if (p->empty() || (*p)[0] != '/') return reader_.Error(path, spec::Quote(*p) + " is not an absolute path");
    d->model_path = *p;

    const Field& input = *m->Find("input");
    Result<FieldMap> in = reader_.ReadMap(input, kInputFields);
    if (!in.ok()) return in.status();
    if (const Field* f = in->Find("name")) {
      Result<std::string> n = ReadTensorName(*f);
      if (!n.ok()) return n.status();
      d->input.name = *n;
    }
    if (const Field* f = in->Find("datatype")) {
      Result<std::string> t = reader_.ReadString(*f, 16);
      if (!t.ok()) return t.status();
      if (std::find(std::begin(kDatatypes), std::end(kDatatypes), *t) == std::end(kDatatypes)) {
        return reader_.Error(*f, "unknown datatype " + spec::Quote(*t) + "; expected FP32, FP16, INT64, INT32 or BOOL");
      }
      d->input.datatype = *t;
    }
    const Field* shape = in->Find("shape");
    if (shape == nullptr) return Missing(input, "shape");
    DROVER_RETURN_IF_ERROR(ParseShape(*shape, &d->input.shape));

    if (const Field* f = m->Find("output")) {
      Result<FieldMap> out = reader_.ReadMap(*f, kOutputFields);
      if (!out.ok()) return out.status();
      if (const Field* n = out->Find("name")) {
        Result<std::string> text = ReadTensorName(*n);
        if (!text.ok()) return text.status();
        d->output_name = *text;
      }
    }
    return Status::Ok();
  }

  Result<std::string> ReadTensorName(const Field& at) const {
    Result<std::string> n = reader_.ReadString(at, kMaxTensorName);
    if (!n.ok()) return n.status();
    if (!IsTensorName(*n)) {
      return reader_.Error(at, spec::Quote(*n) + " must be 1 to 64 letters, digits, '_', '-', '.' or ':'");
    }
    return n;
  }

  Status ParseShape(const Field& at, std::vector<int64_t>* shape) const {
    Result<std::vector<Field>> items = reader_.ReadList(at);
    if (!items.ok()) return items.status();
    if (items->empty()) {
      return reader_.Error(at, "expected at least one size (a sample's shape, without the batch dimension)");
    }
    if (items->size() > kMaxDims) {
      return reader_.Error(at, std::to_string(items->size()) + " dimensions; at most " + std::to_string(kMaxDims));
    }
    int64_t elements = 1;
    for (const Field& item : *items) {
      Result<int64_t> v = reader_.ReadInt(item, 1, kMaxDimSize);
      if (!v.ok()) return v.status();
      elements *= *v;  // at most 2^30 * 2^24 before the check: no overflow
      if (elements > kMaxSampleElements) {
        return reader_.Error(at, "more than " + std::to_string(kMaxSampleElements) + " elements per sample");
      }
      shape->push_back(*v);
    }
    return Status::Ok();
  }

  Status ParseReplicas(const Field& at, DeploymentSpec* d) {
    if (at.node.IsScalar()) {
      Result<int64_t> n = reader_.ReadInt(at, 1, kMaxDeploymentReplicas);
      if (!n.ok()) return n.status();
      d->min_replicas = d->max_replicas = static_cast<int>(*n);
      return Status::Ok();
    }
    if (!at.node.IsMap()) {
      return reader_.Error(at, "expected a number or a map like {min: 0, max: 4}, got " + spec::Describe(at.node));
    }
    Result<FieldMap> m = reader_.ReadMap(at, kReplicaFields);
    if (!m.ok()) return m.status();
    DROVER_RETURN_IF_ERROR(ReadIntInto(*m, "min", 0, kMaxDeploymentReplicas, &d->min_replicas));
    d->max_replicas = std::max(d->min_replicas, 1);
    if (const Field* f = m->Find("max")) {
      Result<int64_t> v = reader_.ReadInt(*f, 1, kMaxDeploymentReplicas);
      if (!v.ok()) return v.status();
      if (*v < d->min_replicas) {
        return reader_.Error(*f, std::to_string(*v) + " is below replicas.min " + std::to_string(d->min_replicas));
      }
      d->max_replicas = static_cast<int>(*v);
    }
    return Status::Ok();
  }

  Status ParseRuntime(const Field& at, DeploymentSpec* d) {
    Result<FieldMap> m = reader_.ReadMap(at, kRuntimeFields);
    if (!m.ok()) return m.status();
    DROVER_RETURN_IF_ERROR(ReadIntInto(*m, "executors", 1, kMaxExecutors, &d->executors));
    return ReadIntInto(*m, "threads", 1, kMaxThreads, &d->threads);
  }

  Status ParseBatching(const Field& at, DeploymentSpec* d) {
    Result<FieldMap> m = reader_.ReadMap(at, kBatchingFields);
    if (!m.ok()) return m.status();
    DROVER_RETURN_IF_ERROR(ReadIntInto(*m, "max_batch_size", 1, kMaxBatchSize, &d->max_batch_size));
    DROVER_RETURN_IF_ERROR(ReadIntInto(*m, "max_queue_delay_us", 0, kMaxQueueDelayUs, &d->max_queue_delay_us));
    const std::string max_batch = " batching.max_batch_size " + std::to_string(d->max_batch_size);
    if (const Field* f = m->Find("preferred_batch_sizes")) {
      Result<std::vector<Field>> items = reader_.ReadList(*f);
      if (!items.ok()) return items.status();
      for (const Field& item : *items) {
        Result<int64_t> v = reader_.ReadInt(item, 1, kMaxBatchSize);
        if (!v.ok()) return v.status();
        if (*v > d->max_batch_size) return reader_.Error(item, std::to_string(*v) + " is above" + max_batch);
        if (!d->preferred_batch_sizes.empty() && *v <= d->preferred_batch_sizes.back()) {
          return reader_.Error(item, std::to_string(*v) + " is not above the size before it, " +
                                         std::to_string(d->preferred_batch_sizes.back()));
        }
        d->preferred_batch_sizes.push_back(static_cast<int>(*v));
      }
    }
    if (const Field* f = m->Find("max_queue")) {
      Result<int64_t> v = reader_.ReadInt(*f, 1, kMaxQueue);
      if (!v.ok()) return v.status();
      if (*v < d->max_batch_size) return reader_.Error(*f, std::to_string(*v) + " is below" + max_batch);
      d->max_queue = static_cast<int>(*v);
    }
    return Status::Ok();
  }

  Status ParseAutoscale(const Field& at, DeploymentSpec* d) {
    Result<FieldMap> m = reader_.ReadMap(at, kAutoscaleFields);
    if (!m.ok()) return m.status();
    if (const Field* f = m->Find("target_in_flight")) {
      Result<double> v = reader_.ReadDecimal(*f);
      if (!v.ok()) return v.status();
      const std::string shown = spec::Shorten(f->node.Scalar());
      if (!(*v > 0)) return reader_.Error(*f, shown + " must be above 0");
      if (*v > kMaxTargetInFlight) return reader_.Error(*f, shown + " is above the maximum 1000000");
      d->target_in_flight = *v;
    }
    constexpr DurationRange kDelay{0, 3'600'000, "0s", "1h"};
    DROVER_RETURN_IF_ERROR(ReadDuration(*m, "window", {1000, 3'600'000, "1s", "1h"}, &d->window_ms));
    DROVER_RETURN_IF_ERROR(ReadDuration(*m, "upscale_delay", kDelay, &d->upscale_delay_ms));
    DROVER_RETURN_IF_ERROR(ReadDuration(*m, "downscale_delay", kDelay, &d->downscale_delay_ms));
    if (const Field* f = m->Find("scale_to_zero_after")) {
      if (d->min_replicas > 0) {
        return reader_.Error(*f, "needs replicas.min 0, not " + std::to_string(d->min_replicas));
      }
      DROVER_RETURN_IF_ERROR(
          ReadDuration(*m, "scale_to_zero_after", {1000, 24 * 3'600'000, "1s", "24h"}, &d->scale_to_zero_after_ms));
    }
    return Status::Ok();
  }

  // A duration field of `m` into `*out_ms` when it is there, rounded to a millisecond.
  Status ReadDuration(const FieldMap& m, const char* key, const DurationRange& range, int64_t* out_ms) const {
    const Field* f = m.Find(key);
    if (f == nullptr) return Status::Ok();
    Result<double> s = reader_.ReadQuantity<double>(*f, "a duration", &spec::ParseDurationSeconds);
    if (!s.ok()) return s.status();
    const int64_t ms = std::llround(*s * 1000);
    const std::string shown = spec::Shorten(f->node.Scalar());
    if (ms < range.min_ms) return reader_.Error(*f, shown + " must be at least " + range.min_text);
    if (ms > range.max_ms) return reader_.Error(*f, shown + " is above the maximum " + range.max_text);
    *out_ms = ms;
    return Status::Ok();
  }

  const spec::SpecReader reader_;
};

}  // namespace

Result<DeploymentSpec> ParseDeploymentSpec(std::string_view yaml_text, std::string_view file_name) {
  try {
    return DeploymentParser(file_name).Parse(yaml_text);
  } catch (const std::exception& e) {
    // Only a bug gets here: LoadDocument catches yaml-cpp's exceptions.
    return Internal(std::string(file_name) + ": internal error while reading the deployment: " + e.what());
  }
}

Result<DeploymentSpec> LoadDeploymentFile(const std::string& path) {
  Result<std::string> text = spec::ReadSpecFile(path);
  if (!text.ok()) return text.status();
  return ParseDeploymentSpec(*text, path);
}

}  // namespace drover
