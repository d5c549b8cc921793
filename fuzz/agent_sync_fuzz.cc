// Fuzzes the server's decoding of what agents and workers send (register and
// sync bodies, and workers' status posts).
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/agent_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  (void)drover::server::DecodeSyncReport(body);
  (void)drover::server::DecodeRegistration(body);
  (void)drover::server::DecodeWorkerStatus(body);
  return 0;
}
