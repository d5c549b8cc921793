#include "spec/experiment_parser.h"

#include <cstdio>
#include <exception>
#include <functional>
#include <map>

#include <yaml-cpp/yaml.h>

#include "hpo/early_stopping.h"
#include "hpo/sampler.h"
#include "spec/consumer_path.h"
#include "spec/quantity.h"
#include "spec/yaml_util.h"

namespace drover {
namespace {

using spec::Field;
using spec::FieldMap;

constexpr std::size_t kMaxExperimentName = 40;  // "-<index>" must still fit a job name's 63
constexpr std::string_view kFields[] = {"name", "consumer", "search", "parameters", "trial"};
constexpr std::string_view kSearchFields[] = {"algorithm", "sampler",  "early_stopping", "metric",
                                              "goal",      "max_trials", "max_parallel", "max_failed_trials",
                                              "max_time",  "seed",     "resource"};
constexpr std::string_view kResourceFields[] = {"name", "min", "max", "reduction_factor"};
constexpr std::string_view kParamFields[] = {"type", "min", "max", "step", "values"};

// Replaces every ${...} in `text` by `lookup(inner)`; false (and the inner
// text in `*bad`) at the first one `lookup` does not know.
bool Substitute(const std::string& text, const std::function<bool(const std::string&, std::string*)>& lookup,
                std::string* out, std::string* bad) {
  out->clear();
  for (size_t i = 0; i < text.size();) {
    size_t at = text.find("${", i);
    if (at == std::string::npos) {
      out->append(text, i, std::string::npos);
      break;
    }
    size_t end = text.find('}', at);
    if (end == std::string::npos) {
      out->append(text, i, std::string::npos);
      break;
    }
    out->append(text, i, at - i);
    std::string inner = text.substr(at + 2, end - at - 2), value;
    if (!lookup(inner, &value)) {
      *bad = inner;
      return false;
    }
    out->append(value);
    i = end + 1;
  }
  return true;
}

class ExperimentParser {
 public:
  explicit ExperimentParser(std::string_view file) : reader_(file) {}

  Result<ExperimentSpec> Parse(std::string_view text) {
    Result<Field> doc = reader_.LoadDocument(text);
    if (!doc.ok()) return doc.status();
    Result<FieldMap> fields = reader_.ReadMap(*doc, kFields);
    if (!fields.ok()) return fields.status();
    ExperimentSpec e;
    for (const char* required : {"name", "search", "parameters", "trial"}) {
      if (!fields->Find(required)) return reader_.Error(*doc, std::string("missing required field \"") + required + "\"");
    }
    const Field& name = *fields->Find("name");
    Result<std::string> name_text = reader_.ReadString(name, kMaxExperimentName);
    if (!name_text.ok()) return name_text.status();
    if (!IsDnsLabelName(*name_text)) {
      return reader_.Error(name, spec::Quote(*name_text) +
                                     " must be lowercase letters, digits and '-', starting and ending with a letter or digit");
    }
    e.name = *name_text;
    if (const Field* f = fields->Find("consumer")) {
      Result<std::string> t = reader_.ReadString(*f, 1024);
      if (!t.ok()) return t.status();
      Result<std::string> path = spec::NormalizeConsumerPath(*t);
      if (!path.ok()) return reader_.Error(*f, path.status().message());
      e.consumer = *path;
    }
    DROVER_RETURN_IF_ERROR(ParseParameters(*fields->Find("parameters"), &e));
    DROVER_RETURN_IF_ERROR(ParseSearch(*fields->Find("search"), &e));
    DROVER_RETURN_IF_ERROR(ParseTrial(*fields->Find("trial"), &e));
    return e;
  }

