// Delaunay3 and LinearInterpolator3: piecewise-linear interpolation over scattered 3-D points,
// reproducing scipy.interpolate.LinearNDInterpolator (the Pollux reference simulator's engine).
//
// The triangulation is built by libqhull_r with the options scipy.spatial.Delaunay uses in 3-D,
// "qhull d Qbb Qc Qz Q12 Qt", on the points in the order given. That matters: the Pollux throughput
// data lie on a grid, so many groups of points are co-spherical and their Delaunay triangulation
// is not unique. Qhull breaks those ties by its options and the insertion order, and another
// tie-break gives other values inside the affected cells. Simplices are the lower-Delaunay facets
// (degenerate, zero-volume ones from 'Qt' included, as scipy keeps them).
//
// Point location is scipy's, step for step, because the triangulation is not always a proper
// tiling: 'Qt' splits co-spherical cells so that flat quadrilaterals can be cut by both diagonals
// (once on each side, with zero-volume simplices between), and a point on such a face takes its
// value from whichever side is found. So, as scipy's LinearNDInterpolator does for one query
// point: start at simplex 0, walk on the lifted paraboloid to a facet the lifted point is above,
// then walk by barycentric coordinates (a point belongs to a simplex when all lie in
// [-kEps, 1 + kEps], kEps = 100 * DBL_EPSILON), and fall back to testing every simplex, where
// degenerate ones (reciprocal condition number below 1000 * DBL_EPSILON) are replaced by their
// neighbours with the looser kEpsBroad = sqrt(DBL_EPSILON) towards them.
//
// Outside the convex hull scipy yields NaN. Interpolate() reports that (returns false);
// InterpolateOrNearest() instead evaluates at the nearest point of the hull's boundary
// (Euclidean distance in the raw coordinates), which is the documented fallback.
//
// Thread safety: immutable after Build; every const method may be called concurrently.
// Errors: Build returns InvalidArgument for fewer than 4 points, non-finite coordinates, a value
// table of the wrong size, or when Qhull fails (its message is included).
#pragma once

#include <array>
#include <vector>

#include "common/status.h"

namespace drover::sim {

using Vec3 = std::array<double, 3>;

class Delaunay3 {
 public:
  //! scipy's tolerance on barycentric coordinates when locating a point.
  static constexpr double kEps = 100 * 2.220446049250313e-16;
  //! scipy's looser tolerance next to degenerate simplices: sqrt(DBL_EPSILON).
  static const double kEpsBroad;

  static Result<Delaunay3> Build(const std::vector<Vec3>& points);

  int num_points() const { return static_cast<int>(points_.size()); }
  int num_simplices() const { return static_cast<int>(simplices_.size()); }
  const Vec3& point(int i) const { return points_[i]; }
  //! Indices into the input points of simplex `s`'s vertices, in Qhull's order.
  const std::array<int, 4>& simplex(int s) const { return simplices_[s]; }
  //! The simplex across the face opposite vertex `k` of simplex `s`; -1 on the hull.
  int neighbor(int s, int k) const { return neighbors_[s][k]; }
  bool degenerate(int s) const { return degenerate_[s]; }

  //! Finds the simplex scipy finds for `x` and its barycentric coordinates (weights of
  //! simplex(s)'s vertices). Returns -1 when `x` is outside the triangulation.
  int FindSimplex(const Vec3& x, std::array<double, 4>* bary) const;

  //! The point of the hull's boundary nearest to `x`, as a boundary triangle and the weights of
  //! its three vertices.
  struct HullPoint {
    Vec3 point{};
    std::array<int, 3> vertices{};
    std::array<double, 3> weights{};
    double distance = 0;
  };
  HullPoint NearestHullPoint(const Vec3& x) const;

 private:
  bool Barycentric(int s, const Vec3& x, std::array<double, 4>* c) const;
  bool InBox(int s, const Vec3& x) const;
  double PlaneDistance(int s, const std::array<double, 4>& lifted) const;
  int FindBruteForce(const Vec3& x, std::array<double, 4>* c) const;

  std::vector<Vec3> points_;
  std::vector<std::array<int, 4>> simplices_;
  std::vector<std::array<int, 4>> neighbors_;
  // Per simplex: the hyperplane of its facet on the paraboloid (normal, offset), from Qhull.
  std::vector<std::array<double, 5>> equations_;
  double paraboloid_scale_ = 1;
  double paraboloid_shift_ = 0;
  // Per simplex: inverse of T (T e_j = r_j - r_3), row-major, then r_3. Unused when degenerate.
  std::vector<std::array<double, 12>> transforms_;
  std::vector<bool> degenerate_;
  // Per simplex: bounding box (min xyz, max xyz), widened well beyond what the barycentric
  // tolerances admit, so the exhaustive search can skip simplices without changing its answer.
  std::vector<std::array<double, 6>> boxes_;
  std::vector<std::array<int, 3>> hull_faces_;
  Vec3 min_bound_{};
  Vec3 max_bound_{};
};

class LinearInterpolator3 {
 public:
  //! `values` is row-major, num_values per point, in the order of `points`.
  static Result<LinearInterpolator3> Build(const std::vector<Vec3>& points,
                                           std::vector<double> values, int num_values);

  int num_values() const { return num_values_; }
  const Delaunay3& triangulation() const { return tri_; }

  //! Writes num_values() interpolated values to `out`; false (and `out` untouched) when `x` is
  //! outside the convex hull.
  bool Interpolate(const Vec3& x, double* out) const;
  //! As Interpolate, but outside the hull evaluates at the nearest hull point; returns whether
  //! `x` was inside.
  bool InterpolateOrNearest(const Vec3& x, double* out) const;

 private:
  LinearInterpolator3(Delaunay3 tri, std::vector<double> values, int num_values)
      : tri_(std::move(tri)), values_(std::move(values)), num_values_(num_values) {}

  Delaunay3 tri_;
  std::vector<double> values_;
  int num_values_ = 0;
};

}  // namespace drover::sim
