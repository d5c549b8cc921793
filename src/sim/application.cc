#include "sim/application.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "sim/delaunay.h"

namespace drover::sim {
namespace {

namespace fs = std::filesystem;

// The reference caps the node count fed to the 3-D interpolation at the cluster's 16 nodes.
constexpr int kMaxInterpolatedNodes = 16;
// Placement ids are digit strings; more digits than this do not fit an int64.
constexpr int kMaxIdDigits = 18;

// A small CSV of numbers with a header row: enough for the Pollux traces, with errors that
// name the file and line.
struct Csv {
  std::string path;
  std::vector<std::string> header;
  std::vector<std::vector<double>> rows;
  std::vector<int> lines;  // 1-based line number of each row
  int Column(const std::string& name) const {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return static_cast<int>(i);
    }
    return -1;
  }
};

std::vector<std::string> SplitLine(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

Result<Csv> ReadCsv(const std::string& path, const std::vector<std::string>& required) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open");
  Csv csv;
  csv.path = path;
  std::string line;
  int line_no = 0;
  bool have_header = false;
  while (std::getline(in, line)) {
    ++line_no;
    line = Trim(line);
    if (line.empty()) continue;
    std::vector<std::string> fields = SplitLine(line);
    for (std::string& f : fields) f = Trim(f);
    if (!have_header) {
      csv.header = std::move(fields);
      have_header = true;
      continue;
    }
    if (fields.size() != csv.header.size()) {
      return InvalidArgument(path + ":" + std::to_string(line_no) + ": expected " +
                             std::to_string(csv.header.size()) + " fields, got " +
                             std::to_string(fields.size()));
    }
    std::vector<double> row(fields.size());
    for (size_t i = 0; i < fields.size(); ++i) {
      const std::string& f = fields[i];
      const char* end = f.data() + f.size();
      auto [ptr, ec] = std::from_chars(f.data(), end, row[i]);
      if (f.empty() || ec != std::errc() || ptr != end || !std::isfinite(row[i])) {
        return InvalidArgument(path + ":" + std::to_string(line_no) + ": column '" + csv.header[i] +
                               "': '" + f + "' is not a finite number");
      }
    }
    csv.rows.push_back(std::move(row));
    csv.lines.push_back(line_no);
  }
  if (!have_header) return InvalidArgument(path + ": empty file, expected a header row");
  for (const std::string& name : required) {
    if (csv.Column(name) < 0) return InvalidArgument(path + ":1: missing column '" + name + "'");
  }
  if (csv.rows.empty()) return InvalidArgument(path + ": no data rows");
  return csv;
}

Status CheckPositiveInt(const Csv& csv, size_t row, int col, int64_t* out) {
  const double v = csv.rows[row][col];
  if (v < 1 || v != std::floor(v) || v > 9e15) {
    return InvalidArgument(csv.path + ":" + std::to_string(csv.lines[row]) + ": column '" +
                           csv.header[col] + "': expected a positive integer, got " +
                           std::to_string(v));
  }
  *out = static_cast<int64_t>(v);
  return Status::Ok();
}

uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct PairKey {
  int64_t a;
  uint64_t b;
  bool operator==(const PairKey&) const = default;
};
struct PairKeyHash {
  size_t operator()(const PairKey& k) const { return Mix(static_cast<uint64_t>(k.a) ^ Mix(k.b)); }
};

uint64_t DoubleBits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

std::string FormatNumber(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace

// Step times for every integer atomic_bsz in [min_local_bsz, hi] of one placement, for the
// goodput search.
struct BszTable {
  int lo = 0;
  std::vector<StepTimes> times;
  std::vector<char> measured;
};

struct Application::Caches {
  std::once_flag interp_once;
  std::unique_ptr<LinearInterpolator3> interp;
  Status interp_status;

  std::mutex mu;
  std::unordered_map<PairKey, StepTimes, PairKeyHash> throughput;
  std::unordered_map<int64_t, std::shared_ptr<const BszTable>> tables;
  std::unordered_map<PairKey, OptimalChoice, PairKeyHash> optimal;
  std::unordered_map<int, std::vector<double>> speedups;  // by epoch, k = 0..size-1
};

Application::Application() : caches_(std::make_unique<Caches>()) {}
Application::Application(Application&&) noexcept = default;
Application& Application::operator=(Application&&) noexcept = default;
Application::~Application() = default;

Result<Application> Application::Load(const std::string& trace_dir, const AppOverrides& overrides) {
  std::error_code ec;
  if (!fs::is_directory(trace_dir, ec)) {
    return NotFound("trace directory '" + trace_dir + "' does not exist");
  }
  Application app;
  fs::path dir(trace_dir);
  app.name_ = (dir.has_filename() ? dir.filename() : dir.parent_path().filename()).string();

  // validation-<batch size>.csv, one row per epoch.
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("validation-", 0) != 0 || entry.path().extension() != ".csv") continue;
    const std::string digits = file.substr(11, file.size() - 11 - 4);
    int bsz = 0;
    auto [ptr, perr] = std::from_chars(digits.data(), digits.data() + digits.size(), bsz);
    if (perr != std::errc() || ptr != digits.data() + digits.size() || bsz <= 0) {
      return InvalidArgument(entry.path().string() +
                             ": expected a name validation-<batch size>.csv");
    }
    auto csv = ReadCsv(entry.path().string(), {"progress", "grad_sqr", "grad_var"});
    if (!csv.ok()) return csv.status();
    Validation v;
    v.batch_size = bsz;
    const int p = csv->Column("progress"), s = csv->Column("grad_sqr"), g = csv->Column("grad_var");
    for (const std::vector<double>& row : csv->rows) {
      v.progress.push_back(row[p]);
      v.grad_sqr.push_back(row[s]);
      v.grad_var.push_back(row[g]);
    }
    app.validation_.push_back(std::move(v));
  }
  if (ec) return NotFound("cannot list '" + trace_dir + "': " + ec.message());
  if (app.validation_.empty()) {
    return NotFound("no validation-*.csv in trace directory '" + trace_dir + "'");
  }
  std::sort(app.validation_.begin(), app.validation_.end(),
            [](const Validation& a, const Validation& b) { return a.batch_size < b.batch_size; });
  for (size_t i = 0; i < app.validation_.size(); ++i) {
    if (i > 0 && app.validation_[i].batch_size == app.validation_[i - 1].batch_size) {
      return InvalidArgument(trace_dir + ": two validation files for batch size " +
                             std::to_string(app.validation_[i].batch_size));
    }
    app.validated_bsz_.push_back(app.validation_[i].batch_size);
  }

