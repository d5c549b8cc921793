// A search space: the hyperparameters an experiment tunes, each a range or a
// list of values, and the points (configurations) in it.
//
// A configuration is a vector of doubles, one per parameter in order: the
// value itself for `double`, `log` and `int` parameters, and the index of the
// chosen value for `categorical` and `ordinal` ones (an ordinal's values are
// ordered, so searchers may treat nearby indices as similar; a categorical's
// are not). `Text` gives the value as a user wrote it ("0.01", "relu").
//
// Pure: no I/O; randomness comes in as an argument. Thread safety: const
// methods may be called from any thread.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/status.h"

namespace drover::hpo {

using Rng = std::mt19937_64;

enum class ParamType {
  kDouble,       //!< uniform in [min, max]
  kLog,          //!< log-uniform in [min, max], 0 < min
  kInt,          //!< integers min, min + step, ... <= max
  kCategorical,  //!< one of `values`, unordered
  kOrdinal,      //!< one of `values`, ordered (e.g. a table's distinct numbers)
};

//! "double", "log", "int", "categorical", "ordinal".
const char* Name(ParamType t);

struct Param {
  std::string name;
  ParamType type = ParamType::kDouble;
  double min = 0;                   //!< numeric types
  double max = 0;                   //!< numeric types
  int64_t step = 1;                 //!< kInt
  std::vector<std::string> values;  //!< kCategorical, kOrdinal: as written
  //! How many values it can take: 0 for a continuous range.
  int64_t Cardinality() const;
  //! True for categorical and ordinal: a configuration holds an index.
  bool Indexed() const { return type == ParamType::kCategorical || type == ParamType::kOrdinal; }
};

using Config = std::vector<double>;

class SearchSpace {
 public:
  //! kInvalidArgument naming the parameter: no parameters, a duplicate or
  //! empty name, an empty or inverted range, a log range not above 0, an int
  //! step below 1, or a list without values or with one twice.
  static Result<SearchSpace> Make(std::vector<Param> params);

  const std::vector<Param>& params() const { return params_; }
  int size() const { return static_cast<int>(params_.size()); }
  //! Index of the parameter called `name`, or -1.
  int Find(const std::string& name) const;

  //! A point drawn uniformly (log-uniformly for log parameters).
  Config Sample(Rng& rng) const;
  //! The number of points of a grid over the space; kInvalidArgument naming
  //! the first continuous parameter (a grid needs every parameter discrete).
  Result<int64_t> GridSize() const;
  //! The `i`-th grid point, 0 <= i < GridSize(), the last parameter fastest.
  Config GridPoint(int64_t i) const;
  //! Parameter `p`'s value in `c` as text: the value as written for lists,
  //! an integer for int, the shortest round-tripping decimal otherwise.
  std::string Text(const Config& c, int p) const;
  //! Whether `c` holds a valid point (right length, in range, on the step).
  bool Contains(const Config& c) const;

 private:
  std::vector<Param> params_;
};

}  // namespace drover::hpo