 private:
  Status ParseParameters(const Field& at, ExperimentSpec* e) {
    if (!at.node.IsMap() || at.node.size() == 0) return reader_.Error(at, "expected a map of NAME: {type: ...}");
    std::vector<hpo::Param> params;
    for (const auto& kv : at.node) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
      int line = kv.second.Mark().line >= 0 ? kv.second.Mark().line + 1 : at.line;
      Field f{kv.second, spec::FieldPath(at.path, key), line, line};
      lines_[key] = f;
      Result<FieldMap> m = reader_.ReadMap(f, kParamFields);
      if (!m.ok()) return m.status();
      hpo::Param p;
      p.name = key;
      const Field* type = m->Find("type");
      if (!type) return reader_.Error(f, "missing required field \"type\"");
      Result<std::string> t = reader_.ReadString(*type, 32);
      if (!t.ok()) return t.status();
      static const std::map<std::string, hpo::ParamType> kTypes = {
          {"double", hpo::ParamType::kDouble},           {"log", hpo::ParamType::kLog},
          {"int", hpo::ParamType::kInt},                 {"categorical", hpo::ParamType::kCategorical},
          {"ordinal", hpo::ParamType::kOrdinal}};
      auto it = kTypes.find(*t);
      if (it == kTypes.end()) {
        return reader_.Error(*type, "unknown type " + spec::Quote(*t) + "; expected double, log, int, categorical or ordinal");
      }
      p.type = it->second;
      if (p.Indexed()) {
        const Field* values = m->Find("values");
        if (!values) return reader_.Error(f, "missing required field \"values\"");
        Result<std::vector<Field>> items = reader_.ReadList(*values);
        if (!items.ok()) return items.status();
        for (const Field& item : *items) {
          Result<std::string> v = reader_.ReadString(item, 1024);
          if (!v.ok()) return v.status();
          p.values.push_back(*v);
        }
        for (const char* extra : {"min", "max", "step"}) {
          if (m->Find(extra)) return reader_.Error(*m->Find(extra), std::string("a ") + *t + " parameter takes values, not " + extra);
        }
      } else {
        for (const char* bound : {"min", "max"}) {
          const Field* b = m->Find(bound);
          if (!b) return reader_.Error(f, std::string("missing required field \"") + bound + "\"");
          Result<double> v = reader_.ReadDecimal(*b);
          if (!v.ok()) return v.status();
          (std::string(bound) == "min" ? p.min : p.max) = *v;
        }
        if (const Field* s = m->Find("step")) {
          if (p.type != hpo::ParamType::kInt) return reader_.Error(*s, "only an int parameter takes a step");
          Result<int64_t> v = reader_.ReadInt(*s, 1, int64_t{1} << 40);
          if (!v.ok()) return v.status();
          p.step = *v;
        }
        if (m->Find("values")) return reader_.Error(*m->Find("values"), "a range takes min and max, not values");
      }
      params.push_back(std::move(p));
    }
    Result<hpo::SearchSpace> space = hpo::SearchSpace::Make(std::move(params));
    if (!space.ok()) return Locate(space.status());
    e->search.space = std::move(space).value();
    return Status::Ok();
  }

  // A search-space message names "parameters.NAME: ..."; point at that parameter's line.
  Status Locate(const Status& st) {
    const std::string& m = st.message();
    for (const auto& [name, f] : lines_) {
      const std::string prefix = "parameters." + name + ": ";
      if (m.compare(0, prefix.size(), prefix) == 0) return reader_.Error(f, m.substr(prefix.size()));
    }
    return reader_.Error(0, "parameters", m.compare(0, 12, "parameters: ") == 0 ? m.substr(12) : m);
  }

