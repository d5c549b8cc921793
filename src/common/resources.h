// Resources: a vector of schedulable quantities (GPUs, CPUs, memory).
//
// All arithmetic is component-wise on integers, so sums never drift. CPUs are
// counted in millicores and memory in MiB, which keeps every dimension an
// integer and makes "fits" exact.
#pragma once

#include <cstdint>
#include <string>

namespace drover {

struct Resources {
  int64_t gpus = 0;
  int64_t cpu_millis = 0;
  int64_t memory_mib = 0;

  Resources& operator+=(const Resources& o) {
    gpus += o.gpus;
    cpu_millis += o.cpu_millis;
    memory_mib += o.memory_mib;
    return *this;
  }
  Resources& operator-=(const Resources& o) {
    gpus -= o.gpus;
    cpu_millis -= o.cpu_millis;
    memory_mib -= o.memory_mib;
    return *this;
  }
  friend Resources operator+(Resources a, const Resources& b) { return a += b; }
  friend Resources operator-(Resources a, const Resources& b) { return a -= b; }
  friend Resources operator*(Resources a, int64_t k) {
    a.gpus *= k;
    a.cpu_millis *= k;
    a.memory_mib *= k;
    return a;
  }
  friend bool operator==(const Resources&, const Resources&) = default;

  //! True when every dimension of `want` is at most this one's.
  bool Fits(const Resources& want) const {
    return want.gpus <= gpus && want.cpu_millis <= cpu_millis && want.memory_mib <= memory_mib;
  }
  //! How many copies of `unit` fit (unbounded dimensions of `unit` are ignored).
  int64_t CopiesOf(const Resources& unit) const;
  bool IsZero() const { return gpus == 0 && cpu_millis == 0 && memory_mib == 0; }
  //! "4 GPU, 8 CPU, 32768 MiB".
  std::string ToString() const;
};

}  // namespace drover
