// "Did you mean ...?" for misspelt names: the closest candidate by edit distance.
//
// Distance is optimal string alignment (Levenshtein plus adjacent transpositions),
// so "onwed" is one edit from "owned". Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace drover::spec {

//! Edits (insert, delete, substitute, swap two adjacent characters) turning `a` into `b`.
std::size_t EditDistance(std::string_view a, std::string_view b);

//! The candidate nearest to `word` when it is close enough to be a plausible typo
//! (at most 2 edits, and fewer than half of the candidate's length); the first such
//! candidate on ties. Empty when none is close, or when `word` is longer than 64
//! characters (no one misspells a field name that long, and it bounds the work).
std::string_view ClosestMatch(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace drover::spec
