// Tabular benchmarks: every configuration of a discrete space evaluated
// beforehand (HPOLib FCNet, NAS-Bench-201, or a user's own past results), so
// a sampler is judged in milliseconds by looking its suggestions up.
//
// The CSV's header names the parameter columns, then metric columns
// `<metric>_seed<i>`; a configuration's value is the mean of its metric
// cells (blank cells skipped). Every other column is a parameter over the
// table's distinct values: ordinal (ordered by value) when they are all
// numbers, categorical otherwise.
//
// Pure: the text comes in, values go out.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "hpo/sampler.h"
#include "hpo/search_space.h"

namespace drover::hpo {

class Table {
 public:
  //! Parses `csv` (`name` is for messages). kInvalidArgument naming the line:
  //! no metric column, a row with the wrong number of cells or no metric
  //! value, a configuration listed twice, or a cell that is not a number.
  //! With `ordered_numbers` false every parameter is categorical (how the
  //! peers' benchmarks describe these tables), else numbers are ordinal.
  static Result<Table> Parse(const std::string& csv, const std::string& name, bool ordered_numbers = true);

  const SearchSpace& space() const { return space_; }
  size_t rows() const { return values_.size(); }
  //! The value of `c`, or kNotFound when the table does not hold it.
  Result<double> Value(const Config& c) const;
  //! The table's best value: the lowest when `minimize`, else the highest.
  double Best(bool minimize) const;

 private:
  int64_t Key(const Config& c) const;
  SearchSpace space_;
  std::unordered_map<int64_t, double> values_;  //!< by the configuration's mixed-radix index
};

struct TableRunOptions {
  std::string sampler = "tpe";
  int trials = 100;
  uint64_t seed = 0;
  bool minimize = true;
};

//! Runs `options.trials` sequential trials of a sampler on `table`; the best
//! value found after each trial. A suggestion the table does not hold counts
//! as a trial that found nothing.
Result<std::vector<double>> RunOnTable(const Table& table, const TableRunOptions& options);

}  // namespace drover::hpo
