#include "spec/suggest.h"

#include <algorithm>
#include <vector>

namespace drover::spec {

std::size_t EditDistance(std::string_view a, std::string_view b) {
  // Three rolling rows: the transposition case looks two rows back.
  const std::size_t n = b.size();
  std::vector<std::size_t> before(n + 1), prev(n + 1), cur(n + 1);
  for (std::size_t j = 0; j <= n; ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= n; ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], before[j - 2] + 1);
      }
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[n];
}

std::string_view ClosestMatch(std::string_view word, std::span<const std::string_view> candidates) {
  constexpr std::size_t kMaxWord = 64;
  constexpr std::size_t kMaxEdits = 2;
  if (word.size() > kMaxWord) return {};
  std::string_view best;
  std::size_t best_distance = kMaxEdits + 1;
  for (std::string_view c : candidates) {
    std::size_t d = EditDistance(word, c);
    if (d < best_distance && 2 * d < c.size()) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace drover::spec
