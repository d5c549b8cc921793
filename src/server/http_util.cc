#include "server/http_util.h"

#include <cerrno>
#include <cstdlib>

#include <httplib.h>

namespace drover::server {

int HttpStatus(StatusCode c) {
  switch (c) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kResourceExhausted: return 413;
    case StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Keys of a job's store are caller's bytes: never throw on invalid UTF-8.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void ReplyEncoded(httplib::Response& res, const std::string& json_text) {
  res.status = 200;
  res.set_content(json_text, "application/json");
}

void Fail(httplib::Response& res, const Status& st) { Reply(res, HttpStatus(st.code()), {{"error", st.message()}}); }

Result<std::optional<int64_t>> IntParam(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) return std::optional<int64_t>();
  std::string v = req.get_param_value(name);
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || errno == ERANGE) {
    return InvalidArgument(std::string(name) + ": expected an integer, got \"" + v + "\"");
  }
  return std::optional<int64_t>(n);
}

bool FlagParam(const httplib::Request& req, const char* name) {
  std::string v = req.get_param_value(name);
  return v == "1" || v == "true";
}

std::optional<uint64_t> PathNumber(const httplib::Request& req, size_t index) {
  if (req.matches.size() <= index) return std::nullopt;
  std::string s = req.matches[index];
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || *end || errno == ERANGE) return std::nullopt;
  return static_cast<uint64_t>(v);
}

std::string FileLabel(const httplib::Request& req, const std::string& fallback) {
  std::string f = req.get_param_value("file");
  if (f.empty() || f.size() > 256) return fallback;
  for (unsigned char c : f) {
    if (c < 0x20 || c == 0x7f) return fallback;
  }
  return f;
}

json ResourcesJson(const Resources& r) {
  return {{"gpus", r.gpus}, {"cpu_millis", r.cpu_millis}, {"memory_mib", r.memory_mib}};
}

}  // namespace drover::server
