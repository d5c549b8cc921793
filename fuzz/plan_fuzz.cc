// libFuzzer target for ParsePlan: any input must yield a valid tree or an
// InvalidArgument naming the file, without crashing, hanging or tripping ASan/UBSan.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spec/plan_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  drover::Result<drover::ConsumerTree> tree = drover::ParsePlan(text, "fuzz.yaml");
  if (!tree.ok()) {
    // kInternal means an exception escaped the readers: a bug. A message must be
    // located and of a size a person can read, whatever the input echoed into it.
    const std::string& m = tree.status().message();
    if (tree.status().code() != drover::StatusCode::kInvalidArgument) __builtin_trap();
    if (!m.starts_with("fuzz.yaml") || m.size() > 2048) __builtin_trap();
    return 0;
  }
  // What parses is a plan the scheduler may rely on.
  if (!tree->Validate().ok()) __builtin_trap();
  if (tree->size() > drover::kMaxPlanConsumers + 1) __builtin_trap();
  for (int i = 0; i < tree->size(); ++i) {
    if (tree->Find(tree->node(i).path) != i) __builtin_trap();
  }
  return 0;
}
