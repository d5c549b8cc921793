// Small pieces every routes file uses: JSON answers, errors as
// {"error": "..."} with the status a StatusCode maps to, query parameters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/resources.h"
#include "common/status.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace drover::server {

using json = nlohmann::json;

//! The HTTP status a StatusCode answers with (kUnavailable: 503, ...).
int HttpStatus(StatusCode code);
//! Answers `status` with `body` as JSON; invalid UTF-8 in strings is replaced, never thrown on.
void Reply(httplib::Response& res, int status, const json& body);
//! Answers 200 with a message already encoded by its codec (api/wire.h).
void ReplyEncoded(httplib::Response& res, const std::string& json_text);
//! Answers the error: HttpStatus(st.code()) and {"error": st.message()}.
void Fail(httplib::Response& res, const Status& st);
//! Query parameter `name` as an integer: unset when absent, kInvalidArgument naming it when not one.
Result<std::optional<int64_t>> IntParam(const httplib::Request& req, const char* name);
//! Whether a flag parameter is on ("1" or "true").
bool FlagParam(const httplib::Request& req, const char* name);
//! A path segment captured as digits (`(\d+)`), as a number; kNotFound-worthy when it overflows.
std::optional<uint64_t> PathNumber(const httplib::Request& req, size_t index);

//! The name a parse error is labelled with: `?file=` as the client gave it
//! (printable, at most 256 characters), else `fallback`.
std::string FileLabel(const httplib::Request& req, const std::string& fallback);

json ResourcesJson(const Resources& r);

template <typename T>
json OrNull(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

}  // namespace drover::server
