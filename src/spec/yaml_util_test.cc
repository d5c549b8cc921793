#include "spec/yaml_util.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

namespace drover::spec {
namespace {

TEST(YamlUtilTest, ErrorLeavesOutUnknownLineAndEmptyPath) {
  SpecReader r("f.yaml");
  EXPECT_EQ(r.Error(3, "a.b", "bad").message(), "f.yaml:3: a.b: bad");
  EXPECT_EQ(r.Error(0, "a.b", "bad").message(), "f.yaml: a.b: bad");
  EXPECT_EQ(r.Error(3, "", "bad").message(), "f.yaml:3: bad");
  EXPECT_EQ(r.Error(3, "", "bad").code(), StatusCode::kInvalidArgument);
}

TEST(YamlUtilTest, PathsJoinKeysAndIndexes) {
  EXPECT_EQ(FieldPath("", "consumers"), "consumers");
  EXPECT_EQ(FieldPath("consumers[0]", "owned"), "consumers[0].owned");
  EXPECT_EQ(IndexPath("consumers", 2), "consumers[2]");
}

TEST(YamlUtilTest, ValuesOnLaterLinesAreLocatedThere) {
  SpecReader r("f.yaml");
  Result<Field> doc = r.LoadDocument("a:\n  - 1\n  - 2\nb: |\n  text\n");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  constexpr std::string_view kKnown[] = {"a", "b"};
  Result<FieldMap> map = r.ReadMap(*doc, kKnown);
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  const Field* a = map->Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->key_line, 1);
  Result<std::vector<Field>> items = r.ReadList(*a);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[1].path, "a[1]");
  EXPECT_EQ((*items)[1].line, 3);
  EXPECT_EQ(map->Find("b")->key_line, 4);
  EXPECT_EQ(map->Find("c"), nullptr);
}

TEST(YamlUtilTest, ReadBoolAcceptsTheUsualSpellings) {
  SpecReader r("f.yaml");
  for (const char* yes : {"true", "True", "TRUE", "yes", "on"}) {
    Field f{YAML::Node(yes), "x", 1, 1};
    Result<bool> v = r.ReadBool(f);
    ASSERT_TRUE(v.ok()) << yes;
    EXPECT_TRUE(*v) << yes;
  }
  for (const char* no : {"false", "False", "no", "off"}) {
    Field f{YAML::Node(no), "x", 1, 1};
    Result<bool> v = r.ReadBool(f);
    ASSERT_TRUE(v.ok()) << no;
    EXPECT_FALSE(*v) << no;
  }
}

TEST(YamlUtilTest, ReadIntChecksBounds) {
  SpecReader r("f.yaml");
  Field f{YAML::Node("5000"), "x", 2, 2};
  EXPECT_EQ(r.ReadInt(f, 0, 4096).status().message(), "f.yaml:2: x: 5000 is above the maximum 4096");
  EXPECT_EQ(r.ReadInt(f, 6000, 9000).status().message(), "f.yaml:2: x: 5000 must be at least 6000");
  EXPECT_EQ(*r.ReadInt(f, 0, 9000), 5000);
}

TEST(YamlUtilTest, ReadSpecFileReportsMissingDirectoriesAndLargeFiles) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("drover_spec_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  EXPECT_EQ(ReadSpecFile((dir / "none.yaml").string()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadSpecFile(dir.string()).status().message(), dir.string() + ": is a directory");
  {
    std::ofstream(dir / "big.yaml") << std::string(kMaxSpecBytes + 1, '#');
    std::ofstream(dir / "small.yaml") << "a: 1\n";
  }
  EXPECT_EQ(ReadSpecFile((dir / "big.yaml").string()).status().message(),
            (dir / "big.yaml").string() + ": the file is larger than 1 MiB (1048576 bytes)");
  Result<std::string> small = ReadSpecFile((dir / "small.yaml").string());
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(*small, "a: 1\n");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace drover::spec
