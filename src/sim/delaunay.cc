#include "sim/delaunay.h"

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

extern "C" {
#include <libqhull_r/qhull_ra.h>
}

namespace drover::sim {
namespace {

// scipy's default Delaunay options for fewer than 5 dimensions, plus the 'Qt' it always adds.
constexpr char kQhullCommand[] = "qhull d Qbb Qc Qz Q12 Qt";

// scipy rejects a barycentric transform whose reciprocal condition number is below this.
constexpr double kRcondLimit = 1000 * DBL_EPSILON;

double Dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 Sub(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }

// Closest point to p on triangle abc, as barycentric weights of (a, b, c). Region tests after
// Ericson, "Real-Time Collision Detection", 5.1.5.
std::array<double, 3> ClosestOnTriangle(const Vec3& p, const Vec3& a, const Vec3& b,
                                        const Vec3& c) {
  const Vec3 ab = Sub(b, a), ac = Sub(c, a), ap = Sub(p, a);
  const double d1 = Dot(ab, ap), d2 = Dot(ac, ap);
  if (d1 <= 0 && d2 <= 0) return {1, 0, 0};
  const Vec3 bp = Sub(p, b);
  const double d3 = Dot(ab, bp), d4 = Dot(ac, bp);
  if (d3 >= 0 && d4 <= d3) return {0, 1, 0};
  const double vc = d1 * d4 - d3 * d2;
  if (vc <= 0 && d1 >= 0 && d3 <= 0) {
    const double v = d1 / (d1 - d3);
    return {1 - v, v, 0};
  }
  const Vec3 cp = Sub(p, c);
  const double d5 = Dot(ab, cp), d6 = Dot(ac, cp);
  if (d6 >= 0 && d5 <= d6) return {0, 0, 1};
  const double vb = d5 * d2 - d1 * d6;
  if (vb <= 0 && d2 >= 0 && d6 <= 0) {
    const double w = d2 / (d2 - d6);
    return {1 - w, 0, w};
  }
  const double va = d3 * d6 - d5 * d4;
  if (va <= 0 && (d4 - d3) >= 0 && (d5 - d6) >= 0) {
    const double w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
    return {0, 1 - w, w};
  }
  const double denom = 1 / (va + vb + vc);
  const double v = vb * denom, w = vc * denom;
  return {1 - v - w, v, w};
}

}  // namespace

const double Delaunay3::kEpsBroad = std::sqrt(DBL_EPSILON);

Result<Delaunay3> Delaunay3::Build(const std::vector<Vec3>& points) {
  if (points.size() < 4) {
    return InvalidArgument("Delaunay3: need at least 4 points, got " +
                           std::to_string(points.size()));
  }
  std::vector<coordT> coords;
  coords.reserve(points.size() * 3);
  for (size_t i = 0; i < points.size(); ++i) {
    for (double v : points[i]) {
      if (!std::isfinite(v)) {
        return InvalidArgument("Delaunay3: point " + std::to_string(i) + " is not finite");
      }
      coords.push_back(v);
    }
  }

  Delaunay3 d;
  d.points_ = points;
  d.min_bound_ = d.max_bound_ = points[0];
  for (const Vec3& p : points) {
    for (int i = 0; i < 3; ++i) {
      d.min_bound_[i] = std::min(d.min_bound_[i], p[i]);
      d.max_bound_[i] = std::max(d.max_bound_[i], p[i]);
    }
  }

  // Qhull reports through a FILE*; capture it so a failure carries Qhull's own explanation.
  char* err_buf = nullptr;
  size_t err_len = 0;
  FILE* err = open_memstream(&err_buf, &err_len);
  qhT qh_storage;
  qhT* qh = &qh_storage;
  qh_zero(qh, err);
  char command[sizeof(kQhullCommand)];
  std::copy(std::begin(kQhullCommand), std::end(kQhullCommand), command);
  const int n = static_cast<int>(points.size());
  int exitcode = qh_new_qhull(qh, 3, n, coords.data(), False, command, nullptr, err);

  Status status;
  if (exitcode == 0) {
    facetT* facet;
    std::vector<int> id_map(qh->facet_id, -1);
    int count = 0;
    FORALLfacets {
      if (facet->upperdelaunay != qh->UPPERdelaunay) continue;
      if (qh_setsize(qh, facet->vertices) != 4 || qh_setsize(qh, facet->neighbors) != 4) {
        status = Internal("Delaunay3: Qhull produced a non-simplicial facet");
        break;
      }
      id_map[facet->id] = count++;
    }
    if (status.ok()) {
      d.simplices_.reserve(count);
      d.neighbors_.reserve(count);
      FORALLfacets {
        if (facet->upperdelaunay != qh->UPPERdelaunay) continue;
        std::array<int, 4> verts{}, nbrs{};
        std::array<double, 5> equation{};
        for (int i = 0; i < 4; ++i) equation[i] = facet->normal[i];
        equation[4] = facet->offset;
        d.equations_.push_back(equation);
        for (int i = 0; i < 4; ++i) {
          auto* vertex = static_cast<vertexT*>(facet->vertices->e[i].p);
          verts[i] = qh_pointid(qh, vertex->point);
          auto* neighbor = static_cast<facetT*>(facet->neighbors->e[i].p);
          nbrs[i] = id_map[neighbor->id];
          if (verts[i] < 0 || verts[i] >= n) {
            status = Internal("Delaunay3: Qhull returned an unknown vertex");
          }
        }
        d.simplices_.push_back(verts);
        d.neighbors_.push_back(nbrs);
      }
    }
  }
  if (exitcode == 0 && qh->SCALElast) {
    d.paraboloid_scale_ = qh->last_newhigh / (qh->last_high - qh->last_low);
    d.paraboloid_shift_ = -qh->last_low * d.paraboloid_scale_;
  }
  qh_freeqhull(qh, !qh_ALL);
  int curlong = 0, totlong = 0;
  qh_memfreeshort(qh, &curlong, &totlong);
  std::fclose(err);
  std::string message(err_buf ? err_buf : "", err_len);
  std::free(err_buf);
  if (exitcode != 0) {
    return InvalidArgument("Delaunay3: Qhull failed (exit " + std::to_string(exitcode) +
                           "): " + message);
  }
  DROVER_RETURN_IF_ERROR(status);

  // Barycentric transforms, as scipy's _get_barycentric_transforms. scipy hands its row-major
  // T to column-major LAPACK, so its condition check is in effect on T in the infinity norm.
  const int ns = d.num_simplices();
  d.transforms_.resize(ns);
  d.degenerate_.assign(ns, false);
  for (int s = 0; s < ns; ++s) {
    const Vec3& r = d.points_[d.simplices_[s][3]];
    double t[3][3];
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) t[i][j] = d.points_[d.simplices_[s][j]][i] - r[i];
    }
    const double c00 = t[1][1] * t[2][2] - t[1][2] * t[2][1];
    const double c01 = t[1][2] * t[2][0] - t[1][0] * t[2][2];
    const double c02 = t[1][0] * t[2][1] - t[1][1] * t[2][0];
    const double det = t[0][0] * c00 + t[0][1] * c01 + t[0][2] * c02;
    std::array<double, 12>& tr = d.transforms_[s];
    if (det == 0 || !std::isfinite(det)) {
      d.degenerate_[s] = true;
      continue;
    }
    double inv[3][3];
    inv[0][0] = c00 / det;
    inv[0][1] = (t[0][2] * t[2][1] - t[0][1] * t[2][2]) / det;
    inv[0][2] = (t[0][1] * t[1][2] - t[0][2] * t[1][1]) / det;
    inv[1][0] = c01 / det;
    inv[1][1] = (t[0][0] * t[2][2] - t[0][2] * t[2][0]) / det;
    inv[1][2] = (t[0][2] * t[1][0] - t[0][0] * t[1][2]) / det;
    inv[2][0] = c02 / det;
    inv[2][1] = (t[0][1] * t[2][0] - t[0][0] * t[2][1]) / det;
    inv[2][2] = (t[0][0] * t[1][1] - t[0][1] * t[1][0]) / det;
    double norm_t = 0, norm_inv = 0;
    for (int i = 0; i < 3; ++i) {
      norm_t = std::max(norm_t, std::fabs(t[i][0]) + std::fabs(t[i][1]) + std::fabs(t[i][2]));
      norm_inv =
          std::max(norm_inv, std::fabs(inv[i][0]) + std::fabs(inv[i][1]) + std::fabs(inv[i][2]));
    }
    if (1.0 / (norm_t * norm_inv) < kRcondLimit) {
      d.degenerate_[s] = true;
      continue;
    }
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) tr[3 * i + j] = inv[i][j];
      tr[9 + i] = r[i];
    }
  }

  d.boxes_.resize(ns);
  for (int s = 0; s < ns; ++s) {
    std::array<double, 6>& box = d.boxes_[s];
    box = {INFINITY, INFINITY, INFINITY, -INFINITY, -INFINITY, -INFINITY};
    for (int v : d.simplices_[s]) {
      for (int i = 0; i < 3; ++i) {
        box[i] = std::min(box[i], d.points_[v][i]);
        box[3 + i] = std::max(box[3 + i], d.points_[v][i]);
      }
    }
    // Barycentric slack b puts a point at most b * diameter outside; kEpsBroad is ~1.5e-8.
    const double size = (box[3] - box[0]) + (box[4] - box[1]) + (box[5] - box[2]);
    const double margin = 1e-6 * size + 1e-9;
    for (int i = 0; i < 3; ++i) {
      box[i] -= margin;
      box[3 + i] += margin;
    }
  }

  for (int s = 0; s < ns; ++s) {
    for (int k = 0; k < 4; ++k) {
      if (d.neighbors_[s][k] != -1) continue;
      std::array<int, 3> face{};
      int m = 0;
      for (int j = 0; j < 4; ++j) {
        if (j != k) face[m++] = d.simplices_[s][j];
      }
      d.hull_faces_.push_back(face);
    }
  }
  return d;
}

