// ConsumerTree: the resource plan, a tree of consumers named by path.
//
// A consumer is an organisation, a line of business, a project or a user
// (`/research/vision/alice`). Each node carries its plan:
//   owned          GPUs guaranteed to it (lent to others while idle, when `lend`)
//   share          weight among siblings when idle GPUs are divided
//   limit          most GPUs it may hold at once (none: no limit)
//   lend / borrow  whether idle owned GPUs leave it / whether it takes others'
//   reclaim_grace  seconds a borrower gets to give back GPUs this consumer is owed
// Node 0 is always the root "/", which stands for the whole cluster.
// Thread safety: a plain value; not synchronised.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace drover {

struct ConsumerPlan {
  int64_t owned = 0;
  double share = 1.0;
  std::optional<int64_t> limit;
  bool lend = true;
  bool borrow = true;
  double reclaim_grace = 30.0;
  //! The OS user its jobs' workers run as on the hosts ("": the parent's; at
  //! the root, the agent's own user).
  std::string run_as;
};

struct ConsumerNode {
  std::string path;  //!< "/research/vision"; the root is "/"
  std::string name;  //!< last path element; empty for the root
  int parent = -1;   //!< index of the parent; -1 for the root
  std::vector<int> children;
  ConsumerPlan plan;
};

class ConsumerTree {
 public:
  //! A tree with only the root.
  ConsumerTree();

  //! Adds `name` under the node at `parent`. Fails with kInvalidArgument for an
  //! empty name or one holding '/', kAlreadyExists for a duplicate sibling.
  Result<int> Add(int parent, const std::string& name, const ConsumerPlan& plan);

  //! Index of the node at `path` ("/a/b", trailing '/' tolerated), or -1.
  int Find(std::string_view path) const;
  const ConsumerNode& node(int i) const { return nodes_[i]; }
  //! The user the workers of consumer `i` run as: its run_as, else its nearest ancestor's ("" if none).
  std::string RunAs(int i) const {
    for (; i >= 0; i = nodes_[i].parent) {
      if (!nodes_[i].plan.run_as.empty()) return nodes_[i].plan.run_as;
    }
    return "";
  }
  ConsumerNode& mutable_node(int i) { return nodes_[i]; }
  int size() const { return static_cast<int>(nodes_.size()); }
  const std::vector<ConsumerNode>& nodes() const { return nodes_; }
  bool IsLeaf(int i) const { return nodes_[i].children.empty(); }
  //! True when `node` is `ancestor` or lies below it.
  bool IsWithin(int node, int ancestor) const;

  //! Checks the plan's arithmetic: negative numbers, a limit below owned, and
  //! children whose owned GPUs add up to more than their parent's (the root is
  //! exempt: its children's owned may be anything up to the cluster's size).
  Status Validate() const;

 private:
  std::vector<ConsumerNode> nodes_;
  std::unordered_map<std::string, int> by_path_;
};

}  // namespace drover
