// Test-only: the bundled Pollux applications, loaded once per test suite.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "sim/application.h"

namespace drover::sim::simtest {

//! The bundled data/ directory: DROVER_DATA_DIR (set by ctest), else the source tree's.
inline std::string DataDir() {
  const char* data = std::getenv("DROVER_DATA_DIR");
  return data ? data : DROVER_TEST_DATA_DIR;
}

//! data/pollux/traces.
inline std::string TracesDir() { return (std::filesystem::path(DataDir()) / "pollux" / "traces").string(); }

//! A fixture whose suite loads every bundled application once.
class BundledAppsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto apps = Application::LoadBundled(TracesDir());
    ASSERT_TRUE(apps.ok()) << apps.status().ToString();
    apps_ = std::make_unique<std::map<std::string, Application>>(std::move(apps).value());
  }
  static void TearDownTestSuite() { apps_.reset(); }
  void SetUp() override { ASSERT_NE(apps_, nullptr) << "no Pollux traces at " << TracesDir(); }

  static const Application& App(const std::string& name) { return apps_->at(name); }

  static inline std::unique_ptr<std::map<std::string, Application>> apps_;
};

}  // namespace drover::sim::simtest