  // placements.csv: measured step times per placement and local batch size.
  const std::string placements_path = (dir / "placements.csv").string();
  auto placements = ReadCsv(placements_path, {"placement", "local_bsz", "step_time", "sync_time"});
  if (!placements.ok()) return placements.status();
  const int pc = placements->Column("placement"), lc = placements->Column("local_bsz"),
            sc = placements->Column("step_time"), yc = placements->Column("sync_time");
  struct Sum {
    double step = 0, sync = 0;
    int count = 0;
  };
  std::map<std::array<int64_t, 3>, Sum> grouped;  // sorted as pandas groupby sorts its keys
  int64_t min_local = std::numeric_limits<int64_t>::max(), max_local = 0;
  for (size_t r = 0; r < placements->rows.size(); ++r) {
    int64_t id = 0, bsz = 0;
    DROVER_RETURN_IF_ERROR(CheckPositiveInt(*placements, r, pc, &id));
    DROVER_RETURN_IF_ERROR(CheckPositiveInt(*placements, r, lc, &bsz));
    const std::string digits = std::to_string(id);
    int64_t replicas = 0;
    for (char c : digits) replicas += c - '0';
    const std::vector<double>& row = placements->rows[r];
    PlacementRows& rows = app.placements_[id];
    rows.local_bsz.push_back(static_cast<double>(bsz));
    rows.step_time.push_back(row[sc]);
    rows.sync_time.push_back(row[yc]);
    Sum& sum = grouped[{static_cast<int64_t>(digits.size()), replicas, bsz}];
    sum.step += row[sc];
    sum.sync += row[yc];
    ++sum.count;
    min_local = std::min(min_local, bsz);
    max_local = std::max(max_local, bsz);
  }
  for (auto& [id, rows] : app.placements_) {
    // interp1d sorts its x; keep rows of equal local_bsz in file order.
    std::vector<size_t> order(rows.local_bsz.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return rows.local_bsz[a] < rows.local_bsz[b]; });
    PlacementRows sorted;
    for (size_t i : order) {
      sorted.local_bsz.push_back(rows.local_bsz[i]);
      sorted.step_time.push_back(rows.step_time[i]);
      sorted.sync_time.push_back(rows.sync_time[i]);
    }
    rows = std::move(sorted);
  }
  for (const auto& [key, sum] : grouped) {
    app.nd_points_.push_back(
        {static_cast<double>(key[0]), static_cast<double>(key[1]), static_cast<double>(key[2])});
    app.nd_values_.push_back(sum.step / sum.count);
    app.nd_values_.push_back(sum.sync / sum.count);
  }

  // scalability.csv: larger clusters, appended after the grouped placements.
  const std::string scalability_path = (dir / "scalability.csv").string();
  auto scal = ReadCsv(scalability_path,
                      {"num_nodes", "num_replicas", "local_bsz", "step_time", "sync_time"});
  if (!scal.ok()) return scal.status();
  const int nc = scal->Column("num_nodes"), rc = scal->Column("num_replicas"),
            bc = scal->Column("local_bsz"), tc = scal->Column("step_time"),
            zc = scal->Column("sync_time");
  for (const std::vector<double>& row : scal->rows) {
    app.nd_points_.push_back({row[nc], row[rc], row[bc]});
    app.nd_values_.push_back(row[tc]);
    app.nd_values_.push_back(row[zc]);
  }

  size_t min_rows = std::numeric_limits<size_t>::max();
  for (const Validation& v : app.validation_) min_rows = std::min(min_rows, v.progress.size());
  app.init_batch_size_ = overrides.init_batch_size.value_or(app.validated_bsz_.front());
  app.max_batch_size_ = overrides.max_batch_size.value_or(app.validated_bsz_.back());
  app.min_local_bsz_ = overrides.min_local_bsz.value_or(static_cast<int>(min_local));
  app.max_local_bsz_ = overrides.max_local_bsz.value_or(static_cast<int>(max_local));
  app.max_epochs_ = overrides.max_epochs.value_or(static_cast<int>(min_rows));
  const std::string where = "application '" + app.name_ + "' (" + trace_dir + "): ";
  if (app.init_batch_size_ < 1 || app.min_local_bsz_ < 1) {
    return InvalidArgument(where + "init_batch_size and min_local_bsz must be positive");
  }
  if (app.max_batch_size_ < app.min_local_bsz_ || app.max_batch_size_ < app.init_batch_size_) {
    return InvalidArgument(where + "max_batch_size " + std::to_string(app.max_batch_size_) +
                           " is below min_local_bsz or init_batch_size");
  }
  if (app.max_local_bsz_ < app.min_local_bsz_) {
    return InvalidArgument(where + "max_local_bsz is below min_local_bsz");
  }
  if (app.max_epochs_ < 1 || static_cast<size_t>(app.max_epochs_) > min_rows) {
    return InvalidArgument(where + "max_epochs " + std::to_string(app.max_epochs_) +
                           " needs that many rows in every validation file (fewest: " +
                           std::to_string(min_rows) + ")");
  }
  return app;
}

