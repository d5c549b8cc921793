# The libtorch half of the training runtime (c10d process groups), included
# from src/train/CMakeLists.txt. DROVER_WITH_TORCH: ON needs libtorch, OFF
# skips it, AUTO builds it when find_package(Torch) succeeds.
if(DROVER_WITH_TORCH STREQUAL "OFF")
  message(STATUS "drover: DROVER_WITH_TORCH=OFF, skipping the libtorch training runtime")
  return()
endif()

find_package(Torch QUIET)
find_library(DROVER_GLOO_LIBRARY gloo PATHS /usr/lib)
if(NOT Torch_FOUND OR NOT DROVER_GLOO_LIBRARY)
  if(DROVER_WITH_TORCH STREQUAL "ON")
    message(FATAL_ERROR "drover: DROVER_WITH_TORCH=ON but libtorch or libgloo is missing "
      "(Torch_FOUND=${Torch_FOUND}, gloo=${DROVER_GLOO_LIBRARY}); "
      "apt-get install libtorch-dev libgloo-dev")
  endif()
  message(STATUS "drover: libtorch or libgloo not found, skipping the libtorch training runtime")
  return()
endif()
message(STATUS "drover: libtorch training runtime on (gloo: ${DROVER_GLOO_LIBRARY})")

add_library(drover_train_pg STATIC process_group.cc)
# TorchConfig defines USE_DISTRIBUTED but not USE_C10D_GLOO, without which
# ProcessGroupGloo.hpp compiles to nothing.
target_compile_definitions(drover_train_pg PUBLIC USE_C10D_GLOO DROVER_WITH_TORCH)
target_link_libraries(drover_train_pg
  PUBLIC drover_common
  PRIVATE ${TORCH_LIBRARIES} ${DROVER_GLOO_LIBRARY} Threads::Threads)

drover_test(process_group_test SOURCES process_group_test.cc LIBS drover_train_pg SERIAL)

# The data-parallel training loop (trainer.h): a module, an optimizer, the
# elastic sampler, and one flat all-reduce per step over ElasticGroup.
add_library(drover_train STATIC trainer.cc elastic_runner.cc)
target_link_libraries(drover_train
  PUBLIC drover_train_pg drover_train_data drover_train_client drover_common ${TORCH_LIBRARIES}
  PRIVATE spdlog::spdlog Threads::Threads)

# The built-in trainer (Fashion-MNIST CNN/MLP) that elastic jobs name.
add_executable(drover-train drover_train_main.cc)
target_link_libraries(drover-train PRIVATE drover_train CLI11::CLI11 nlohmann_json::nlohmann_json spdlog::spdlog)
install(TARGETS drover-train)

drover_test(trainer_test SOURCES trainer_test.cc LIBS drover_train SERIAL)

# The example user program (examples/custom-training) links the runtime like a
# user's would; it lives below here because find_package(Torch)'s imported
# targets are visible only in this directory and those under it.
add_subdirectory(${PROJECT_SOURCE_DIR}/examples/custom-training ${CMAKE_BINARY_DIR}/examples/custom-training)