bool Delaunay3::Barycentric(int s, const Vec3& x, std::array<double, 4>* c) const {
  if (degenerate_[s]) return false;
  const std::array<double, 12>& tr = transforms_[s];
  (*c)[3] = 1.0;
  for (int i = 0; i < 3; ++i) {
    (*c)[i] = 0;
    for (int j = 0; j < 3; ++j) (*c)[i] += tr[3 * i + j] * (x[j] - tr[9 + j]);
    (*c)[3] -= (*c)[i];
  }
  return true;
}

bool Delaunay3::InBox(int s, const Vec3& x) const {
  const std::array<double, 6>& b = boxes_[s];
  return b[0] <= x[0] && x[0] <= b[3] && b[1] <= x[1] && x[1] <= b[4] && b[2] <= x[2] &&
         x[2] <= b[5];
}

int Delaunay3::FindBruteForce(const Vec3& x, std::array<double, 4>* c) const {
  // scipy's order matters (simplices can overlap), so scan in index order; the boxes only skip
  // tests that would fail.
  auto within = [](double v, double lo) { return -lo <= v && v <= 1 + kEps; };
  for (int s = 0; s < num_simplices(); ++s) {
    if (!degenerate_[s]) {
      if (!InBox(s, x)) continue;
      Barycentric(s, x, c);
      if (within((*c)[0], kEps) && within((*c)[1], kEps) && within((*c)[2], kEps) &&
          within((*c)[3], kEps)) {
        return s;
      }
      continue;
    }
    // A zero-volume simplex cannot be tested; accept a neighbour instead, with extra leeway
    // on the side facing the degenerate one (as scipy does).
    for (int k = 0; k < 4; ++k) {
      const int nb = neighbors_[s][k];
      if (nb == -1 || degenerate_[nb] || !InBox(nb, x)) continue;
      Barycentric(nb, x, c);
      bool inside = true;
      for (int m = 0; m < 4 && inside; ++m) {
        inside = within((*c)[m], neighbors_[nb][m] == s ? kEpsBroad : kEps);
      }
      if (inside) return nb;
    }
  }
  return -1;
}

