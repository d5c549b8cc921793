#include "sim/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace drover::sim {
namespace {

const char* const kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
                                "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#1b9e77", "#d95f02",
                                "#7570b3", "#e7298a", "#66a61e", "#e6ab02"};

std::string Color(size_t i) { return kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))]; }

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string Escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;
};

// A plot area with axes; maps data to pixels.
struct Frame {
  double x0, x1, y0, y1;
  bool log_x = false;
  static constexpr double kW = 720, kH = 300, kLeft = 60, kRight = 160, kTop = 30, kBottom = 40;
  double X(double x) const {
    double a = log_x ? std::log10(std::max(x, x0)) : x, lo = log_x ? std::log10(x0) : x0,
           hi = log_x ? std::log10(x1) : x1;
    return kLeft + (a - lo) / std::max(hi - lo, 1e-9) * (kW - kLeft - kRight);
  }
  double Y(double y) const { return kH - kBottom - (y - y0) / std::max(y1 - y0, 1e-9) * (kH - kTop - kBottom); }
};

std::string Axes(const Frame& f, const std::string& title, const std::string& xlabel,
                 const std::string& ylabel, const std::vector<double>& xticks,
                 const std::vector<std::string>& xtick_labels) {
  std::ostringstream o;
  o << "<text x='" << Frame::kLeft << "' y='18' class='t'>" << Escape(title) << "</text>";
  o << "<line x1='" << Frame::kLeft << "' y1='" << f.Y(f.y0) << "' x2='" << Frame::kW - Frame::kRight
    << "' y2='" << f.Y(f.y0) << "' class='ax'/>";
  o << "<line x1='" << Frame::kLeft << "' y1='" << f.Y(f.y0) << "' x2='" << Frame::kLeft << "' y2='"
    << f.Y(f.y1) << "' class='ax'/>";
  for (int k = 0; k <= 4; ++k) {
    double y = f.y0 + (f.y1 - f.y0) * k / 4;
    o << "<line x1='" << Frame::kLeft << "' y1='" << f.Y(y) << "' x2='" << Frame::kW - Frame::kRight
      << "' y2='" << f.Y(y) << "' class='grid'/>";
    o << "<text x='" << Frame::kLeft - 6 << "' y='" << f.Y(y) + 4 << "' class='yl'>"
      << Fmt(f.y1 - f.y0 >= 10 ? "%.0f" : "%.2f", y) << "</text>";
  }
  for (size_t k = 0; k < xticks.size(); ++k) {
    o << "<text x='" << f.X(xticks[k]) << "' y='" << Frame::kH - Frame::kBottom + 16 << "' class='xl'>"
      << Escape(xtick_labels[k]) << "</text>";
  }
  o << "<text x='" << (Frame::kLeft + Frame::kW - Frame::kRight) / 2 << "' y='" << Frame::kH - 6
    << "' class='xl'>" << Escape(xlabel) << "</text>";
  o << "<text x='14' y='" << Frame::kH / 2 << "' class='xl' transform='rotate(-90 14 " << Frame::kH / 2
    << ")'>" << Escape(ylabel) << "</text>";
  return o.str();
}

std::string Legend(const std::vector<std::string>& names) {
  std::ostringstream o;
  for (size_t i = 0; i < names.size() && i < 16; ++i) {
    double y = Frame::kTop + 16 * static_cast<double>(i);
    o << "<rect x='" << Frame::kW - Frame::kRight + 12 << "' y='" << y << "' width='10' height='10' fill='"
      << Color(i) << "'/><text x='" << Frame::kW - Frame::kRight + 26 << "' y='" << y + 9
      << "' class='lg'>" << Escape(names[i]) << "</text>";
  }
  return o.str();
}

std::string Svg(const std::string& body) {
  std::ostringstream o;
  o << "<svg viewBox='0 0 " << Frame::kW << " " << Frame::kH << "' width='" << Frame::kW
    << "' height='" << Frame::kH << "' xmlns='http://www.w3.org/2000/svg'>" << body << "</svg>";
  return o.str();
}

