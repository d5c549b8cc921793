#include "sim/delaunay.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace drover::sim {
namespace {

double Linear(const Vec3& p) { return 1 + 2 * p[0] + 3 * p[1] + 4 * p[2]; }

LinearInterpolator3 CubeInterpolator() {
  std::vector<Vec3> points;
  std::vector<double> values;
  for (int x = 0; x < 2; ++x) {
    for (int y = 0; y < 2; ++y) {
      for (int z = 0; z < 2; ++z) {
        points.push_back({double(x), double(y), double(z)});
        values.push_back(Linear(points.back()));
      }
    }
  }
  auto interp = LinearInterpolator3::Build(points, values, 1);
  EXPECT_TRUE(interp.ok()) << interp.status().ToString();
  return std::move(interp).value();
}

TEST(DelaunayTest, ReproducesLinearFunctionsInsideTheHull) {
  LinearInterpolator3 interp = CubeInterpolator();
  for (Vec3 p : {Vec3{0.5, 0.5, 0.5}, Vec3{0.1, 0.9, 0.3}, Vec3{1, 1, 1}, Vec3{0, 0.25, 1}}) {
    double v = 0;
    ASSERT_TRUE(interp.Interpolate(p, &v));
    EXPECT_NEAR(v, Linear(p), 1e-12);
  }
}

TEST(DelaunayTest, SimplicesTileTheHull) {
  LinearInterpolator3 interp = CubeInterpolator();
  const Delaunay3& tri = interp.triangulation();
  double volume = 0;
  for (int s = 0; s < tri.num_simplices(); ++s) {
    const auto& v = tri.simplex(s);
    Vec3 a = tri.point(v[0]), b = tri.point(v[1]), c = tri.point(v[2]), d = tri.point(v[3]);
    for (int i = 0; i < 3; ++i) {
      a[i] -= d[i];
      b[i] -= d[i];
      c[i] -= d[i];
    }
    volume += std::fabs(a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) +
                        a[2] * (b[0] * c[1] - b[1] * c[0])) /
              6;
  }
  EXPECT_NEAR(volume, 1.0, 1e-12);
}

TEST(DelaunayTest, OutsideTheHullIsReportedOrProjected) {
  LinearInterpolator3 interp = CubeInterpolator();
  double v = -1;
  EXPECT_FALSE(interp.Interpolate({0.5, 0.5, 1.5}, &v));
  EXPECT_EQ(v, -1);
  // The nearest hull point of (0.5, 0.5, 1.5) is (0.5, 0.5, 1).
  EXPECT_FALSE(interp.InterpolateOrNearest({0.5, 0.5, 1.5}, &v));
  EXPECT_NEAR(v, Linear({0.5, 0.5, 1}), 1e-12);
  EXPECT_FALSE(interp.InterpolateOrNearest({-3, 2, 0.25}, &v));
  EXPECT_NEAR(v, Linear({0, 1, 0.25}), 1e-12);
}

// scipy.spatial.Delaunay of the same 2 x 3 x 3 grid (points in C order): a co-spherical input
// whose triangulation is decided by Qhull's options and the point order.
TEST(DelaunayTest, DegenerateGridTriangulatesAsScipy) {
  std::vector<Vec3> points;
  for (int x = 0; x < 2; ++x) {
    for (int y = 0; y < 3; ++y) {
      for (int z = 0; z < 3; ++z) points.push_back({double(x), double(y), double(z)});
    }
  }
  auto tri = Delaunay3::Build(points);
  ASSERT_TRUE(tri.ok()) << tri.status().ToString();
  std::set<std::array<int, 4>> got;
  int degenerate = 0;
  for (int s = 0; s < tri->num_simplices(); ++s) {
    std::array<int, 4> v = tri->simplex(s);
    std::sort(v.begin(), v.end());
    got.insert(v);
    degenerate += tri->degenerate(s);
  }
  const std::set<std::array<int, 4>> scipy = {
      {0, 1, 3, 9},    {1, 2, 4, 14},   {1, 2, 11, 14},  {1, 3, 4, 13},   {1, 3, 9, 10},
      {1, 3, 10, 13},  {1, 4, 13, 14},  {1, 10, 11, 14}, {1, 10, 13, 14}, {2, 4, 5, 14},
      {3, 4, 7, 16},   {3, 4, 13, 16},  {3, 6, 7, 16},   {3, 6, 15, 16},  {3, 9, 10, 13},
      {3, 9, 12, 13},  {3, 12, 13, 15}, {3, 13, 15, 16}, {4, 5, 7, 8},    {4, 5, 7, 13},
      {4, 5, 13, 14},  {4, 7, 13, 16},  {5, 7, 8, 17},   {5, 7, 13, 14},  {5, 7, 14, 17},
      {7, 13, 14, 17}, {7, 13, 16, 17}};
  EXPECT_EQ(tri->num_simplices(), 27);
  EXPECT_EQ(got, scipy);
  EXPECT_EQ(degenerate, 3);
}

TEST(DelaunayTest, BadInputIsAnError) {
  auto few = Delaunay3::Build({{0, 0, 0}, {1, 0, 0}, {0, 1, 0}});
  EXPECT_EQ(few.status().code(), StatusCode::kInvalidArgument);
  auto flat = Delaunay3::Build({{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {1, 1, 0}, {2, 3, 0}});
  EXPECT_EQ(flat.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(flat.status().message().find("Qhull"), std::string::npos) << flat.status().message();
  auto nan = Delaunay3::Build({{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, NAN}});
  EXPECT_EQ(nan.status().code(), StatusCode::kInvalidArgument);
  auto values = LinearInterpolator3::Build({{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, {1, 2}, 1);
  EXPECT_EQ(values.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace drover::sim
