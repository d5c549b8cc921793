#include "train/idx_dataset.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace drover::train {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::path(testing::TempDir()) / "drover-idx-XXXXXX").string();
    EXPECT_NE(mkdtemp(templ.data()), nullptr) << "mkdtemp " << templ;
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void Put32(Bytes* b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b->push_back(static_cast<uint8_t>(v >> shift));
}

Bytes Idx(uint32_t magic, std::vector<uint32_t> dims, const Bytes& data) {
  Bytes b;
  Put32(&b, magic);
  for (uint32_t d : dims) Put32(&b, d);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

void WritePlain(const std::string& path, const Bytes& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
}

void WriteGzip(const std::string& path, const Bytes& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  if (!b.empty()) {
    ASSERT_EQ(gzwrite(f, b.data(), static_cast<unsigned>(b.size())), static_cast<int>(b.size()));
  }
  ASSERT_EQ(gzclose(f), Z_OK);
}

// Two 2x3 images: pixels 0..11.
Bytes TwoImages() {
  Bytes pixels;
  for (int i = 0; i < 12; ++i) pixels.push_back(static_cast<uint8_t>(i));
  return Idx(0x803, {2, 2, 3}, pixels);
}

void ExpectError(const Status& s, StatusCode code, const std::string& file,
                 const std::string& what) {
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find(file), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
}

TEST(IdxDatasetTest, ReadsPlainAndGzipImages) {
  TempDir dir;
  WritePlain(dir.File("plain"), TwoImages());
  WriteGzip(dir.File("packed.gz"), TwoImages());
  for (const char* name : {"plain", "packed.gz"}) {
    auto images = ReadIdxImages(dir.File(name));
    ASSERT_TRUE(images.ok()) << images.status().ToString();
    EXPECT_EQ(images->count, 2);
    EXPECT_EQ(images->rows, 2);
    EXPECT_EQ(images->cols, 3);
    ASSERT_EQ(images->pixels.size(), 12u);
    EXPECT_EQ(images->pixels[7], 7);  // image 1, row 0, col 1
  }
}

TEST(IdxDatasetTest, ReadsPlainAndGzipLabels) {
  TempDir dir;
  Bytes labels = Idx(0x801, {4}, {3, 1, 4, 1});
  WritePlain(dir.File("plain"), labels);
  WriteGzip(dir.File("packed.gz"), labels);
  for (const char* name : {"plain", "packed.gz"}) {
    auto got = ReadIdxLabels(dir.File(name));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, (Bytes{3, 1, 4, 1}));
  }
}

TEST(IdxDatasetTest, ZeroImagesIsAnEmptySet) {
  TempDir dir;
  WriteGzip(dir.File("empty.gz"), Idx(0x803, {0, 28, 28}, {}));
  auto images = ReadIdxImages(dir.File("empty.gz"));
  ASSERT_TRUE(images.ok()) << images.status().ToString();
  EXPECT_EQ(images->count, 0);
  EXPECT_TRUE(images->pixels.empty());
}

TEST(IdxDatasetTest, MissingFileIsNotFound) {
  TempDir dir;
  auto images = ReadIdxImages(dir.File("nope.gz"));
  ASSERT_FALSE(images.ok());
  ExpectError(images.status(), StatusCode::kNotFound, "nope.gz", "cannot open");
}

TEST(IdxDatasetTest, BadMagicIsNamed) {
  TempDir dir;
  // A labels file handed to the images reader.
  WriteGzip(dir.File("labels.gz"), Idx(0x801, {4}, {3, 1, 4, 1}));
  auto images = ReadIdxImages(dir.File("labels.gz"));
  ASSERT_FALSE(images.ok());
  ExpectError(images.status(), StatusCode::kInvalidArgument, "labels.gz",
              "bad magic 0x00000801, want 0x00000803");

  WritePlain(dir.File("text"), Bytes{'h', 'e', 'l', 'l', 'o', '\n'});
  auto labels = ReadIdxLabels(dir.File("text"));
  ASSERT_FALSE(labels.ok());
  ExpectError(labels.status(), StatusCode::kInvalidArgument, "text", "bad magic");
}

struct TruncationCase {
  const char* name;
  size_t keep;  // bytes of TwoImages() kept: header is 16, data 12
  const char* what;
};
void PrintTo(const TruncationCase& c, std::ostream* os) { *os << c.name; }

class IdxTruncationTest : public testing::TestWithParam<TruncationCase> {};

TEST_P(IdxTruncationTest, TruncatedFileIsRefused) {
  const TruncationCase& c = GetParam();
  TempDir dir;
  Bytes whole = TwoImages();
  Bytes cut(whole.begin(), whole.begin() + c.keep);
  WritePlain(dir.File("plain"), cut);
  WriteGzip(dir.File("packed.gz"), cut);
  for (const char* name : {"plain", "packed.gz"}) {
    auto images = ReadIdxImages(dir.File(name));
    ASSERT_FALSE(images.ok()) << name;
    ExpectError(images.status(), StatusCode::kInvalidArgument, name, "truncated");
    ExpectError(images.status(), StatusCode::kInvalidArgument, name, c.what);
  }
}