Result<std::map<std::string, Application>> Application::LoadBundled(const std::string& traces_dir) {
  auto with_epochs = [](int epochs) {
    AppOverrides o;
    o.max_epochs = epochs;
    return o;
  };
  AppOverrides yolov3 = with_epochs(50);
  yolov3.max_local_bsz = 8;
  const std::pair<const char*, AppOverrides> kApps[] = {
      {"bert", with_epochs(2)},      {"cifar10", with_epochs(100)},    {"ncf", with_epochs(10)},
      {"imagenet", with_epochs(90)}, {"deepspeech2", with_epochs(80)}, {"yolov3", yolov3},
  };
  std::map<std::string, Application> apps;
  for (const auto& [name, overrides] : kApps) {
    auto app = Load((fs::path(traces_dir) / name).string(), overrides);
    if (!app.ok()) return app.status();
    apps.emplace(name, std::move(app).value());
  }
  return apps;
}

PlacementKey Application::Normalize(const std::vector<int>& placement) const {
  // The reference's key: zeros dropped, smallest rotation, digits read as an integer.
  int stack_buf[64];
  std::vector<int> heap_buf;
  int* p = stack_buf;
  int n = 0;
  for (int c : placement) n += c > 0;
  if (n > 64) {
    heap_buf.resize(n);
    p = heap_buf.data();
  }
  PlacementKey key;
  n = 0;
  bool digits_ok = true;
  for (int c : placement) {
    if (c <= 0) continue;
    p[n++] = c;
    key.num_replicas += c;
    digits_ok = digits_ok && c <= 9;
  }
  key.num_nodes = n;
  if (n == 0) return key;
  int best = 0;
  for (int r = 1; r < n; ++r) {
    for (int i = 0; i < n; ++i) {
      const int a = p[(r + i) % n], b = p[(best + i) % n];
      if (a != b) {
        if (a < b) best = r;
        break;
      }
    }
  }
  if (digits_ok && n <= kMaxIdDigits) {
    for (int i = 0; i < n; ++i) key.id = key.id * 10 + p[(best + i) % n];
    key.in_trace = placements_.count(key.id) > 0;
  } else {
    key.id = -1;
  }
  key.memo_id = key.in_trace
                    ? key.id
                    : -(static_cast<int64_t>(std::min(n, kMaxInterpolatedNodes)) * 1'000'000 +
                        key.num_replicas);
  return key;
}

