// libFuzzer target for ParseJobSpec: any input must yield a consistent job or an
// InvalidArgument naming the file, without crashing, hanging or tripping ASan/UBSan.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spec/job_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  drover::Result<drover::ParsedJob> job = drover::ParseJobSpec(text, "fuzz.yaml");
  if (!job.ok()) {
    const std::string& m = job.status().message();
    if (job.status().code() != drover::StatusCode::kInvalidArgument) __builtin_trap();
    if (!m.starts_with("fuzz.yaml") || m.size() > 2048) __builtin_trap();
    return 0;
  }
  const drover::JobSpec& spec = job->spec;
  if (spec.name.empty() || spec.name.size() > 63) __builtin_trap();
  if (spec.consumer.empty() || spec.consumer[0] != '/') __builtin_trap();
  if (spec.workers.min < 1 || spec.workers.max < spec.workers.min) __builtin_trap();
  const drover::Resources& r = spec.per_worker;
  if (r.gpus < 0 || r.cpu_millis < 0 || r.memory_mib < 0) __builtin_trap();
  // The whole job's demand must be computable: UBSan traps on signed overflow.
  drover::Resources total = r * spec.workers.max;
  if (total.gpus < 0 || total.cpu_millis < 0 || total.memory_mib < 0) __builtin_trap();
  if (job->argv.empty() != spec.command.empty()) __builtin_trap();
  return 0;
}
