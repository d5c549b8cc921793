#include "spec/consumer_path.h"

#include <algorithm>

#include "spec/quantity.h"

namespace drover::spec {

Status CheckConsumerName(std::string_view name) {
  if (name.empty()) return InvalidArgument("the name is empty");
  if (name.size() > kMaxConsumerNameLength) {
    return InvalidArgument(Quote(name) + " is longer than " + std::to_string(kMaxConsumerNameLength) +
                           " characters");
  }
  bool ok = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
  if (!ok) return InvalidArgument(Quote(name) + " may only hold letters, digits, '-', '_' and '.'");
  if (name[0] == '.') return InvalidArgument(Quote(name) + " must not start with '.'");
  return Status::Ok();
}

Result<std::string> NormalizeConsumerPath(std::string_view path) {
  if (path.empty() || path[0] != '/') {
    return InvalidArgument(Quote(path) + " must be a path from the root, like /research/vision");
  }
  std::string_view rest = path.substr(1);
  // One trailing '/' is tolerated, as in ConsumerTree::Find; "//" is not "/".
  if (rest.size() > 1 && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty()) return std::string("/");
  int depth = 0;
  for (std::string_view left = rest;;) {
    std::size_t slash = left.find('/');
    std::string_view name = left.substr(0, slash);
    if (name.empty()) return InvalidArgument(Quote(path) + " has an empty name in it");
    Status s = CheckConsumerName(name);
    if (!s.ok()) return InvalidArgument(Quote(path) + ": " + s.message());
    if (++depth > kMaxConsumerDepth) {
      return InvalidArgument(Quote(path) + " is deeper than " + std::to_string(kMaxConsumerDepth) +
                             " levels");
    }
    if (slash == std::string_view::npos) break;
    left.remove_prefix(slash + 1);
  }
  return "/" + std::string(rest);
}

}  // namespace drover::spec