  Status ParseSearch(const Field& at, ExperimentSpec* e) {
    Result<FieldMap> m = reader_.ReadMap(at, kSearchFields);
    if (!m.ok()) return m.status();
    auto text = [&](const char* key, std::string* out) -> Status {
      if (const Field* f = m->Find(key)) {
        Result<std::string> t = reader_.ReadString(*f, 256);
        if (!t.ok()) return t.status();
        *out = *t;
      }
      return Status::Ok();
    };
    auto integer = [&](const char* key, int lo, int hi, int* out) -> Status {
      if (const Field* f = m->Find(key)) {
        Result<int64_t> v = reader_.ReadInt(*f, lo, hi);
        if (!v.ok()) return v.status();
        *out = static_cast<int>(*v);
      }
      return Status::Ok();
    };
    const Field* algorithm = m->Find("algorithm");
    if (!algorithm) return reader_.Error(at, "missing required field \"algorithm\"");
    DROVER_RETURN_IF_ERROR(text("algorithm", &e->algorithm));
    const std::string& a = e->algorithm;
    if (a == "random" || a == "grid" || a == "tpe") {
      e->search.sampler = a;
      if (const Field* f = m->Find("sampler")) {
        return reader_.Error(*f, "only asha and hyperband take a sampler; " + a + " is one");
      }
      DROVER_RETURN_IF_ERROR(text("early_stopping", &e->search.early_stopping));
      if (e->search.early_stopping == "none") e->search.early_stopping.clear();
      if (!e->search.early_stopping.empty() && e->search.early_stopping != "median" && e->search.early_stopping != "asha" &&
          e->search.early_stopping != "hyperband") {
        return reader_.Error(*m->Find("early_stopping"), "unknown rule " + spec::Quote(e->search.early_stopping) +
                                                             "; expected none, median, asha or hyperband");
      }
    } else if (a == "asha" || a == "hyperband") {
      e->search.early_stopping = a;
      e->search.sampler = "tpe";
      DROVER_RETURN_IF_ERROR(text("sampler", &e->search.sampler));
      if (e->search.sampler != "tpe" && e->search.sampler != "random") {
        return reader_.Error(*m->Find("sampler"), "unknown sampler " + spec::Quote(e->search.sampler) + "; expected tpe or random");
      }
      if (const Field* f = m->Find("early_stopping")) return reader_.Error(*f, a + " is itself the early stopping");
    } else {
      return reader_.Error(*algorithm, "unknown algorithm " + spec::Quote(a) +
                                           "; expected random, grid, tpe, asha or hyperband");
    }
    if (e->search.sampler == "grid") {
      Result<int64_t> size = e->search.space.GridSize();
      if (!size.ok()) return Locate(size.status());
    }
    const Field* metric = m->Find("metric");
    if (!metric) return reader_.Error(at, "missing required field \"metric\"");
    DROVER_RETURN_IF_ERROR(text("metric", &e->search.metric));
    const Field* goal = m->Find("goal");
    if (!goal) return reader_.Error(at, "missing required field \"goal\" (maximize or minimize)");
    std::string g;
    DROVER_RETURN_IF_ERROR(text("goal", &g));
    if (g != "maximize" && g != "minimize") return reader_.Error(*goal, spec::Quote(g) + " is not maximize or minimize");
    e->search.maximize = g == "maximize";
    DROVER_RETURN_IF_ERROR(integer("max_trials", 1, 100000, &e->search.max_trials));
    DROVER_RETURN_IF_ERROR(integer("max_parallel", 1, 10000, &e->search.max_parallel));
    DROVER_RETURN_IF_ERROR(integer("max_failed_trials", 1, 100000, &e->search.max_failed));
    if (const Field* f = m->Find("max_time")) {
      Result<double> v = reader_.ReadQuantity<double>(*f, "a duration", &spec::ParseDurationSeconds);
      if (!v.ok()) return v.status();
      if (*v <= 0) return reader_.Error(*f, "must be above 0");
      e->search.max_time_s = *v;
    }
    if (const Field* f = m->Find("seed")) {
      Result<int64_t> v = reader_.ReadInt(*f, 0, int64_t{1} << 53);
      if (!v.ok()) return v.status();
      e->search.seed = static_cast<uint64_t>(*v);
    }
    if (const Field* f = m->Find("resource")) {
      Result<FieldMap> r = reader_.ReadMap(*f, kResourceFields);
      if (!r.ok()) return r.status();
      for (const char* key : {"name", "min", "max"}) {
        if (!r->Find(key)) return reader_.Error(*f, std::string("missing required field \"") + key + "\"");
      }
      Result<std::string> n = reader_.ReadString(*r->Find("name"), 64);
      if (!n.ok()) return n.status();
      e->search.stopping.resource = *n;
      Result<double> lo = reader_.ReadDecimal(*r->Find("min"));
      if (!lo.ok()) return lo.status();
      Result<double> hi = reader_.ReadDecimal(*r->Find("max"));
      if (!hi.ok()) return hi.status();
      e->search.stopping.min_resource = *lo;
      e->search.stopping.max_resource = *hi;
      if (const Field* rf = r->Find("reduction_factor")) {
        Result<double> v = reader_.ReadDecimal(*rf);
        if (!v.ok()) return v.status();
        e->search.stopping.eta = *v;
      }
      e->has_resource = true;
      if (!e->search.early_stopping.empty()) {
        auto rule = hpo::MakeEarlyStopper(e->search.early_stopping, e->search.stopping);
        if (!rule.ok()) {
          const std::string& msg = rule.status().message();
          return reader_.Error(f->line, "search." + msg.substr(0, msg.find(':')), msg.substr(msg.find(':') + 2));
        }
      }
    } else if (!e->search.early_stopping.empty()) {
      return reader_.Error(at.line, "search.resource",
                           e->search.early_stopping + " stops trials at resource levels; give resource: {name, min, max}");
    }
    return Status::Ok();
  }