double Delaunay3::PlaneDistance(int s, const std::array<double, 4>& lifted) const {
  const std::array<double, 5>& eq = equations_[s];
  double dist = eq[4];
  for (int k = 0; k < 4; ++k) dist += eq[k] * lifted[k];
  return dist;
}

int Delaunay3::FindSimplex(const Vec3& x, std::array<double, 4>* bary) const {
  for (int i = 0; i < 3; ++i) {
    if (x[i] < min_bound_[i] - kEps || x[i] > max_bound_[i] + kEps) return -1;
  }
  const int ns = num_simplices();
  if (ns == 0) return -1;

  // Walk on the paraboloid from simplex 0 towards a facet the lifted point lies above. The
  // neighbour scan deliberately continues with the next k of the simplex just moved to.
  std::array<double, 4> lifted = {x[0], x[1], x[2], 0};
  for (int i = 0; i < 3; ++i) lifted[3] += x[i] * x[i];
  lifted[3] *= paraboloid_scale_;
  lifted[3] += paraboloid_shift_;
  int s = 0;
  double best = PlaneDistance(s, lifted);
  for (bool changed = true; changed && !(best > 0);) {
    changed = false;
    for (int k = 0; k < 4; ++k) {
      const int nb = neighbors_[s][k];
      if (nb == -1) continue;
      const double dist = PlaneDistance(nb, lifted);
      if (dist > best + kEps * (1 + std::fabs(best))) {
        s = nb;
        best = dist;
        changed = true;
      }
    }
  }

  // Directed walk: hop across the first face whose barycentric coordinate is negative.
  // Rounding can make it cycle, so it is bounded, and falls back to testing every simplex.
  for (int cycle = 0; cycle < 1 + ns / 4; ++cycle) {
    if (!Barycentric(s, x, bary)) break;  // degenerate: scipy's NaN coordinates
    int next = -1;
    bool inside = true;
    for (int k = 0; k < 4; ++k) {
      const double ck = (*bary)[k];
      if (ck < -kEps) {
        next = k;
        break;
      }
      if (!(ck <= 1 + kEps)) inside = false;
    }
    if (next >= 0) {
      s = neighbors_[s][next];
      if (s == -1) return -1;  // the triangulation is convex: beyond a hull face is outside
      continue;
    }
    if (inside) return s;
    break;
  }
  return FindBruteForce(x, bary);
}

