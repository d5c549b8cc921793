#include "serve/serve_metrics.h"

#include <gtest/gtest.h>

namespace drover::serve {
namespace {

bool Has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

TEST(ServeMetricsTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Histogram h({1, 2, 4});
  for (double v : {0.5, 1.0, 1.5, 3.0, 9.0}) h.Observe(v);
  const std::string text = h.Text("x", "help", "model=\"m\"");
  // le=1 holds 0.5 and 1.0; le=2 adds 1.5; le=4 adds 3.0; +Inf adds 9.0.
  EXPECT_TRUE(Has(text, "x_bucket{model=\"m\",le=\"1\"} 2")) << text;
  EXPECT_TRUE(Has(text, "x_bucket{model=\"m\",le=\"2\"} 3")) << text;
  EXPECT_TRUE(Has(text, "x_bucket{model=\"m\",le=\"4\"} 4")) << text;
  EXPECT_TRUE(Has(text, "x_bucket{model=\"m\",le=\"+Inf\"} 5")) << text;
  EXPECT_TRUE(Has(text, "x_sum{model=\"m\"} 15")) << text;
  EXPECT_TRUE(Has(text, "x_count{model=\"m\"} 5")) << text;
  EXPECT_TRUE(Has(text, "# TYPE x histogram")) << text;
  // Control: a bucket that did not fill is not reported as full.
  EXPECT_FALSE(Has(text, "x_bucket{model=\"m\",le=\"1\"} 3")) << text;
}

TEST(ServeMetricsTest, AnswersAreCountedByStatus) {
  ServeMetrics m("fmnist");
  m.Answered(200);
  m.Answered(200);
  m.Answered(400);
  m.Answered(503);
  m.Answered(418);  // any other status
  m.in_flight = 3;
  const std::string text = m.Text();
  EXPECT_TRUE(Has(text, "drover_serve_requests_total{model=\"fmnist\",code=\"200\"} 2")) << text;
  EXPECT_TRUE(Has(text, "drover_serve_requests_total{model=\"fmnist\",code=\"400\"} 1")) << text;
  EXPECT_TRUE(Has(text, "drover_serve_requests_total{model=\"fmnist\",code=\"404\"} 0")) << text;
  EXPECT_TRUE(Has(text, "drover_serve_requests_total{model=\"fmnist\",code=\"503\"} 1")) << text;
  EXPECT_TRUE(Has(text, "drover_serve_requests_total{model=\"fmnist\",code=\"other\"} 1")) << text;
  EXPECT_TRUE(Has(text, "drover_serve_in_flight{model=\"fmnist\"} 3")) << text;
  for (const char* name : {"drover_serve_queue_seconds", "drover_serve_compute_seconds", "drover_serve_batch_size"}) {
    EXPECT_TRUE(Has(text, std::string("# TYPE ") + name + " histogram")) << name;
  }
}

}  // namespace
}  // namespace drover::serve
