#include "hpo/search_space.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace drover::hpo {

const char* Name(ParamType t) {
  switch (t) {
    case ParamType::kDouble: return "double";
    case ParamType::kLog: return "log";
    case ParamType::kInt: return "int";
    case ParamType::kCategorical: return "categorical";
    case ParamType::kOrdinal: return "ordinal";
  }
  return "?";
}

int64_t Param::Cardinality() const {
  switch (type) {
    case ParamType::kInt: return (static_cast<int64_t>(max) - static_cast<int64_t>(min)) / step + 1;
    case ParamType::kCategorical:
    case ParamType::kOrdinal: return static_cast<int64_t>(values.size());
    default: return 0;
  }
}

Result<SearchSpace> SearchSpace::Make(std::vector<Param> params) {
  if (params.empty()) return InvalidArgument("parameters: expected at least one parameter");
  std::set<std::string> names;
  for (const Param& p : params) {
    const std::string at = "parameters." + p.name + ": ";
    if (p.name.empty()) return InvalidArgument("parameters: a parameter has an empty name");
    if (!names.insert(p.name).second) return InvalidArgument(at + "defined twice");
    if (p.Indexed()) {
      if (p.values.empty()) return InvalidArgument(at + "values: expected at least one value");
      std::set<std::string> seen;
      for (const std::string& v : p.values) {
        if (!seen.insert(v).second) return InvalidArgument(at + "values: " + v + " is listed twice");
      }
      continue;
    }
    if (!std::isfinite(p.min) || !std::isfinite(p.max)) return InvalidArgument(at + "min and max must be finite");
    if (p.min > p.max) return InvalidArgument(at + "empty range: min is above max");
    if (p.type == ParamType::kLog && p.min <= 0) return InvalidArgument(at + "a log range needs min above 0");
    if (p.type == ParamType::kInt) {
      if (p.min != std::floor(p.min) || p.max != std::floor(p.max)) {
        return InvalidArgument(at + "an int range needs integer min and max");
      }
      if (p.step < 1) return InvalidArgument(at + "step: expected an integer of at least 1");
    }
  }
  SearchSpace s;
  s.params_ = std::move(params);
  return s;
}

int SearchSpace::Find(const std::string& name) const {
  for (int i = 0; i < size(); ++i) {
    if (params_[i].name == name) return i;
  }
  return -1;
}

Config SearchSpace::Sample(Rng& rng) const {
  Config c(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const Param& p = params_[i];
    switch (p.type) {
      case ParamType::kDouble: c[i] = std::uniform_real_distribution<double>(p.min, p.max)(rng); break;
      case ParamType::kLog:
        c[i] = std::exp(std::uniform_real_distribution<double>(std::log(p.min), std::log(p.max))(rng));
        c[i] = std::clamp(c[i], p.min, p.max);
        break;
      case ParamType::kInt:
        c[i] = p.min + p.step * static_cast<double>(std::uniform_int_distribution<int64_t>(0, p.Cardinality() - 1)(rng));
        break;
      case ParamType::kCategorical:
      case ParamType::kOrdinal:
        c[i] = static_cast<double>(std::uniform_int_distribution<int64_t>(0, p.Cardinality() - 1)(rng));
        break;
    }
  }
  return c;
}

Result<int64_t> SearchSpace::GridSize() const {
  int64_t n = 1;
  for (const Param& p : params_) {
    int64_t k = p.Cardinality();
    if (k == 0) {
      return InvalidArgument("parameters." + p.name + ": a grid needs discrete parameters, and this " + Name(p.type) +
                             " range is continuous (use int, categorical or ordinal)");
    }
    if (n > (int64_t{1} << 40) / k) return InvalidArgument("the grid has more than 2^40 points");
    n *= k;
  }
  return n;
}

Config SearchSpace::GridPoint(int64_t i) const {
  Config c(params_.size());
  for (size_t j = params_.size(); j-- > 0;) {
    const Param& p = params_[j];
    int64_t k = p.Cardinality();
    int64_t digit = i % k;
    i /= k;
    c[j] = p.type == ParamType::kInt ? p.min + static_cast<double>(digit * p.step) : static_cast<double>(digit);
  }
  return c;
}

std::string SearchSpace::Text(const Config& c, int p) const {
  const Param& param = params_[p];
  if (param.Indexed()) return param.values[static_cast<size_t>(c[p])];
  if (param.type == ParamType::kInt) return std::to_string(static_cast<int64_t>(c[p]));
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, c[p]);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(c[p]);
}

bool SearchSpace::Contains(const Config& c) const {
  if (c.size() != params_.size()) return false;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Param& p = params_[i];
    double v = c[i];
    if (!std::isfinite(v)) return false;
    if (p.Indexed()) {
      if (v != std::floor(v) || v < 0 || v >= static_cast<double>(p.values.size())) return false;
    } else if (v < p.min || v > p.max) {
      return false;
    } else if (p.type == ParamType::kInt && std::fmod(v - p.min, static_cast<double>(p.step)) != 0) {
      return false;
    }
  }
  return true;
}

}  // namespace drover::hpo