Delaunay3::HullPoint Delaunay3::NearestHullPoint(const Vec3& x) const {
  HullPoint best;
  best.distance = std::numeric_limits<double>::infinity();
  for (const std::array<int, 3>& face : hull_faces_) {
    const Vec3 &a = points_[face[0]], &b = points_[face[1]], &c = points_[face[2]];
    const std::array<double, 3> w = ClosestOnTriangle(x, a, b, c);
    Vec3 p;
    for (int i = 0; i < 3; ++i) p[i] = w[0] * a[i] + w[1] * b[i] + w[2] * c[i];
    const Vec3 diff = Sub(x, p);
    const double dist = std::sqrt(Dot(diff, diff));
    if (dist < best.distance) {
      best = HullPoint{p, face, w, dist};
    }
  }
  return best;
}

Result<LinearInterpolator3> LinearInterpolator3::Build(const std::vector<Vec3>& points,
                                                       std::vector<double> values, int num_values) {
  if (num_values <= 0 || values.size() != points.size() * static_cast<size_t>(num_values)) {
    return InvalidArgument("LinearInterpolator3: expected " + std::to_string(num_values) +
                           " values per point for " + std::to_string(points.size()) +
                           " points, got " + std::to_string(values.size()));
  }
  auto tri = Delaunay3::Build(points);
  if (!tri.ok()) return tri.status();
  return LinearInterpolator3(std::move(tri).value(), std::move(values), num_values);
}

bool LinearInterpolator3::Interpolate(const Vec3& x, double* out) const {
  std::array<double, 4> c{};
  const int s = tri_.FindSimplex(x, &c);
  if (s < 0) return false;
  for (int v = 0; v < num_values_; ++v) out[v] = 0;
  for (int k = 0; k < 4; ++k) {
    const double* row = &values_[static_cast<size_t>(tri_.simplex(s)[k]) * num_values_];
    for (int v = 0; v < num_values_; ++v) out[v] += c[k] * row[v];
  }
  return true;
}

bool LinearInterpolator3::InterpolateOrNearest(const Vec3& x, double* out) const {
  if (Interpolate(x, out)) return true;
  const Delaunay3::HullPoint hp = tri_.NearestHullPoint(x);
  for (int v = 0; v < num_values_; ++v) out[v] = 0;
  for (int k = 0; k < 3; ++k) {
    const double* row = &values_[static_cast<size_t>(hp.vertices[k]) * num_values_];
    for (int v = 0; v < num_values_; ++v) out[v] += hp.weights[k] * row[v];
  }
  return false;
}

}  // namespace drover::sim
