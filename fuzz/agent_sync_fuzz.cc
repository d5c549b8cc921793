// Fuzzes the server's decoding of what agents send (register and sync bodies).
#include <cstddef>
#include <cstdint>
#include <string>

#include "master/agent_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  (void)drover::master::DecodeSyncReport(body);
  (void)drover::master::DecodeRegistration(body);
  return 0;
}
