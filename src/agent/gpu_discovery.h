// What a host offers: its GPUs (through NVML, loaded at run time), CPUs and
// memory, and how many GPU slots the agent declares.
//
// NVML is dlopen'ed ("libnvidia-ml.so.1"), so the agent runs, and finds no
// GPUs, on machines without the NVIDIA driver. The NVML calls go through an
// NvmlApi table of function pointers, so the listing logic is tested with
// fakes. Thread safety: the functions may be called from any thread; NVML
// itself is thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/protocol.h"
#include "common/status.h"

namespace drover::agent {

//! The few NVML entry points the agent uses, with NVML's C signatures
//! (nvmlReturn_t is an int, 0 = success; nvmlDevice_t is an opaque pointer).
struct NvmlMemory {
  unsigned long long total = 0;
  unsigned long long free = 0;
  unsigned long long used = 0;
};
struct NvmlApi {
  int (*init)() = nullptr;                                // nvmlInit_v2
  int (*shutdown)() = nullptr;                            // nvmlShutdown
  int (*get_count)(unsigned int*) = nullptr;              // nvmlDeviceGetCount_v2
  int (*get_handle)(unsigned int, void**) = nullptr;      // nvmlDeviceGetHandleByIndex_v2
  int (*get_name)(void*, char*, unsigned int) = nullptr;  // nvmlDeviceGetName
  int (*get_uuid)(void*, char*, unsigned int) = nullptr;  // nvmlDeviceGetUUID
  int (*get_memory)(void*, NvmlMemory*) = nullptr;        // nvmlDeviceGetMemoryInfo
  const char* (*error_string)(int) = nullptr;             // nvmlErrorString (optional)
};

//! Lists the GPUs through `api`. A failing init or count yields no GPUs (and a
//! warning in `*warning` when given); a device whose queries fail is skipped
//! with a warning. Never an error: a host without working NVML has no GPUs.
std::vector<GpuInfo> ListGpus(const NvmlApi& api, std::string* warning = nullptr);

//! Loads NVML and lists the GPUs; none when the library is absent.
std::vector<GpuInfo> DiscoverGpus();

//! The GPU slots to declare: `requested` (--gpus N) when given, else `found`.
//! Errors: kInvalidArgument when N is negative, or when GPUs were found and N
//! exceeds their count (a machine with GPUs cannot offer more than it has; a
//! machine without any may declare slots, for testing the control plane).
Result<int> ResolveGpuSlots(int found, std::optional<int> requested);

struct HostInventory {
  std::vector<GpuInfo> gpus;
  int gpu_slots = 0;
  int cpus = 0;
  int64_t memory_mib = 0;
};

//! GPUs (DiscoverGpus), CPUs this process may run on, total memory, and the
//! slots from ResolveGpuSlots. Errors: those of ResolveGpuSlots.
Result<HostInventory> DiscoverHost(std::optional<int> requested_gpu_slots);

}  // namespace drover::agent