Status Application::EnsureInterpolator() const {
  Caches& c = *caches_;
  std::call_once(c.interp_once, [&] {
    auto interp = LinearInterpolator3::Build(nd_points_, nd_values_, 2);
    if (interp.ok()) {
      c.interp = std::make_unique<LinearInterpolator3>(std::move(interp).value());
    } else {
      c.interp_status = InvalidArgument(
          "application '" + name_ + "': throughput interpolation: " + interp.status().message());
    }
  });
  return c.interp_status;
}

StepTimes Application::ComputeThroughput(const PlacementKey& key, double atomic_bsz, bool* measured,
                                         bool fallback) const {
  *measured = false;
  if (key.num_replicas <= 0) return {std::numeric_limits<double>::infinity(), 0};
  if (key.in_trace) {
    // interp1d over this placement's rows; clamped outside them.
    const PlacementRows& rows = placements_.at(key.id);
    const std::vector<double>& x = rows.local_bsz;
    const size_t n = x.size();
    if (atomic_bsz <= x.front() || n == 1) {
      *measured = atomic_bsz == x.front();
      return {rows.step_time.front(), rows.sync_time.front()};
    }
    if (atomic_bsz > x.back()) return {rows.step_time.back(), rows.sync_time.back()};
    *measured = true;
    size_t hi = std::lower_bound(x.begin(), x.end(), atomic_bsz) - x.begin();
    hi = std::clamp<size_t>(hi, 1, n - 1);
    const size_t lo = hi - 1;
    const double dx = x[hi] - x[lo];
    const double t = atomic_bsz - x[lo];
    return {(rows.step_time[hi] - rows.step_time[lo]) / dx * t + rows.step_time[lo],
            (rows.sync_time[hi] - rows.sync_time[lo]) / dx * t + rows.sync_time[lo]};
  }
  if (!EnsureInterpolator().ok()) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return {nan, nan};
  }
  const Vec3 x = {static_cast<double>(std::min(key.num_nodes, kMaxInterpolatedNodes)),
                  static_cast<double>(key.num_replicas), atomic_bsz};
  double out[2] = {std::numeric_limits<double>::quiet_NaN(),
                   std::numeric_limits<double>::quiet_NaN()};
  *measured = fallback ? caches_->interp->InterpolateOrNearest(x, out)
                       : caches_->interp->Interpolate(x, out);
  return {out[0], out[1]};
}