INSTANTIATE_TEST_SUITE_P(Cuts, IdxTruncationTest,
                         testing::Values(TruncationCase{"Empty", 0, "magic"},
                                         TruncationCase{"InMagic", 3, "magic"},
                                         TruncationCase{"InDims", 10, "dimensions"},
                                         TruncationCase{"InData", 20, "data needs 12 bytes"},
                                         TruncationCase{"LastByte", 27, "data needs 12 bytes"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(IdxDatasetTest, GzipStreamCutShortIsRefused) {
  TempDir dir;
  // Noisy pixels, so the compressed stream is long enough to cut in the middle.
  Bytes pixels(1000 * 28 * 28);
  for (size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
  WriteGzip(dir.File("whole.gz"), Idx(0x803, {1000, 28, 28}, pixels));
  std::string packed;
  {
    std::ifstream in(dir.File("whole.gz"), std::ios::binary);
    packed.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(packed.size(), 100u);
  packed.resize(packed.size() / 2);
  std::ofstream(dir.File("cut.gz"), std::ios::binary) << packed;
  auto images = ReadIdxImages(dir.File("cut.gz"));
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(images.status().message().find("cut.gz"), std::string::npos)
      << images.status().message();
}

TEST(IdxDatasetTest, TrailingBytesAreRefused) {
  TempDir dir;
  Bytes b = TwoImages();
  b.push_back(0);
  WriteGzip(dir.File("long.gz"), b);
  auto images = ReadIdxImages(dir.File("long.gz"));
  ASSERT_FALSE(images.ok());
  ExpectError(images.status(), StatusCode::kInvalidArgument, "long.gz", "trailing bytes");
}

TEST(IdxDatasetTest, HugeDimensionsAreRefusedBeforeAllocating) {
  TempDir dir;
  // 65536 * 65536 * 65536 bytes: would overflow 32 bits twice over.
  WriteGzip(dir.File("huge.gz"), Idx(0x803, {65536, 65536, 65536}, {}));
  auto images = ReadIdxImages(dir.File("huge.gz"));
  ASSERT_FALSE(images.ok());
  ExpectError(images.status(), StatusCode::kInvalidArgument, "huge.gz",
              "more than 1073741824 bytes");

  WriteGzip(dir.File("negative.gz"), Idx(0x801, {0x80000000u}, {}));
  auto labels = ReadIdxLabels(dir.File("negative.gz"));
  ASSERT_FALSE(labels.ok());
  ExpectError(labels.status(), StatusCode::kInvalidArgument, "negative.gz",
              "dimension 0 is 2147483648");
}

TEST(IdxDatasetTest, LoadChecksCountsAndLabels) {
  TempDir dir;
  WriteGzip(dir.File("train-images-idx3-ubyte.gz"), TwoImages());
  WriteGzip(dir.File("train-labels-idx1-ubyte.gz"), Idx(0x801, {2}, {9, 0}));
  WriteGzip(dir.File("t10k-images-idx3-ubyte.gz"), TwoImages());
  WriteGzip(dir.File("t10k-labels-idx1-ubyte.gz"), Idx(0x801, {3}, {1, 2, 3}));
  std::string root = dir.File("");
  auto train = LoadFashionMnist(root, /*train=*/true);
  ASSERT_TRUE(train.ok()) << train.status().ToString();
  EXPECT_EQ(train->labels, (Bytes{9, 0}));
  auto test = LoadFashionMnist(root, /*train=*/false);
  ASSERT_FALSE(test.ok());
  ExpectError(test.status(), StatusCode::kInvalidArgument, "t10k-labels-idx1-ubyte.gz",
              "3 labels for 2 images");

  WriteGzip(dir.File("train-labels-idx1-ubyte.gz"), Idx(0x801, {2}, {9, 10}));
  train = LoadFashionMnist(root, /*train=*/true);
  ASSERT_FALSE(train.ok());
  ExpectError(train.status(), StatusCode::kInvalidArgument, "label 1 is 10", "outside 0..9");
}

TEST(IdxDatasetTest, RealFashionMnist) {
  if (!fs::exists(kFashionMnistDir)) {
    GTEST_SKIP() << kFashionMnistDir << " is absent (apt install dataset-fashion-mnist)";
  }
  for (bool train : {true, false}) {
    auto data = LoadFashionMnist(kFashionMnistDir, train);
    ASSERT_TRUE(data.ok()) << data.status().ToString();
    int want = train ? 60000 : 10000;
    EXPECT_EQ(data->images.count, want);
    EXPECT_EQ(data->images.rows, 28);
    EXPECT_EQ(data->images.cols, 28);
    EXPECT_EQ(data->images.pixels.size(), static_cast<size_t>(want) * 28 * 28);
    ASSERT_EQ(data->labels.size(), static_cast<size_t>(want));
    std::set<int> classes(data->labels.begin(), data->labels.end());
    EXPECT_EQ(classes, (std::set<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  }
}

}  // namespace
}  // namespace drover::train
