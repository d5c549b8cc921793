// KeyValue: the rendezvous store an ElasticGroup forms over, as a plain
// interface (no libtorch), so that it can live outside every worker.
//
// Under drover the store is the server's per-job key-value space
// (JobClient), which outlives any single worker: when the worker that would
// have hosted a TCPStore dies, the survivors still meet. process_group.cc
// adapts a KeyValue to c10d::Store.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace drover::train {

class KeyValue {
 public:
  virtual ~KeyValue() = default;
  //! Sets (or overwrites) `key`.
  virtual Status Set(const std::string& key, const std::vector<uint8_t>& value) = 0;
  //! The value of `key`, waiting up to `wait` for it to be set; NotFound if it
  //! is still unset then, Unavailable if the store cannot be reached.
  virtual Result<std::vector<uint8_t>> Get(const std::string& key, std::chrono::milliseconds wait) = 0;
  //! Adds `delta` to the integer at `key` (0 if unset); returns the new value.
  virtual Result<int64_t> Add(const std::string& key, int64_t delta) = 0;
  //! Whether the key existed.
  virtual Result<bool> Delete(const std::string& key) = 0;
  virtual Result<int64_t> NumKeys() = 0;
};

}  // namespace drover::train
