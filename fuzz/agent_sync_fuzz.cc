// Fuzzes the decoding of every message that crosses a process boundary
// (api/wire.h): what agents and workers send the server, and the answers
// they decode. Each decoded request is encoded again and must decode to the
// same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "api/wire.h"

namespace {

template <typename Decode>
void RoundTrip(const std::string& body, Decode decode) {
  auto first = decode(body);
  if (!first.ok()) return;
  auto again = decode(drover::api::Encode(*first));
  if (!again.ok() || !(*again == *first)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace api = drover::api;
  std::string body(reinterpret_cast<const char*>(data), size);
  RoundTrip(body, api::DecodeSyncRequest);
  RoundTrip(body, api::DecodeRegisterRequest);
  RoundTrip(body, api::DecodeWorkerStatus);
  RoundTrip(body, api::DecodeSyncResponse);
  RoundTrip(body, api::DecodeRegisterResponse);
  RoundTrip(body, api::DecodeMembership);
  return 0;
}
