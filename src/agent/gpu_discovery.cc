#include "agent/gpu_discovery.h"

#include <dlfcn.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/sysinfo.h>
#include <unistd.h>

namespace drover::agent {
namespace {

// NVML's buffer sizes (NVML_DEVICE_NAME_V2_BUFFER_SIZE, NVML_DEVICE_UUID_V2_BUFFER_SIZE).
constexpr unsigned int kNvmlBufferSize = 96;

std::string NvmlError(const NvmlApi& api, int rc) {
  if (api.error_string != nullptr) {
    if (const char* s = api.error_string(rc)) return s;
  }
  return "NVML error " + std::to_string(rc);
}

template <typename F>
bool Load(void* lib, const char* symbol, F& out) {
  out = reinterpret_cast<F>(dlsym(lib, symbol));
  return out != nullptr;
}

}  // namespace

std::vector<GpuInfo> ListGpus(const NvmlApi& api, std::string* warning) {
  std::vector<GpuInfo> gpus;
  std::string warn;
  if (int rc = api.init(); rc != 0) {
    if (warning) *warning = "NVML init failed: " + NvmlError(api, rc) + "; no GPUs offered";
    return gpus;
  }
  unsigned int count = 0;
  if (int rc = api.get_count(&count); rc != 0) {
    warn = "NVML device count failed: " + NvmlError(api, rc) + "; no GPUs offered";
    count = 0;
  }
  for (unsigned int i = 0; i < count; ++i) {
    void* device = nullptr;
    char name[kNvmlBufferSize] = {};
    char uuid[kNvmlBufferSize] = {};
    NvmlMemory memory;
    int rc = api.get_handle(i, &device);
    if (rc == 0) rc = api.get_name(device, name, kNvmlBufferSize);
    if (rc == 0) rc = api.get_uuid(device, uuid, kNvmlBufferSize);
    if (rc == 0) rc = api.get_memory(device, &memory);
    if (rc != 0) {
      if (!warn.empty()) warn += "; ";
      warn += "GPU " + std::to_string(i) + " skipped: " + NvmlError(api, rc);
      continue;
    }
    name[kNvmlBufferSize - 1] = uuid[kNvmlBufferSize - 1] = '\0';
    gpus.push_back({static_cast<int>(i), uuid, name, static_cast<int64_t>(memory.total >> 20)});
  }
  if (api.shutdown != nullptr) api.shutdown();
  if (warning) *warning = warn;
  return gpus;
}

std::vector<GpuInfo> DiscoverGpus() {
  // Kept loaded for the process's life: NVML does not like being unloaded.
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    spdlog::info("NVML (libnvidia-ml.so.1) not found: no GPUs discovered");
    return {};
  }
  NvmlApi api;
  bool ok = Load(lib, "nvmlInit_v2", api.init) && Load(lib, "nvmlShutdown", api.shutdown) &&
            Load(lib, "nvmlDeviceGetCount_v2", api.get_count) &&
            Load(lib, "nvmlDeviceGetHandleByIndex_v2", api.get_handle) &&
            Load(lib, "nvmlDeviceGetName", api.get_name) &&
            Load(lib, "nvmlDeviceGetUUID", api.get_uuid) &&
            Load(lib, "nvmlDeviceGetMemoryInfo", api.get_memory);
  if (!ok) {
    const char* err = dlerror();
    spdlog::warn("NVML is missing an entry point ({}): no GPUs discovered", err ? err : "?");
    return {};
  }
  Load(lib, "nvmlErrorString", api.error_string);
  std::string warning;
  std::vector<GpuInfo> gpus = ListGpus(api, &warning);
  if (!warning.empty()) spdlog::warn("{}", warning);
  return gpus;
}

Result<int> ResolveGpuSlots(int found, std::optional<int> requested) {
  if (!requested) return found;
  if (*requested < 0)
    return InvalidArgument("--gpus " + std::to_string(*requested) + ": must not be negative");
  if (found > 0 && *requested > found) {
    return InvalidArgument("--gpus " + std::to_string(*requested) + ": only " +
                           std::to_string(found) + " GPUs found on this host");
  }
  return *requested;
}

Result<HostInventory> DiscoverHost(std::optional<int> requested_gpu_slots) {
  HostInventory inv;
  inv.gpus = DiscoverGpus();
  auto slots = ResolveGpuSlots(static_cast<int>(inv.gpus.size()), requested_gpu_slots);
  if (!slots.ok()) return slots.status();
  inv.gpu_slots = *slots;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    inv.cpus = CPU_COUNT(&set);
  } else {
    inv.cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  }
  struct sysinfo si {};
  if (sysinfo(&si) == 0) {
    inv.memory_mib =
        static_cast<int64_t>((static_cast<unsigned __int128>(si.totalram) * si.mem_unit) >> 20);
  }
  return inv;
}

}  // namespace drover::agent