StepTimes Application::Throughput(const std::vector<int>& placement, double atomic_bsz) const {
  return Throughput(Normalize(placement), atomic_bsz);
}

StepTimes Application::Throughput(const PlacementKey& key, double atomic_bsz) const {
  if (key.num_replicas <= 0) return {std::numeric_limits<double>::infinity(), 0};
  Caches& c = *caches_;
  const PairKey memo_key{key.memo_id, DoubleBits(atomic_bsz)};
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.throughput.find(memo_key);
    if (it != c.throughput.end()) return it->second;
  }
  bool measured = false;
  const StepTimes times = ComputeThroughput(key, atomic_bsz, &measured);
  std::lock_guard<std::mutex> lock(c.mu);
  c.throughput.emplace(memo_key, times);
  return times;
}

Result<StepTimes> Application::MeasuredThroughput(const std::vector<int>& placement,
                                                  double atomic_bsz) const {
  const PlacementKey key = Normalize(placement);
  if (key.num_replicas <= 0) return InvalidArgument(name_ + ": empty placement");
  if (!key.in_trace) DROVER_RETURN_IF_ERROR(EnsureInterpolator());
  bool measured = false;
  const StepTimes times = ComputeThroughput(key, atomic_bsz, &measured, /*fallback=*/false);
  if (measured) return times;
  if (key.in_trace) {
    const PlacementRows& rows = placements_.at(key.id);
    return NotFound(name_ + ": placement " + std::to_string(key.id) +
                    " has no measured step time at local_bsz " + FormatNumber(atomic_bsz) +
                    " (placements.csv covers " + FormatNumber(rows.local_bsz.front()) + ".." +
                    FormatNumber(rows.local_bsz.back()) + ")");
  }
  return NotFound(name_ + ": (num_nodes, num_replicas, local_bsz) = (" +
                  std::to_string(std::min(key.num_nodes, kMaxInterpolatedNodes)) + ", " +
                  std::to_string(key.num_replicas) + ", " + FormatNumber(atomic_bsz) +
                  ") lies outside the convex hull of the throughput data");
}

double Application::Progress(int epoch) const {
  if (epoch <= 0) return 0.0;
  double best = std::numeric_limits<double>::infinity();
  for (const Validation& v : validation_) {
    const size_t row = std::min(static_cast<size_t>(epoch), v.progress.size()) - 1;
    best = std::min(best, v.progress[row]);
  }
  return best;
}

GradientStats Application::GradStats(double batch_size, int epoch) const {
  // Bracketing validated sizes (equal when batch_size is one of them or beyond the range).
  size_t lower = 0, upper = validation_.size() - 1;
  if (batch_size <= validation_.front().batch_size) {
    upper = 0;
  } else if (batch_size >= validation_.back().batch_size) {
    lower = upper;
  } else {
    for (size_t i = 0; i < validation_.size(); ++i) {
      if (validation_[i].batch_size <= batch_size) lower = i;
      if (validation_[i].batch_size >= batch_size) {
        upper = i;
        break;
      }
    }
  }
  auto at = [&](const std::vector<double>& col) {
    return col[std::clamp<size_t>(static_cast<size_t>(std::max(epoch, 0)), 0, col.size() - 1)];
  };
  const Validation& lo = validation_[lower];
  const Validation& hi = validation_[upper];
  if (lower == upper) return {at(lo.grad_sqr), at(lo.grad_var)};
  const double lo_b = lo.batch_size, hi_b = hi.batch_size;
  const double sqr =
      ((batch_size - lo_b) * at(hi.grad_sqr) + (hi_b - batch_size) * at(lo.grad_sqr)) /
      (hi_b - lo_b);
  const double var =
      ((batch_size - lo_b) * at(hi.grad_var) + (hi_b - batch_size) * at(lo.grad_var)) /
      (hi_b - lo_b);
  return {sqr, var};
}

