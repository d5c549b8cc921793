# Store throughput: durable job submissions/s, group commit vs one transaction each.
add_executable(store_bench ${CMAKE_CURRENT_LIST_DIR}/store_bench.cc)
target_link_libraries(store_bench PRIVATE drover_store benchmark::benchmark)