  Status ParseTrial(const Field& at, ExperimentSpec* e) {
    Result<ParsedJob> job = ParseJobField(reader_, at, /*name_required=*/false);
    if (!job.ok()) return job.status();
    if (!job->spec.consumer.empty() && job->spec.consumer != "/" && job->spec.consumer != e->consumer) {
      return reader_.Error(at.line, "trial.consumer", "trials run in the experiment's consumer; set consumer: at the top");
    }
    e->trial = std::move(job).value();
    // Every placeholder must name something: check with the first point of the space.
    hpo::Rng rng(0);
    const hpo::Config probe = e->search.space.Sample(rng);
    std::string bad;
    // The line of the value at key (and subkey) in the trial's map.
    auto line_of = [&](const char* key, const std::string& subkey) {
      const YAML::Node n = subkey.empty() ? at.node[key] : at.node[key][subkey];
      return n.IsDefined() && n.Mark().line >= 0 ? n.Mark().line + 1 : at.line;
    };
    auto check = [&](const std::string& text, const char* key, const std::string& subkey) -> Status {
      std::string out;
      if (Substitute(text, Lookup(*e, probe, 0), &out, &bad)) return Status::Ok();
      return reader_.Error(line_of(key, subkey), "trial." + std::string(key) + (subkey.empty() ? "" : "." + subkey),
                           "${" + bad + "}: " + Explain(*e, bad));
    };
    for (const std::string& word : e->trial.argv) DROVER_RETURN_IF_ERROR(check(word, "command", ""));
    for (const auto& [k, v] : e->trial.env) DROVER_RETURN_IF_ERROR(check(v, "env", k));
    return Status::Ok();
  }

 public:
  static std::function<bool(const std::string&, std::string*)> Lookup(const ExperimentSpec& e, const hpo::Config& c,
                                                                    int index) {
    return [&e, &c, index](const std::string& inner, std::string* out) {
      if (inner.rfind("params.", 0) == 0) {
        int p = e.search.space.Find(inner.substr(7));
        if (p < 0) return false;
        *out = e.search.space.Text(c, p);
        return true;
      }
      if (e.has_resource && inner == "resource." + e.search.stopping.resource) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", e.search.stopping.max_resource);
        *out = buf;
        return true;
      }
      if (inner == "trial.index") {
        *out = std::to_string(index);
        return true;
      }
      if (inner == "experiment.name") {
        *out = e.name;
        return true;
      }
      return false;
    };
  }

 private:
  static std::string Explain(const ExperimentSpec& e, const std::string& bad) {
    if (bad.rfind("params.", 0) == 0) {
      std::string names;
      for (const hpo::Param& p : e.search.space.params()) names += (names.empty() ? "" : ", ") + p.name;
      return "no parameter " + spec::Quote(bad.substr(7)) + " (parameters: " + names + ")";
    }
    if (bad.rfind("resource.", 0) == 0) {
      return e.has_resource ? "the resource is " + spec::Quote(e.search.stopping.resource)
                            : "search.resource is not given";
    }
    return "unknown placeholder; expected params.NAME, resource.NAME, trial.index or experiment.name";
  }

  spec::SpecReader reader_;
  std::map<std::string, Field> lines_;  //!< each parameter's field, to point errors at
};

}  // namespace

Result<ExperimentSpec> ParseExperimentSpec(std::string_view yaml_text, std::string_view file_name) {
  try {
    return ExperimentParser(file_name).Parse(yaml_text);
  } catch (const std::exception& e) {
    return Internal(std::string(file_name) + ": internal error while reading the experiment: " + e.what());
  }
}

ParsedJob TrialJob(const ExperimentSpec& e, const hpo::Config& config, int index, std::string* yaml) {
  ParsedJob job = e.trial;
  auto lookup = ExperimentParser::Lookup(e, config, index);
  std::string out, bad;
  for (std::string& word : job.argv) {
    if (Substitute(word, lookup, &out, &bad)) word = out;
  }
  for (auto& [k, v] : job.env) {
    if (Substitute(v, lookup, &out, &bad)) v = out;
  }
  if (Substitute(job.spec.command, lookup, &out, &bad)) job.spec.command = out;
  job.spec.name = e.name + "-" + std::to_string(index);
  job.spec.consumer = e.consumer.empty() ? job.spec.consumer : e.consumer;
  if (yaml) *yaml = JobSpecYaml(job);
  return job;
}

}  // namespace drover
