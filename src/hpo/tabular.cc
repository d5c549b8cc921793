#include "hpo/tabular.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>

namespace drover::hpo {
namespace {

std::vector<std::string> Cells(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

bool ParseNumber(const std::string& s, double* out) {
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, *out);
  return ec == std::errc() && p == end;
}

// "valid_mse_seed3": a metric column.
bool IsMetric(const std::string& column) {
  size_t at = column.rfind("_seed");
  return at != std::string::npos && at + 5 < column.size() &&
         std::all_of(column.begin() + static_cast<long>(at) + 5, column.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Result<Table> Table::Parse(const std::string& csv, const std::string& name, bool ordered_numbers) {
  std::stringstream in(csv);
  std::string line;
  if (!std::getline(in, line)) return InvalidArgument(name + ": empty");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const std::vector<std::string> header = Cells(line);
  std::vector<int> params, metrics;
  for (int i = 0; i < static_cast<int>(header.size()); ++i) (IsMetric(header[i]) ? metrics : params).push_back(i);
  if (metrics.empty()) return InvalidArgument(name + ":1: no metric column (<metric>_seed<i>)");
  if (params.empty()) return InvalidArgument(name + ":1: no parameter column");

  std::vector<std::vector<std::string>> rows;
  std::vector<double> means;
  for (int line_no = 2; std::getline(in, line); ++line_no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> cells = Cells(line);
    if (cells.size() != header.size()) {
      return InvalidArgument(name + ":" + std::to_string(line_no) + ": " + std::to_string(cells.size()) +
                             " cells, the header has " + std::to_string(header.size()));
    }
    double sum = 0;
    int n = 0;
    for (int m : metrics) {
      if (cells[m].empty()) continue;
      double v = 0;
      if (!ParseNumber(cells[m], &v)) {
        return InvalidArgument(name + ":" + std::to_string(line_no) + ": " + header[m] + ": \"" + cells[m] +
                               "\" is not a number");
      }
      sum += v;
      ++n;
    }
    if (n == 0) return InvalidArgument(name + ":" + std::to_string(line_no) + ": no metric value");
    std::vector<std::string> key;
    for (int p : params) key.push_back(cells[p]);
    rows.push_back(std::move(key));
    means.push_back(sum / n);
  }
  if (rows.empty()) return InvalidArgument(name + ": no rows");

  // Each parameter's distinct values, numbers in numeric order.
  std::vector<Param> space;
  std::vector<std::map<std::string, int>> index(params.size());
  for (size_t j = 0; j < params.size(); ++j) {
    std::set<std::string> distinct;
    for (const auto& r : rows) distinct.insert(r[j]);
    std::vector<std::string> values(distinct.begin(), distinct.end());
    bool numeric = ordered_numbers && std::all_of(values.begin(), values.end(), [](const std::string& v) {
      double d;
      return ParseNumber(v, &d);
    });
    if (numeric) {
      std::sort(values.begin(), values.end(), [](const std::string& a, const std::string& b) {
        double x = 0, y = 0;
        ParseNumber(a, &x);
        ParseNumber(b, &y);
        return x < y;
      });
    }
    for (size_t k = 0; k < values.size(); ++k) index[j][values[k]] = static_cast<int>(k);
    Param p;
    p.name = header[params[j]];
    p.type = numeric ? ParamType::kOrdinal : ParamType::kCategorical;
    p.values = std::move(values);
    space.push_back(std::move(p));
  }
  Result<SearchSpace> made = SearchSpace::Make(std::move(space));
  if (!made.ok()) return InvalidArgument(name + ": " + made.status().message());
  Table t;
  t.space_ = std::move(made).value();
  if (!t.space_.GridSize().ok() || *t.space_.GridSize() > (int64_t{1} << 40)) {
    return InvalidArgument(name + ": too many configurations");
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    Config c(params.size());
    for (size_t j = 0; j < params.size(); ++j) c[j] = index[j][rows[r][j]];
    if (!t.values_.emplace(t.Key(c), means[r]).second) {
      return InvalidArgument(name + ":" + std::to_string(r + 2) + ": this configuration is listed twice");
    }
  }
  return t;
}

int64_t Table::Key(const Config& c) const {
  int64_t key = 0;
  for (int j = 0; j < space_.size(); ++j) key = key * space_.params()[j].Cardinality() + static_cast<int64_t>(c[j]);
  return key;
}

Result<double> Table::Value(const Config& c) const {
  if (!space_.Contains(c)) return InvalidArgument("not a configuration of the table's space");
  auto it = values_.find(Key(c));
  if (it == values_.end()) return NotFound("the table holds no value for this configuration");
  return it->second;
}

double Table::Best(bool minimize) const {
  double best = minimize ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  for (const auto& [k, v] : values_) best = minimize ? std::min(best, v) : std::max(best, v);
  return best;
}

Result<std::vector<double>> RunOnTable(const Table& table, const TableRunOptions& options) {
  SamplerOptions so;
  so.seed = options.seed;
  auto sampler = MakeSampler(options.sampler, table.space(), so);
  if (!sampler.ok()) return sampler.status();
  Rng rng(options.seed);
  History history;
  std::vector<double> best_so_far;
  double best = options.minimize ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  for (int t = 0; t < options.trials; ++t) {
    Result<Config> c = (*sampler)->Suggest(history, rng);
    if (!c.ok()) break;  // a walked grid
    ++history.suggested;
    Result<double> v = table.Value(*c);
    if (v.ok()) {
      best = options.minimize ? std::min(best, *v) : std::max(best, *v);
      history.done.push_back({*c, options.minimize ? *v : -*v, 1});
    }
    best_so_far.push_back(best);
  }
  return best_so_far;
}

}  // namespace drover::hpo
