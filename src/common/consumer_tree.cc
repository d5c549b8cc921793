#include "common/consumer_tree.h"

namespace drover {

ConsumerTree::ConsumerTree() {
  ConsumerNode root;
  root.path = "/";
  nodes_.push_back(root);
  by_path_["/"] = 0;
}

Result<int> ConsumerTree::Add(int parent, const std::string& name, const ConsumerPlan& plan) {
  if (parent < 0 || parent >= size()) return Internal("consumer parent index out of range");
  if (name.empty()) return InvalidArgument("consumer name is empty");
  if (name.find('/') != std::string::npos) {
    return InvalidArgument("consumer name '" + name + "' must not contain '/'");
  }
  std::string path = nodes_[parent].path == "/" ? "/" + name : nodes_[parent].path + "/" + name;
  if (by_path_.count(path)) return Status(StatusCode::kAlreadyExists, "consumer " + path + " is defined twice");
  ConsumerNode n;
  n.path = path;
  n.name = name;
  n.parent = parent;
  n.plan = plan;
  int index = size();
  nodes_.push_back(std::move(n));
  nodes_[parent].children.push_back(index);
  by_path_[path] = index;
  return index;
}

int ConsumerTree::Find(std::string_view path) const {
  std::string p(path);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto it = by_path_.find(p);
  return it == by_path_.end() ? -1 : it->second;
}

bool ConsumerTree::IsWithin(int node, int ancestor) const {
  for (int n = node; n >= 0; n = nodes_[n].parent) {
    if (n == ancestor) return true;
  }
  return false;
}

Status ConsumerTree::Validate() const {
  for (const ConsumerNode& n : nodes_) {
    const ConsumerPlan& p = n.plan;
    if (p.owned < 0) return InvalidArgument(n.path + ": owned " + std::to_string(p.owned) + " is negative");
    if (!(p.share > 0)) return InvalidArgument(n.path + ": share must be positive");
    if (p.limit && *p.limit < p.owned) {
      return InvalidArgument(n.path + ": limit " + std::to_string(*p.limit) + " is below owned " +
                             std::to_string(p.owned));
    }
    if (p.reclaim_grace < 0) return InvalidArgument(n.path + ": reclaim_grace is negative");
    if (n.parent < 0 || n.children.empty()) continue;
    int64_t sum = 0;
    for (int c : n.children) sum += nodes_[c].plan.owned;
    if (sum > p.owned) {
      return InvalidArgument(n.path + ": children own " + std::to_string(sum) +
                             " GPUs, more than its owned " + std::to_string(p.owned));
    }
  }
  return Status::Ok();
}

}  // namespace drover
