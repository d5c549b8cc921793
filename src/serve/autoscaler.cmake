add_library(drover_autoscaler STATIC ${CMAKE_CURRENT_LIST_DIR}/autoscaler.cc)
target_link_libraries(drover_autoscaler PUBLIC drover_common)
target_include_directories(drover_autoscaler PUBLIC ${PROJECT_SOURCE_DIR}/src)
drover_test(autoscaler_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/autoscaler_test.cc LIBS drover_autoscaler)