std::string JctCdf(const std::vector<SimResult>& runs) {
  std::vector<Series> series;
  double lo = 1e18, hi = 0;
  for (const SimResult& r : runs) {
    std::vector<double> jcts;
    for (const JobOutcome& j : r.jobs) {
      if (j.finished()) jcts.push_back(std::max(j.jct(), 1.0) / 3600.0);
    }
    std::sort(jcts.begin(), jcts.end());
    Series s{r.policy, {}};
    // At most ~800 steps per curve: the picture is the same, the file stays small.
    size_t stride = std::max<size_t>(1, jcts.size() / 800);
    for (size_t i = 0; i < jcts.size(); ++i) {
      if (i % stride != 0 && i + 1 != jcts.size()) continue;
      s.points.push_back({jcts[i], static_cast<double>(i + 1) / static_cast<double>(jcts.size())});
      lo = std::min(lo, jcts[i]);
      hi = std::max(hi, jcts[i]);
    }
    series.push_back(s);
  }
  if (hi <= 0) return "";
  Frame f{std::pow(10, std::floor(std::log10(lo))), std::pow(10, std::ceil(std::log10(hi))), 0, 1, true};
  std::vector<double> ticks;
  std::vector<std::string> labels;
  for (double t = f.x0; t <= f.x1 * 1.001; t *= 10) {
    ticks.push_back(t);
    labels.push_back(t < 1 ? Fmt("%.2gh", t) : Fmt("%.0fh", t));
  }
  std::ostringstream o;
  o << Axes(f, "Job completion time, CDF (log scale)", "JCT (hours)", "fraction of jobs", ticks, labels);
  std::vector<std::string> names;
  for (size_t i = 0; i < series.size(); ++i) {
    names.push_back(series[i].name);
    o << "<polyline fill='none' stroke='" << Color(i) << "' stroke-width='2' points='";
    double prev_y = 0;
    for (auto [x, y] : series[i].points) {
      o << f.X(x) << "," << f.Y(prev_y) << " " << f.X(x) << "," << f.Y(y) << " ";
      prev_y = y;
    }
    o << "'/>";
  }
  o << Legend(names);
  return Svg(o.str());
}

std::string GpusOverTime(const SimResult& r) {
  if (r.timeline.empty()) return "";
  // Hours since the first sample; only consumers that ever held a GPU are drawn.
  double t0 = r.timeline.front().time, t1 = r.timeline.back().time;
  Frame f{0, std::max(t1 - t0, 1.0) / 3600, 0, static_cast<double>(std::max(r.cluster_gpus, 1))};
  std::vector<size_t> shown;
  std::vector<std::string> names;
  for (size_t c = 0; c < r.consumers.size(); ++c) {
    for (const TimelineSample& s : r.timeline) {
      if (c < s.gpus.size() && s.gpus[c] > 0) {
        shown.push_back(c);
        names.push_back(r.consumers[c] == "/" ? "all jobs" : r.consumers[c]);
        break;
      }
    }
  }
  // Thin long timelines to at most ~600 columns.
  size_t step = std::max<size_t>(1, r.timeline.size() / 600);
  std::vector<double> ticks;
  std::vector<std::string> labels;
  for (int k = 0; k <= 5; ++k) {
    double t = f.x0 + (f.x1 - f.x0) * k / 5;
    ticks.push_back(t);
    labels.push_back(Fmt("%.0fh", t));
  }
  std::ostringstream o;
  o << Axes(f, "GPUs held per consumer over time — " + r.policy, "hours since the first submission", "GPUs",
            ticks, labels);
  std::vector<double> below(r.timeline.size(), 0);
  for (size_t k = 0; k < shown.size(); ++k) {
    size_t c = shown[k];
    std::ostringstream top;
    for (size_t i = 0; i < r.timeline.size(); i += step) {
      const TimelineSample& s = r.timeline[i];
      double b = below[i], t = b + (c < s.gpus.size() ? s.gpus[c] : 0);
      top << f.X((s.time - t0) / 3600) << "," << f.Y(t) << " ";
      below[i] = t;
    }
    // Close the band along the previous top, walking back.
    std::ostringstream back;
    std::vector<std::string> pts;
    for (size_t i = 0; i < r.timeline.size(); i += step) {
      const TimelineSample& s = r.timeline[i];
      double prev = below[i] - (c < s.gpus.size() ? s.gpus[c] : 0);
      pts.push_back(std::to_string(f.X((s.time - t0) / 3600)) + "," + std::to_string(f.Y(prev)));
    }
    for (auto it = pts.rbegin(); it != pts.rend(); ++it) back << *it << " ";
    o << "<polygon fill='" << Color(k) << "' fill-opacity='0.85' stroke='none' points='" << top.str()
      << back.str() << "'/>";
  }
  o << "<line x1='" << Frame::kLeft << "' y1='" << f.Y(r.cluster_gpus) << "' x2='"
    << Frame::kW - Frame::kRight << "' y2='" << f.Y(r.cluster_gpus) << "' class='cap'/>";
  o << Legend(names);
  return Svg(o.str());
}

std::string Hms(double s) {
  if (s <= 0) return "-";
  return Fmt("%.0f", s) + " s";
}

std::string VsPollux(const SimResult& r) {
  const std::optional<double> pollux = PolluxPublishedMeanJct(r.workload);
  return pollux && r.mean_jct > 0 ? Fmt("%.3fx", r.mean_jct / *pollux) : "-";
}

}  // namespace

std::optional<double> PolluxPublishedMeanJct(const std::string& workload) {
  static constexpr double kPublished[] = {2089, 3323, 2188, 2721, 2674, 2446, 3616, 2952};
  for (int n = 1; n <= 8; ++n) {
    if (workload == "workload-" + std::to_string(n) + ".csv") return kPublished[n - 1];
  }
  return std::nullopt;
}

