# The libtorch half of the training runtime (c10d process groups), included
# from src/train/CMakeLists.txt and from bench/gpu/CMakeLists.txt (the GPU
# check's build against the PyTorch wheel's libtorch), hence the paths from
# CMAKE_CURRENT_LIST_DIR. DROVER_WITH_TORCH: ON needs libtorch, OFF skips it,
# AUTO builds it when find_package(Torch) succeeds. DROVER_WITH_CUDA: CUDA
# devices and NCCL collectives; needs a CUDA libtorch (Debian's is CPU-only).
option(DROVER_WITH_CUDA "Train on CUDA devices with NCCL (needs a CUDA libtorch)" OFF)
set(DROVER_TRAIN_DIR ${CMAKE_CURRENT_LIST_DIR})
if(DROVER_WITH_TORCH STREQUAL "OFF")
  message(STATUS "drover: DROVER_WITH_TORCH=OFF, skipping the libtorch training runtime")
  return()
endif()

find_package(Torch QUIET)
# Debian's libtorch links Gloo as a library of its own; the PyTorch wheel's
# has it inside libtorch_cpu.
find_library(DROVER_GLOO_LIBRARY gloo PATHS /usr/lib)
if(DROVER_WITH_CUDA AND NOT DROVER_GLOO_LIBRARY)
  set(DROVER_GLOO_LIBRARY "")
endif()
if(NOT Torch_FOUND OR (NOT DROVER_GLOO_LIBRARY AND NOT DROVER_WITH_CUDA))
  if(DROVER_WITH_TORCH STREQUAL "ON")
    message(FATAL_ERROR "drover: DROVER_WITH_TORCH=ON but libtorch or libgloo is missing "
      "(Torch_FOUND=${Torch_FOUND}, gloo=${DROVER_GLOO_LIBRARY}); "
      "apt-get install libtorch-dev libgloo-dev")
  endif()
  message(WARNING "drover: libtorch or libgloo not found, so the libtorch training runtime, drover-train and "
    "their tests are NOT built (apt-get install libtorch-dev libgloo-dev; the presets require them)")
  return()
endif()
message(STATUS "drover: libtorch training runtime on (gloo: ${DROVER_GLOO_LIBRARY}, CUDA: ${DROVER_WITH_CUDA})")
if(DROVER_WITH_CUDA AND NOT TORCH_CUDA_LIBRARIES)
  message(FATAL_ERROR "drover: DROVER_WITH_CUDA=ON but the libtorch at ${TORCH_INSTALL_PREFIX} "
    "was built without CUDA; point CMAKE_PREFIX_PATH at a CUDA one, such as "
    "python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'")
endif()

add_library(drover_train_pg STATIC ${DROVER_TRAIN_DIR}/process_group.cc)
# TorchConfig defines USE_DISTRIBUTED but not USE_C10D_GLOO (nor
# USE_C10D_NCCL), without which ProcessGroupGloo.hpp (ProcessGroupNCCL.hpp)
# compiles to nothing.
target_compile_definitions(drover_train_pg PUBLIC USE_C10D_GLOO DROVER_WITH_TORCH)
if(DROVER_WITH_CUDA)
  target_compile_definitions(drover_train_pg PUBLIC USE_C10D_NCCL DROVER_WITH_CUDA)
endif()
target_link_libraries(drover_train_pg
  PUBLIC drover_common
  PRIVATE ${TORCH_LIBRARIES} ${DROVER_GLOO_LIBRARY} Threads::Threads)

drover_test(process_group_test SOURCES ${DROVER_TRAIN_DIR}/process_group_test.cc LIBS drover_train_pg SERIAL)

# The data-parallel training loop (trainer.h): a module, an optimizer, the
# elastic sampler, and one flat all-reduce per step over ElasticGroup.
add_library(drover_train STATIC ${DROVER_TRAIN_DIR}/trainer.cc ${DROVER_TRAIN_DIR}/elastic_runner.cc)
target_link_libraries(drover_train
  PUBLIC drover_train_pg drover_train_data drover_train_client drover_common ${TORCH_LIBRARIES}
  PRIVATE drover_sched spdlog::spdlog Threads::Threads)

# The built-in trainer (Fashion-MNIST CNN/MLP) that elastic jobs name.
add_executable(drover-train ${DROVER_TRAIN_DIR}/drover_train_main.cc)
target_link_libraries(drover-train PRIVATE drover_train CLI11::CLI11 nlohmann_json::nlohmann_json spdlog::spdlog)
install(TARGETS drover-train)

drover_test(trainer_test SOURCES ${DROVER_TRAIN_DIR}/trainer_test.cc LIBS drover_train SERIAL)

# The example user program (examples/custom-training) links the runtime like a
# user's would; it lives below here because find_package(Torch)'s imported
# targets are visible only in this directory and those under it.
add_subdirectory(${DROVER_TRAIN_DIR}/../../examples/custom-training ${CMAKE_BINARY_DIR}/examples/custom-training)
