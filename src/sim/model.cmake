# The Pollux job model: applications (throughput, progress, batch geometry) and simulated jobs.
add_library(drover_sim_model STATIC
  ${CMAKE_CURRENT_LIST_DIR}/application.cc
  ${CMAKE_CURRENT_LIST_DIR}/delaunay.cc
  ${CMAKE_CURRENT_LIST_DIR}/sim_job.cc)
target_link_libraries(drover_sim_model PUBLIC drover_common PRIVATE Qhull::qhull_r)

drover_test(sim_model_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/application_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/delaunay_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/sim_job_test.cc
  LIBS drover_sim_model)