Geometry Application::RigidGeometry(int num_replicas, int batch_size) const {
  Geometry g;
  g.num_replicas = num_replicas;
  if (num_replicas <= 0 || batch_size <= 0) {
    g.feasible = false;
    return g;
  }
  // Python's math.ceil(x - 1e-8) keeps exact quotients from rounding up.
  const double local = std::ceil(static_cast<double>(batch_size) / num_replicas - 1e-8);
  int accum = static_cast<int>(std::ceil(local / max_local_bsz_ - 1e-8)) - 1;
  if (num_replicas == 1 && batch_size > init_batch_size_) accum = std::max(1, accum);
  int atomic = static_cast<int>(std::ceil(local / (accum + 1) - 1e-8));
  const int count = num_replicas * (accum + 1);
  atomic = std::min(atomic, static_cast<int>(static_cast<double>(max_batch_size_) / count));
  g.atomic_bsz = atomic;
  g.accum_steps = accum;
  g.feasible = static_cast<int64_t>(num_replicas) * min_local_bsz_ <= max_batch_size_;
  return g;
}

double Application::Goodput(const std::vector<int>& placement, const Geometry& geometry,
                            int epoch) const {
  return Goodput(Normalize(placement), geometry, epoch);
}

double Application::Goodput(const PlacementKey& key, const Geometry& geometry, int epoch) const {
  if (key.num_replicas <= 0 || geometry.atomic_bsz <= 0) return 0.0;
  const int batch = key.num_replicas * geometry.atomic_bsz * (geometry.accum_steps + 1);
  const double scale = static_cast<double>(batch) / init_batch_size_;
  const StepTimes t = Throughput(key, geometry.atomic_bsz);
  const GradientStats g = GradStats(batch, epoch);
  const double gain = (g.grad_var + g.grad_sqr) / (g.grad_var / scale + g.grad_sqr);
  const double accum_time = t.step_time - t.sync_time;
  const double total_time = t.step_time + accum_time * geometry.accum_steps;
  return gain / total_time;
}

Application::OptimalChoice Application::ComputeOptimal(const PlacementKey& key, int epoch) const {
  OptimalChoice best;
  const int64_t replicas = key.num_replicas;
  best.geometry.num_replicas = key.num_replicas;
  if (replicas <= 0) {
    best.geometry.feasible = false;
    return best;
  }
  if (replicas * min_local_bsz_ > max_batch_size_) {
    best.geometry.atomic_bsz = min_local_bsz_;
    best.geometry.feasible = false;
    return best;
  }
  const int b_hi = static_cast<int>(std::min<int64_t>(max_local_bsz_, max_batch_size_ / replicas));

  // Step times for every candidate atomic size of this placement, built once per placement.
  std::shared_ptr<const BszTable> table;
  {
    std::lock_guard<std::mutex> lock(caches_->mu);
    auto it = caches_->tables.find(key.memo_id);
    if (it != caches_->tables.end()) table = it->second;
  }
  if (!table) {
    auto built = std::make_shared<BszTable>();
    built->lo = min_local_bsz_;
    for (int b = min_local_bsz_; b <= b_hi; ++b) {
      bool measured = false;
      // The nearest-hull fallback is costly and rarely needed here: computed on demand below.
      built->times.push_back(ComputeThroughput(key, b, &measured, /*fallback=*/false));
      built->measured.push_back(measured);
    }
    table = built;
    std::lock_guard<std::mutex> lock(caches_->mu);
    caches_->tables.emplace(key.memo_id, table);
  }

  // This epoch's gradient statistics of each validated batch size.
  const size_t nv = validation_.size();
  std::vector<double> vb(nv), vsqr(nv), vvar(nv);
  for (size_t i = 0; i < nv; ++i) {
    const Validation& v = validation_[i];
    const size_t row =
        std::clamp<size_t>(static_cast<size_t>(std::max(epoch, 0)), 0, v.grad_sqr.size() - 1);
    vb[i] = v.batch_size;
    vsqr[i] = v.grad_sqr[row];
    vvar[i] = v.grad_var[row];
  }

  // Exhaustive over integer (accum_steps, atomic_bsz): the interpolated step times are only
  // piecewise linear, so goodput need not be unimodal. Per-placement tables keep each
  // candidate to a few flops.
  double best_goodput = -1;
  for (int pass = 0; pass < 2 && best_goodput < 0; ++pass) {
    const bool measured_only = pass == 0;
    for (int64_t accum = 0;; ++accum) {
      const int64_t count = replicas * (accum + 1);
      if (count * min_local_bsz_ > max_batch_size_) break;
      const int64_t lo = std::max<int64_t>(min_local_bsz_, (init_batch_size_ + count - 1) / count);
      const int64_t hi = std::min<int64_t>(b_hi, max_batch_size_ / count);
      size_t bracket = 0;
      for (int64_t b = lo; b <= hi; ++b) {
        const size_t idx = static_cast<size_t>(b - table->lo);
        if (measured_only && !table->measured[idx]) continue;
        const double batch = static_cast<double>(count * b);
        while (bracket + 1 < nv && vb[bracket + 1] <= batch) ++bracket;
        double sqr = vsqr[bracket], var = vvar[bracket];
        if (batch > vb[bracket] && bracket + 1 < nv) {
          const double l = vb[bracket], h = vb[bracket + 1];
          sqr = ((batch - l) * vsqr[bracket + 1] + (h - batch) * vsqr[bracket]) / (h - l);
          var = ((batch - l) * vvar[bracket + 1] + (h - batch) * vvar[bracket]) / (h - l);
        }
        const double scale = batch / init_batch_size_;
        const double gain = (var + sqr) / (var / scale + sqr);
        const StepTimes t = table->measured[idx] ? table->times[idx] : Throughput(key, b);
        const double total = t.step_time + (t.step_time - t.sync_time) * accum;
        const double goodput = gain / total;
        if (goodput > best_goodput) {
          best_goodput = goodput;
          best.geometry.atomic_bsz = static_cast<int>(b);
          best.geometry.accum_steps = static_cast<int>(accum);
        }
      }
    }
  }
  if (best_goodput < 0) {
    best.geometry.atomic_bsz = min_local_bsz_;
    best.geometry.accum_steps = 0;
    best.geometry.feasible = false;
    return best;
  }
  best.goodput = best_goodput;
  return best;
}

