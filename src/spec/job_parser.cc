#include "spec/job_parser.h"

#include <algorithm>
#include <cctype>
#include <exception>

#include "spec/consumer_path.h"
#include "spec/quantity.h"
#include "spec/yaml_util.h"

#include <yaml-cpp/yaml.h>

namespace drover {
namespace {

using spec::Field;
using spec::FieldMap;

constexpr std::size_t kMaxJobNameLength = 63;
constexpr std::size_t kMaxUserLength = 256;
constexpr std::size_t kMaxPathLength = 1024;
constexpr int64_t kMaxGpusPerWorker = 1024;
// The parsed command is bounded by the input except through YAML aliases, which
// can repeat one long string many times.
constexpr std::size_t kMaxCommandBytes = std::size_t{1} << 20;

constexpr std::string_view kJobFields[] = {"name",      "consumer", "user", "priority",    "workers",
                                           "resources", "command",  "env",  "max_restarts"};
constexpr int64_t kMaxRestarts = 1000;
constexpr size_t kMaxEnvVars = 256;
constexpr std::string_view kWorkerFields[] = {"min", "max"};
constexpr std::string_view kResourceFields[] = {"gpus", "cpus", "memory"};

bool IsDnsLabel(std::string_view s) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return !s.empty() && alnum(s.front()) && alnum(s.back()) &&
         std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

}  // namespace

std::string ShellQuote(std::string_view word) {
  bool safe = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
  });
  if (safe) return std::string(word);
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  out += '\'';
  return out;
}

namespace {

class JobParser {
 public:
  explicit JobParser(const spec::SpecReader& reader) : reader_(reader) {}

  Result<ParsedJob> Parse(std::string_view text) {
    Result<Field> doc = reader_.LoadDocument(text);
    if (!doc.ok()) return doc.status();
    return ParseField(*doc, true);
  }

  Result<ParsedJob> ParseField(const Field& doc, bool name_required) {
    Result<FieldMap> fields = reader_.ReadMap(doc, kJobFields);
    if (!fields.ok()) return fields.status();
    ParsedJob job;
    JobSpec& spec = job.spec;

    const Field* name = fields->Find("name");
    if (name == nullptr && name_required) return reader_.Error(doc, "missing required field \"name\"");
    if (name != nullptr) {
      Result<std::string> name_text = reader_.ReadString(*name, kMaxJobNameLength);
      if (!name_text.ok()) return name_text.status();
      if (!IsDnsLabel(*name_text)) {
        return reader_.Error(*name, spec::Quote(*name_text) +
                                        " must be lowercase letters, digits and '-', starting and "
                                        "ending with a letter or digit");
      }
      spec.name = *name_text;
    }

    if (const Field* f = fields->Find("consumer")) {
      Result<std::string> text = reader_.ReadString(*f, kMaxPathLength);
      if (!text.ok()) return text.status();
      Result<std::string> path = spec::NormalizeConsumerPath(*text);
      if (!path.ok()) return reader_.Error(*f, path.status().message());
      spec.consumer = *path;
    }
    if (const Field* f = fields->Find("user")) {
      Result<std::string> text = reader_.ReadString(*f, kMaxUserLength);
      if (!text.ok()) return text.status();
      spec.user = *text;
    }
    if (const Field* f = fields->Find("priority")) {
      Result<int64_t> v = reader_.ReadInt(*f, -kMaxPriority, kMaxPriority);
      if (!v.ok()) return v.status();
      spec.priority = static_cast<int>(*v);
    }
    if (const Field* f = fields->Find("workers")) {
      Result<WorkerBounds> v = ParseWorkers(*f);
      if (!v.ok()) return v.status();
      spec.workers = *v;
    }
    if (const Field* f = fields->Find("resources")) {
      DROVER_RETURN_IF_ERROR(ParseResourcesField(reader_, *f, &spec.per_worker));
    }
    if (const Field* f = fields->Find("command")) {
      DROVER_RETURN_IF_ERROR(ParseCommand(*f, &job));
    }
    if (const Field* f = fields->Find("max_restarts")) {
      Result<int64_t> v = reader_.ReadInt(*f, 0, kMaxRestarts);
      if (!v.ok()) return v.status();
      job.max_restarts = static_cast<int>(*v);
    }
    if (const Field* f = fields->Find("env")) {
      DROVER_RETURN_IF_ERROR(ParseEnv(*f, &job));
    }
    return job;
  }

 private:
  // env: a map of NAME: value; names as a shell would accept them.
  Status ParseEnv(const Field& at, ParsedJob* job) {
    if (!at.node.IsMap()) return reader_.Error(at, "expected a map of NAME: value");
    if (at.node.size() > kMaxEnvVars) {
      return reader_.Error(at, "more than " + std::to_string(kMaxEnvVars) + " variables");
    }
    for (const auto& kv : at.node) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
      int line = kv.second.Mark().line >= 0 ? kv.second.Mark().line + 1 : at.line;
      Field value{kv.second, spec::FieldPath(at.path, key), line, line};
      bool ok = !key.empty() && !std::isdigit(static_cast<unsigned char>(key[0]));
      for (char c : key) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
      if (!ok) return reader_.Error(value, "\"" + key + "\" is not a valid variable name");
      Result<std::string> text = reader_.ReadScalar(value, "a string");
      if (!text.ok()) return text.status();
      job->env[key] = *text;
    }
    return Status::Ok();
  }

