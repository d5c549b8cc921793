// TestDir: a fresh directory for one test, removed with everything in it when
// the test ends. Test-only.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace drover::agent {

class TestDir {
 public:
  TestDir() {
    std::string templ =
        (std::filesystem::path(testing::TempDir()) / "drover-agent-XXXXXX").string();
    char* made = mkdtemp(templ.data());
    EXPECT_NE(made, nullptr) << "mkdtemp " << templ;
    // Resolved, so that it compares equal to what a worker's `pwd -P` prints.
    path_ = std::filesystem::canonical(templ);
  }
  ~TestDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

//! The whole file, or "" when it cannot be read.
inline std::string ReadFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::filesystem::path& file, const std::string& data,
                      bool append = false) {
  std::ofstream out(file, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
  out << data;
}

}  // namespace drover::agent
