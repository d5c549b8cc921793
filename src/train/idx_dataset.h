// IDX files (the MNIST / Fashion-MNIST format), plain or gzip'd.
//
// An IDX file is a 4-byte big-endian magic (0x0000 08 NN: unsigned bytes, NN
// dimensions), NN big-endian uint32 sizes, then the bytes row-major. Images are
// 0x00000803 (count, rows, cols); labels are 0x00000801 (count). The reader
// goes through zlib's gzread, which passes plain files through unchanged, so
// either form is accepted. Thread safety: free functions over values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace drover::train {

//! Larger payloads are refused as a corrupt header rather than allocated.
inline constexpr uint64_t kMaxIdxPayloadBytes = uint64_t{1} << 30;

struct IdxImages {
  int count = 0;
  int rows = 0;
  int cols = 0;
  //! count * rows * cols bytes; image i starts at i * rows * cols.
  std::vector<uint8_t> pixels;
};

// Errors (each message names the file):
//   NotFound         the file cannot be opened;
//   InvalidArgument  bad magic, a payload over kMaxIdxPayloadBytes, a file that
//                    ends early (truncated) or carries bytes past its payload,
//                    or a corrupt gzip stream.
[[nodiscard]] Result<IdxImages> ReadIdxImages(const std::string& path);
[[nodiscard]] Result<std::vector<uint8_t>> ReadIdxLabels(const std::string& path);

struct Dataset {
  IdxImages images;
  //! One per image.
  std::vector<uint8_t> labels;
};

inline constexpr int kFashionMnistClasses = 10;

// Reads {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz from `dir` (Debian's
// dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist).
// Errors: those of the readers, and InvalidArgument when the image and label
// counts differ or a label is outside 0..9.
[[nodiscard]] Result<Dataset> LoadFashionMnist(const std::string& dir, bool train);

}  // namespace drover::train
