#include "server/auth.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace drover::server {
namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += k[p[i] >> 4];
    out += k[p[i] & 15];
  }
  return out;
}

}  // namespace

std::string NewToken(const std::string& kind) {
  unsigned char buf[32];
  // RAND_bytes only fails when the OS entropy source is broken; nothing safe can go on then.
  if (RAND_bytes(buf, sizeof buf) != 1) std::abort();
  return "drv_" + kind + "_" + Hex(buf, sizeof buf);
}

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return Hex(md, len);
}

bool PathWithin(const std::string& path, const std::string& root) {
  if (root == "/") return true;
  if (path.compare(0, root.size(), root) != 0) return false;
  return path.size() == root.size() || path[root.size()] == '/';
}

bool MayUse(const Principal& who, const std::string& consumer) {
  if (who.role == Role::kAdmin) return true;
  if (who.role != Role::kUser) return false;
  for (const std::string& c : who.consumers) {
    if (PathWithin(consumer, c)) return true;
  }
  return false;
}

bool MaySeeJob(const Principal& who, JobId job, const std::string& consumer) {
  return who.role == Role::kWorker ? who.job == job : MayUse(who, consumer);
}

}  // namespace drover::server
