// Status and Result<T>: expected failures as values.
//
// A Status carries a small generic code and a message that names the field or
// resource at fault ("plan.yaml:7: consumers[2].owned: -1 is negative"). Nothing
// in drover throws across a module boundary; functions that can fail return one
// of these, marked [[nodiscard]]. Thread safety: plain values.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace drover {

enum class StatusCode {
  kOk,
  kInvalidArgument,    // the caller's input is malformed or inconsistent
  kNotFound,           // a named thing does not exist
  kAlreadyExists,      // a thing with that name exists
  kFailedPrecondition, // valid input, but the system is not in a state to accept it
  kResourceExhausted,  // would exceed a quota or capacity
  kUnavailable,        // try again later
  kUnauthenticated,    // no valid credentials
  kPermissionDenied,   // valid credentials, but not allowed to do this
  kInternal,           // a bug or a broken invariant
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  //! "INVALID_ARGUMENT: message", or "OK".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }

// Result<T> holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result needs a value or an error");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace drover

#define DROVER_RETURN_IF_ERROR(expr)          \
  do {                                        \
    ::drover::Status _st = (expr);            \
    if (!_st.ok()) return _st;                \
  } while (0)
