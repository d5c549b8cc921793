#include "common/resources.h"

#include <algorithm>
#include <limits>

namespace drover {

int64_t Resources::CopiesOf(const Resources& unit) const {
  int64_t n = std::numeric_limits<int64_t>::max();
  if (unit.gpus > 0) n = std::min(n, gpus / unit.gpus);
  if (unit.cpu_millis > 0) n = std::min(n, cpu_millis / unit.cpu_millis);
  if (unit.memory_mib > 0) n = std::min(n, memory_mib / unit.memory_mib);
  return std::max<int64_t>(n, 0);
}

std::string Resources::ToString() const {
  std::string s = std::to_string(gpus) + " GPU, ";
  if (cpu_millis % 1000 == 0) {
    s += std::to_string(cpu_millis / 1000);
  } else {
    s += std::to_string(cpu_millis / 1000) + "." + std::to_string(cpu_millis % 1000 / 100);
  }
  return s + " CPU, " + std::to_string(memory_mib) + " MiB";
}

}  // namespace drover