Application::OptimalChoice Application::Optimal(const PlacementKey& key, int epoch) const {
  const PairKey memo_key{key.memo_id, static_cast<uint64_t>(epoch)};
  {
    std::lock_guard<std::mutex> lock(caches_->mu);
    auto it = caches_->optimal.find(memo_key);
    if (it != caches_->optimal.end()) return it->second;
  }
  const OptimalChoice choice = ComputeOptimal(key, epoch);
  std::lock_guard<std::mutex> lock(caches_->mu);
  caches_->optimal.emplace(memo_key, choice);
  return choice;
}

std::vector<double> Application::CompactSpeedups(int epoch, int max_workers) const {
  max_workers = std::max(max_workers, 0);
  {
    std::lock_guard<std::mutex> lock(caches_->mu);
    auto it = caches_->speedups.find(epoch);
    if (it != caches_->speedups.end() && it->second.size() > static_cast<size_t>(max_workers)) {
      return std::vector<double>(it->second.begin(), it->second.begin() + max_workers + 1);
    }
  }
  std::vector<double> speedups(max_workers + 1, 0.0);
  std::vector<int> placement;
  const double base = max_workers >= 1 ? OptimalGoodput(Normalize({1}), epoch) : 0.0;
  for (int k = 1; k <= max_workers && base > 0; ++k) {
    placement.clear();
    for (int left = k; left > 0; left -= kGpusPerNode) {
      placement.push_back(std::min(left, kGpusPerNode));
    }
    speedups[k] = OptimalGoodput(Normalize(placement), epoch) / base;
  }
  std::lock_guard<std::mutex> lock(caches_->mu);
  std::vector<double>& cached = caches_->speedups[epoch];
  if (cached.size() < speedups.size()) cached = speedups;
  return speedups;
}

Geometry Application::OptimalGeometry(const std::vector<int>& placement, int epoch) const {
  return Optimal(Normalize(placement), epoch).geometry;
}

Geometry Application::OptimalGeometry(const PlacementKey& key, int epoch) const {
  return Optimal(key, epoch).geometry;
}

double Application::OptimalGoodput(const PlacementKey& key, int epoch) const {
  return Optimal(key, epoch).goodput;
}

}  // namespace drover::sim
