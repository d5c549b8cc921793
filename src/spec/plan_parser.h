// Reading the resource plan, the consumer tree, from YAML.
//
//   consumers:
//     - name: research     # required; see consumer_path.h for what a name may hold
//       owned: 32          # GPUs guaranteed; 0..1000000, default 0
//       share: 2           # weight among siblings for idle GPUs; > 0, default 1
//       limit: 48          # most GPUs held at once; owned..1000000, default none
//       lend: true         # lend idle owned GPUs; default true
//       borrow: true       # take others' idle GPUs; default true
//       reclaim_grace: 60  # seconds or a duration ("90s", "2m", "1h"); default 30
//       children:          # consumers below this one, same fields
//         - name: vision
//           owned: 16
//
// Each consumer becomes a node of the ConsumerTree under the root "/", named by
// path ("/research/vision"). Children may own at most their parent's owned GPUs in
// all; top-level consumers are not checked against the cluster (see ConsumerTree).
//
// Every error is kInvalidArgument, "<file>:<line>: <field path>: <what>" (yaml_util.h);
// kNotFound only from LoadPlanFile for a missing file. The parser stops at the
// first error. Besides the errors of yaml_util.h and quantity.h:
//   plan.yaml:1: expected a map with a "consumers" list, got a list
//   plan.yaml:1: missing required field "consumers"
//   plan.yaml:5: consumers[1]: missing required field "name"
//   plan.yaml:9: consumers[0].children[1].name: duplicate consumer "vision" under /research (first at line 5)
//   plan.yaml:7: consumers[2].owned: -1 is negative
//   plan.yaml:3: consumers[0].children[1].share: "abc" is not a number
//   plan.yaml:4: consumers[0].share: 0 must be positive
//   plan.yaml:6: consumers[0].limit: 8 is below owned 16
//   plan.yaml:3: consumers[0].onwed: unknown field; did you mean "owned"?
//   plan.yaml:2: consumers: expected a list, got a map
//   plan.yaml:8: consumers[0].children: children own 40 GPUs in total, more than the 32 owned by /research
//   plan.yaml:40: consumers[0]...children: consumers nest deeper than 16 levels
//   plan.yaml:9000: consumers[3].children[2]: more than 10000 consumers
// Input over 1 MiB is refused; any input, however malformed, returns an error
// rather than crashing or running away (fuzz/plan_fuzz.cc checks this).
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/consumer_tree.h"
#include "common/status.h"

namespace drover {

//! Most consumers one plan may define.
inline constexpr int kMaxPlanConsumers = 10'000;

//! Parses a plan; `file_name` only labels error messages.
Result<ConsumerTree> ParsePlan(std::string_view yaml_text, std::string_view file_name);

//! Reads and parses the plan file at `path`, which labels its errors.
Result<ConsumerTree> LoadPlanFile(const std::string& path);

}  // namespace drover