std::string RenderTextTable(const std::vector<SimResult>& runs) {
  std::ostringstream o;
  char line[256];
  std::snprintf(line, sizeof line, "%-14s %-22s %5s %10s %10s %10s %10s %6s %8s %9s %9s\n", "POLICY", "WORKLOAD",
                "JOBS", "MEAN_JCT", "P50_JCT", "P99_JCT", "MAKESPAN", "UTIL", "CHANGES", "DECIDE95", "VS_POLLUX");
  o << line;
  for (const SimResult& r : runs) {
    std::string w = r.workload.size() > 22 ? r.workload.substr(0, 22) : r.workload;
    std::snprintf(line, sizeof line, "%-14s %-22s %5zu %9.0fs %9.0fs %9.0fs %9.0fs %5.1f%% %8lld %7.2fms %9s\n",
                  r.policy.c_str(), w.c_str(), r.jobs.size(), r.mean_jct, r.p50_jct, r.p99_jct, r.makespan,
                  100 * r.utilization, static_cast<long long>(r.placement_changes), r.decide_p95_ms, VsPollux(r).c_str());
    o << line;
    if (r.unfinished > 0) o << "  (" << r.unfinished << " jobs did not finish within the run)\n";
  }
  return o.str();
}

std::string RenderHtmlReport(const std::vector<SimResult>& runs, const std::string& title) {
  std::ostringstream o;
  o << "<!doctype html><html><head><meta charset='utf-8'><title>" << Escape(title) << "</title><style>"
    << "body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}"
    << "table{border-collapse:collapse;margin:12px 0}td,th{padding:4px 10px;border-bottom:1px solid #ddd;"
    << "text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}"
    << ".t{font-weight:600;font-size:14px}.ax{stroke:#333}.grid{stroke:#eee}.cap{stroke:#c00;"
    << "stroke-dasharray:4 3}.yl{font-size:11px;text-anchor:end}.xl{font-size:11px;text-anchor:middle}"
    << ".lg{font-size:11px}</style></head><body>";
  o << "<h1>" << Escape(title) << "</h1>";
  o << "<p>Simulated on " << (runs.empty() ? 0 : runs[0].cluster_gpus)
    << " GPUs. JCT = completion time - submission time. Utilization = GPU-seconds held / (GPUs x makespan). "
       "Changes = placement changes (each pauses the job for 30 s). drover learns each job's speedup "
       "profile online from the steps it runs; drover-oracle is given the true one. vs Pollux = mean JCT "
       "over Pollux's published mean JCT on the same workload (Pollux learns its profiles online too).</p>";
  o << "<table><tr><th>policy</th><th>workload</th><th>jobs</th><th>mean JCT</th><th>p50 JCT</th>"
       "<th>p99 JCT</th><th>makespan</th><th>GPU util.</th><th>changes</th><th>Decide p95</th>"
       "<th>vs Pollux (published)</th></tr>";
  for (const SimResult& r : runs) {
    o << "<tr><td>" << Escape(r.policy) << "</td><td>" << Escape(r.workload) << "</td><td>" << r.jobs.size()
      << (r.unfinished ? " (" + std::to_string(r.unfinished) + " unfinished)" : "") << "</td><td>"
      << Hms(r.mean_jct) << "</td><td>" << Hms(r.p50_jct) << "</td><td>" << Hms(r.p99_jct) << "</td><td>"
      << Hms(r.makespan) << "</td><td>" << Fmt("%.1f%%", 100 * r.utilization) << "</td><td>"
      << r.placement_changes << "</td><td>" << Fmt("%.2f ms", r.decide_p95_ms) << "</td><td>" << VsPollux(r)
      << "</td></tr>";
  }
  o << "</table>";
  o << JctCdf(runs);
  for (const SimResult& r : runs) {
    if (!r.fairness.empty()) {
      o << "<h2>Fairness — " << Escape(r.policy) << "</h2><table><tr><th>consumer</th><th>owned GPUs</th>"
           "<th>jobs</th><th>finished</th><th>mean JCT</th><th>GPU-hours received</th>"
           "<th>GPU-hours owed after grace</th></tr>";
      for (const ConsumerFairness& c : r.fairness) {
        o << "<tr><td>" << Escape(c.consumer) << "</td><td>" << c.owned << "</td><td>" << c.jobs << "</td><td>"
          << c.finished << "</td><td>" << Hms(c.mean_jct) << "</td><td>" << Fmt("%.1f", c.gpu_seconds / 3600)
          << "</td><td>" << Fmt("%.2f", c.owed_gpu_seconds / 3600) << "</td></tr>";
      }
      o << "</table>";
    }
    o << GpusOverTime(r);
  }
  o << "</body></html>\n";
  return o.str();
}

}  // namespace drover::sim
