// The rules for consumer names and paths, shared by the plan and job parsers.
//
// A consumer name is 1 to 63 letters, digits, '-', '_' and '.', not starting with
// '.' (so "." and ".." never appear in a path). A path is "/" or "/" followed by
// names joined by '/', at most kMaxConsumerDepth of them: "/research/vision".
// Errors are message tails, without file or field; callers locate them.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace drover::spec {

inline constexpr std::size_t kMaxConsumerNameLength = 63;
//! Levels below the root: a plan nests at most this deep, a path has at most this many names.
inline constexpr int kMaxConsumerDepth = 16;

//! Errors: `the name is empty`, `"a/b" may only hold letters, digits, '-', '_' and '.'`,
//! `".x" must not start with '.'`, `"aaa..." is longer than 63 characters`.
Status CheckConsumerName(std::string_view name);

//! `path` with one trailing '/' dropped ("/a/b/" -> "/a/b"; "/" stays "/").
//! Errors: `"research" must be a path from the root, like /research/vision`,
//! `"/a//b" has an empty name in it`, `"/a/b c": "b c" may only hold ...`,
//! `"/a/.../q" is deeper than 16 levels`.
Result<std::string> NormalizeConsumerPath(std::string_view path);

}  // namespace drover::spec
