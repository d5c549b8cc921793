// Hierarchical, demand-capped fair share of GPUs over the consumer tree.
//
// Each node divides what it was given among its children (and, as a
// pseudo-child with owned 0 and share 1, the jobs attached to the node itself):
//   1. guarantees: every child first gets its `owned` GPUs, up to its demand;
//   2. idle GPUs are then water-filled among children that want more, in
//      proportion to `share`, never above a child's demand or `limit`, and
//      above `owned` only when the child may `borrow`;
//   3. a child that may not `lend` keeps its idle owned GPUs out of step 2.
// The result is, per node, its entitlement: what it should hold this cycle if
// its demand stays as it is. Whole GPUs: fractions are rounded by largest
// remainder (ties to the lower index), so the sum at every level is exact.
// Pure and deterministic.
#pragma once

#include <cstdint>
#include <vector>

#include "common/consumer_tree.h"

namespace drover::sched {

//! `own_demand[n]`: GPUs wanted by jobs attached directly to node n.
//! `capacity`: GPUs the root divides. Returns entitlement per node (subtree).
std::vector<int64_t> ComputeEntitlements(const ConsumerTree& tree,
                                         const std::vector<int64_t>& own_demand,
                                         int64_t capacity);

//! Water-fills `amount` over items with `weights` and `caps` (real-valued,
//! exact). Exposed for tests.
std::vector<double> WaterFill(double amount, const std::vector<double>& weights,
                              const std::vector<double>& caps);

//! Rounds non-negative reals summing to an integer `total` to integers with the
//! same sum, by largest remainder; each result is floor or ceil of its input.
std::vector<int64_t> RoundPreservingSum(const std::vector<double>& x, int64_t total);

}  // namespace drover::sched
