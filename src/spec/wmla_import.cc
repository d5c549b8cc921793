#include "spec/wmla_import.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace drover {
namespace {

using json = nlohmann::json;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// A JSON value as the text of a YAML scalar: numbers as written, strings as they are.
std::string Text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

class Importer {
 public:
  Importer(std::string_view file) : file_(file) {}

  Result<WmlaImport> Run(std::string_view text, std::string_view trial_yaml, const std::string& name,
                         const std::string& consumer) {
    json body = json::parse(text, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return Bad("", "expected a JSON object (WMLA's hypersearch body)");
    if (!body.contains("algoDef") || !body["algoDef"].is_object()) return Bad("algoDef", "missing, or not an object");
    if (!body.contains("hyperParams") || !body["hyperParams"].is_array() || body["hyperParams"].empty()) {
      return Bad("hyperParams", "missing, or not a non-empty list");
    }
    for (const auto& [key, v] : body.items()) {
      if (key != "algoDef" && key != "hyperParams" && key != "hpoName" && key != "modelSession") {
        notes_.push_back(key + ": not mapped (no counterpart in drover)");
      }
    }
    if (body.contains("modelSession")) {
      notes_.push_back("modelSession: not mapped; the trial runs the job spec given with --trial");
    }
    YAML::Node doc(YAML::NodeType::Map);
    std::string exp_name = name;
    if (exp_name.empty() && body.contains("hpoName") && body["hpoName"].is_string()) exp_name = body["hpoName"];
    if (exp_name.empty()) return Bad("hpoName", "missing: give the experiment a name (--name)");
    doc["name"] = Lower(exp_name);
    if (!consumer.empty()) doc["consumer"] = consumer;
    Result<YAML::Node> search = Search(body["algoDef"], body.value("modelSession", json::object()));
    if (!search.ok()) return search.status();
    doc["search"] = *search;
    YAML::Node params(YAML::NodeType::Map);
    for (size_t i = 0; i < body["hyperParams"].size(); ++i) {
      DROVER_RETURN_IF_ERROR(Param(body["hyperParams"][i], "hyperParams[" + std::to_string(i) + "]", &params));
    }
    doc["parameters"] = params;
    YAML::Node trial;
    try {
      trial = YAML::Load(std::string(trial_yaml));
    } catch (const YAML::Exception& e) {
      return InvalidArgument("trial: " + std::string(e.what()));
    }
    if (!trial.IsMap()) return InvalidArgument("trial: expected a job spec (a YAML map)");
    doc["trial"] = trial;
    YAML::Emitter out;
    out << doc;
    return WmlaImport{std::string(out.c_str()) + "\n", notes_};
  }

 private:
  Status Bad(const std::string& field, const std::string& what) const {
    return InvalidArgument(std::string(file_) + ": " + (field.empty() ? "" : field + ": ") + what);
  }

  Result<YAML::Node> Search(const json& a, const json& session) {
    YAML::Node s(YAML::NodeType::Map);
    static const std::set<std::string> kKnown = {"algorithm",      "maxRunTime", "maxJobNum", "maxParalleJobNum",
                                                 "objectiveMetric", "objective", "hyperbandEta", "algoParams",
                                                 "maxEpoch"};
    for (const auto& [key, v] : a.items()) {
      if (!kKnown.count(key)) notes_.push_back("algoDef." + key + ": not mapped");
    }
    if (!a.contains("algorithm") || !a["algorithm"].is_string()) return Bad("algoDef.algorithm", "missing");
    const std::string algo = Lower(a["algorithm"]);
    if (algo == "random") {
      s["algorithm"] = "random";
    } else if (algo == "tpe") {
      s["algorithm"] = "tpe";
    } else if (algo == "bayesian") {
      s["algorithm"] = "tpe";
      notes_.push_back("algoDef.algorithm: Bayesian (a Gaussian process in WMLA) runs as tpe");
    } else if (algo == "hyperband") {
      s["algorithm"] = "hyperband";
    } else if (algo == "experimentgridsearch") {
      s["algorithm"] = "grid";
    } else {
      return Bad("algoDef.algorithm", "\"" + a["algorithm"].get<std::string>() +
                                          "\" is not one of Random, Bayesian, Tpe, Hyperband, ExperimentGridSearch");
    }
    if (!a.contains("objectiveMetric") || !a["objectiveMetric"].is_string()) {
      return Bad("algoDef.objectiveMetric", "missing");
    }
    s["metric"] = a["objectiveMetric"].get<std::string>();
    const std::string goal = a.contains("objective") && a["objective"].is_string() ? Lower(a["objective"]) : "minimize";
    if (goal != "minimize" && goal != "maximize") return Bad("algoDef.objective", "expected minimize or maximize");
    s["goal"] = goal;
    for (const auto& [from, to] : {std::pair{"maxJobNum", "max_trials"}, {"maxParalleJobNum", "max_parallel"}}) {
      if (!a.contains(from)) continue;
      if (!a[from].is_number_integer() || a[from].get<int64_t>() < 1) return Bad(std::string("algoDef.") + from, "expected a whole number above 0");
      s[to] = a[from].get<int64_t>();
    }
    if (a.contains("maxRunTime")) {
      if (!a["maxRunTime"].is_number() || a["maxRunTime"].get<double>() <= 0) return Bad("algoDef.maxRunTime", "expected minutes above 0");
      s["max_time"] = Num(a["maxRunTime"].get<double>()) + "m";
    }
    if (a.contains("algoParams") && a["algoParams"].is_array()) {
      for (const json& p : a["algoParams"]) {
        std::string n = p.is_object() ? p.value("name", "") : "";
        if (Lower(n) == "configspaceseed" || Lower(n) == "seed") {
          s["seed"] = std::stoll(Text(p.value("value", json("0"))));
        } else {
          notes_.push_back("algoDef.algoParams " + n + ": not mapped");
        }
      }
    }
    if (algo == "hyperband") {
      double max = 9;
      if (a.contains("maxEpoch") && a["maxEpoch"].is_number()) {
        max = a["maxEpoch"].get<double>();
      } else if (session.contains("epoch") && session["epoch"].is_number()) {
        max = session["epoch"].get<double>();
      } else {
        notes_.push_back("search.resource: WMLA gave no epoch count; assumed epochs 1..9 (edit resource.max)");
      }
      YAML::Node r(YAML::NodeType::Map);
      r["name"] = "epochs";
      r["min"] = 1;
      r["max"] = max;
      r["reduction_factor"] = a.contains("hyperbandEta") && a["hyperbandEta"].is_number() ? a["hyperbandEta"].get<double>() : 3.0;
      s["resource"] = r;
      notes_.push_back("search.resource: trials run ${resource.epochs} epochs; put it in the trial's command");
    } else if (a.contains("hyperbandEta")) {
      notes_.push_back("algoDef.hyperbandEta: only Hyperband uses it");
    }
    return s;
  }

  Status Param(const json& p, const std::string& at, YAML::Node* params) {
    if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) return Bad(at + ".name", "missing");
    const std::string name = p["name"];
    const std::string type = Lower(p.value("type", ""));
    const std::string data = Lower(p.value("dataType", ""));
    YAML::Node out(YAML::NodeType::Map);
    if (type == "range") {
      if (data == "double" || data == "float") {
        if (!p.contains("minDbVal") || !p.contains("maxDbVal")) return Bad(at, "a DOUBLE Range needs minDbVal and maxDbVal");
        bool log = p.contains("power") && !p["power"].is_null();
        out["type"] = log ? "log" : "double";
        out["min"] = p["minDbVal"].get<double>();
        out["max"] = p["maxDbVal"].get<double>();
        if (log) notes_.push_back(at + " (" + name + "): power -> a log-uniform range over [min, max]");
        if (p.contains("step")) notes_.push_back(at + " (" + name + "): step ignored on a DOUBLE range (continuous here)");
      } else if (data == "int") {
        if (!p.contains("minIntVal") || !p.contains("maxIntVal")) return Bad(at, "an INT Range needs minIntVal and maxIntVal");
        out["type"] = "int";
        out["min"] = p["minIntVal"].get<int64_t>();
        out["max"] = p["maxIntVal"].get<int64_t>();
        if (p.contains("step")) out["step"] = p["step"].get<int64_t>();
      } else {
        return Bad(at + ".dataType", "a Range is DOUBLE or INT");
      }
    } else if (type == "discrete") {
      const char* key = data == "str" ? "strVals" : data == "int" ? "intVals" : data == "double" ? "dblVals" : nullptr;
      if (!key) return Bad(at + ".dataType", "expected STR, INT or DOUBLE");
      if (!p.contains(key) || !p[key].is_array() || p[key].empty()) return Bad(at + "." + key, "expected a non-empty list");
      out["type"] = data == "str" ? "categorical" : "ordinal";
      YAML::Node values(YAML::NodeType::Sequence);
      std::vector<json> vals(p[key].begin(), p[key].end());
      if (data != "str") {
        std::sort(vals.begin(), vals.end(), [](const json& x, const json& y) { return x.get<double>() < y.get<double>(); });
      }
      for (const json& v : vals) values.push_back(Text(v));
      out["values"] = values;
    } else {
      return Bad(at + ".type", "expected Range or Discrete");
    }
    (*params)[name] = out;
    return Status::Ok();
  }

  std::string_view file_;
  std::vector<std::string> notes_;
};

}  // namespace

Result<WmlaImport> ImportWmla(std::string_view json_text, std::string_view file, std::string_view trial_yaml,
                              const std::string& name, const std::string& consumer) {
  try {
    return Importer(file).Run(json_text, trial_yaml, name, consumer);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string(file) + ": " + e.what());
  }
}

}  // namespace drover