  Result<WorkerBounds> ParseWorkers(const Field& at) {
    if (at.node.IsScalar()) {
      Result<int64_t> n = reader_.ReadInt(at, 1, kMaxWorkers);
      if (!n.ok()) return n.status();
      return WorkerBounds{static_cast<int>(*n), static_cast<int>(*n)};
    }
    if (!at.node.IsMap()) {
      return reader_.Error(at, "expected a number or a map like {min: 1, max: 4}, got " +
                                   spec::Describe(at.node));
    }
    Result<FieldMap> fields = reader_.ReadMap(at, kWorkerFields);
    if (!fields.ok()) return fields.status();
    WorkerBounds bounds;
    if (const Field* f = fields->Find("min")) {
      Result<int64_t> v = reader_.ReadInt(*f, 1, kMaxWorkers);
      if (!v.ok()) return v.status();
      bounds.min = static_cast<int>(*v);
    }
    bounds.max = bounds.min;
    if (const Field* f = fields->Find("max")) {
      Result<int64_t> v = reader_.ReadInt(*f, 1, kMaxWorkers);
      if (!v.ok()) return v.status();
      if (*v < bounds.min) {
        return reader_.Error(*f, std::to_string(*v) + " is below workers.min " +
                                     std::to_string(bounds.min));
      }
      bounds.max = static_cast<int>(*v);
    }
    return bounds;
  }

  Status ParseCommand(const Field& at, ParsedJob* job) {
    if (at.node.IsScalar()) {
      const std::string& text = at.node.Scalar();
      if (text.empty()) return reader_.Error(at, "the command is empty");
      job->spec.command = text;
      job->argv = {"/bin/sh", "-c", text};
      return Status::Ok();
    }
    if (!at.node.IsSequence()) {
      return reader_.Error(at, "expected a string or a list of strings, got " +
                                   spec::Describe(at.node));
    }
    Result<std::vector<Field>> items = reader_.ReadList(at);
    if (!items.ok()) return items.status();
    if (items->empty()) return reader_.Error(at, "the list is empty");
    std::size_t bytes = 0;
    for (const Field& item : *items) {
      Result<std::string> word = reader_.ReadScalar(item, "a string");
      if (!word.ok()) return word.status();
      bytes += word->size() + 1;
      if (bytes > kMaxCommandBytes) {
        return reader_.Error(at, "longer than " + std::to_string(kMaxCommandBytes) + " bytes in all");
      }
      if (!job->spec.command.empty()) job->spec.command += ' ';
      job->spec.command += ShellQuote(*word);
      job->argv.push_back(std::move(*word));
    }
    return Status::Ok();
  }

  const spec::SpecReader& reader_;
};

}  // namespace

bool IsDnsLabelName(std::string_view s) { return IsDnsLabel(s); }

Status ParseResourcesField(const spec::SpecReader& reader, const spec::Field& at, Resources* out) {
  Result<spec::FieldMap> fields = reader.ReadMap(at, kResourceFields);
  if (!fields.ok()) return fields.status();
  if (const spec::Field* f = fields->Find("gpus")) {
    Result<int64_t> v = reader.ReadInt(*f, 0, kMaxGpusPerWorker);
    if (!v.ok()) return v.status();
    out->gpus = *v;
  }
  if (const spec::Field* f = fields->Find("cpus")) {
    Result<int64_t> v = reader.ReadQuantity<int64_t>(*f, "a CPU count", &spec::ParseCpuMillis);
    if (!v.ok()) return v.status();
    out->cpu_millis = *v;
  }
  if (const spec::Field* f = fields->Find("memory")) {
    Result<int64_t> v = reader.ReadQuantity<int64_t>(*f, "a memory size", &spec::ParseMemoryMib);
    if (!v.ok()) return v.status();
    out->memory_mib = *v;
  }
  return Status::Ok();
}

Result<ParsedJob> ParseJobField(const spec::SpecReader& reader, const spec::Field& at, bool name_required) {
  return JobParser(reader).ParseField(at, name_required);
}

Result<ParsedJob> ParseJobSpec(std::string_view yaml_text, std::string_view file_name) {
  try {
    const spec::SpecReader reader(file_name);
    return JobParser(reader).Parse(yaml_text);
  } catch (const std::exception& e) {
    // Only a bug gets here: LoadDocument catches yaml-cpp's exceptions.
    return Internal(std::string(file_name) + ": internal error while reading the job: " + e.what());
  }
}

Result<ParsedJob> LoadJobFile(const std::string& path) {
  Result<std::string> text = spec::ReadSpecFile(path);
  if (!text.ok()) return text.status();
  return ParseJobSpec(*text, path);
}

std::string JobSpecYaml(const ParsedJob& job) {
  YAML::Emitter y;
  y << YAML::BeginMap << YAML::Key << "name" << YAML::Value << job.spec.name;
  if (!job.spec.consumer.empty()) y << YAML::Key << "consumer" << YAML::Value << job.spec.consumer;
  y << YAML::Key << "priority" << YAML::Value << job.spec.priority;
  y << YAML::Key << "workers" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "min" << YAML::Value
    << job.spec.workers.min << YAML::Key << "max" << YAML::Value << job.spec.workers.max << YAML::EndMap;
  y << YAML::Key << "resources" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "gpus"
    << YAML::Value << job.spec.per_worker.gpus << YAML::Key << "cpus" << YAML::Value
    << std::to_string(job.spec.per_worker.cpu_millis) + "m" << YAML::Key << "memory" << YAML::Value
    << std::to_string(job.spec.per_worker.memory_mib) + "Mi" << YAML::EndMap;
  y << YAML::Key << "command" << YAML::Value << YAML::Flow << job.argv;
  if (!job.env.empty()) y << YAML::Key << "env" << YAML::Value << job.env;
  if (job.max_restarts) y << YAML::Key << "max_restarts" << YAML::Value << *job.max_restarts;
  y << YAML::EndMap;
  return std::string(y.c_str()) + "\n";
}

}  // namespace drover
