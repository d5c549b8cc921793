#include "train/idx_dataset.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <memory>

namespace drover::train {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads exactly `n` bytes, or says why not. `what` names the part being read.
Status ReadExactly(gzFile f, const std::string& path, const char* what, uint8_t* out, uint64_t n) {
  uint64_t done = 0;
  while (done < n) {
    // gzread takes an unsigned int length; read in chunks well below that.
    unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(n - done, 1u << 26));
    int got = gzread(f, out + done, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      return InvalidArgument(path + ": corrupt or truncated while reading " + what + ": " +
                             (msg ? msg : "gzread failed"));
    }
    if (got == 0) {
      return InvalidArgument(path + ": truncated: " + what + " needs " + std::to_string(n) +
                             " bytes, file has " + std::to_string(done));
    }
    done += static_cast<uint64_t>(got);
  }
  return Status::Ok();
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// Opens `path`, checks the magic, reads the dimensions and the payload.
Status ReadIdx(const std::string& path, uint32_t magic, std::vector<uint32_t>* dims,
               std::vector<uint8_t>* payload) {
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) return NotFound(path + ": cannot open");
  uint8_t header[4];
  DROVER_RETURN_IF_ERROR(ReadExactly(f.get(), path, "magic", header, 4));
  uint32_t got_magic = BigEndian32(header);
  if (got_magic != magic) {
    return InvalidArgument(path + ": bad magic " + Hex32(got_magic) + ", want " + Hex32(magic));
  }
  size_t ndims = magic & 0xff;
  std::vector<uint8_t> raw(4 * ndims);
  DROVER_RETURN_IF_ERROR(ReadExactly(f.get(), path, "dimensions", raw.data(), raw.size()));
  dims->clear();
  uint64_t total = 1;
  for (size_t i = 0; i < ndims; ++i) {
    uint32_t d = BigEndian32(raw.data() + 4 * i);
    if (d > INT_MAX) {
      return InvalidArgument(path + ": dimension " + std::to_string(i) + " is " +
                             std::to_string(d) + ", over " + std::to_string(INT_MAX));
    }
    dims->push_back(d);
    // Checked per factor, so the product cannot overflow before the cap is hit.
    total *= d;
    if (total > kMaxIdxPayloadBytes) {
      return InvalidArgument(path + ": dimensions describe more than " +
                             std::to_string(kMaxIdxPayloadBytes) + " bytes");
    }
  }
  payload->assign(total, 0);
  DROVER_RETURN_IF_ERROR(ReadExactly(f.get(), path, "data", payload->data(), total));
  uint8_t extra;
  int more = gzread(f.get(), &extra, 1);
  if (more < 0) {
    int errnum = 0;
    const char* msg = gzerror(f.get(), &errnum);
    return InvalidArgument(path + ": corrupt after the data: " + (msg ? msg : "gzread failed"));
  }
  if (more > 0)
    return InvalidArgument(path + ": trailing bytes after " + std::to_string(total) +
                           " bytes of data");
  return Status::Ok();
}

}  // namespace

Result<IdxImages> ReadIdxImages(const std::string& path) {
  std::vector<uint32_t> dims;
  IdxImages images;
  DROVER_RETURN_IF_ERROR(ReadIdx(path, kImagesMagic, &dims, &images.pixels));
  images.count = static_cast<int>(dims[0]);
  images.rows = static_cast<int>(dims[1]);
  images.cols = static_cast<int>(dims[2]);
  return images;
}

Result<std::vector<uint8_t>> ReadIdxLabels(const std::string& path) {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> labels;
  DROVER_RETURN_IF_ERROR(ReadIdx(path, kLabelsMagic, &dims, &labels));
  return labels;
}

Result<Dataset> LoadFashionMnist(const std::string& dir, bool train) {
  std::string prefix = dir + "/" + (train ? "train" : "t10k");
  std::string labels_path = prefix + "-labels-idx1-ubyte.gz";
  Result<IdxImages> images = ReadIdxImages(prefix + "-images-idx3-ubyte.gz");
  if (!images.ok()) return images.status();
  Result<std::vector<uint8_t>> labels = ReadIdxLabels(labels_path);
  if (!labels.ok()) return labels.status();
  if (labels->size() != static_cast<size_t>(images->count)) {
    return InvalidArgument(labels_path + ": " + std::to_string(labels->size()) + " labels for " +
                           std::to_string(images->count) + " images");
  }
  for (size_t i = 0; i < labels->size(); ++i) {
    if ((*labels)[i] >= kFashionMnistClasses) {
      return InvalidArgument(labels_path + ": label " + std::to_string(i) + " is " +
                             std::to_string((*labels)[i]) + ", outside 0.." +
                             std::to_string(kFashionMnistClasses - 1));
    }
  }
  return Dataset{std::move(images).value(), std::move(labels).value()};
}

}  // namespace drover::train
