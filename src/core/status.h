// Status and Result<T>: the error values every Orbit library returns at its public boundary.
// A Status carries a code (which HTTP/gRPC/exit code it maps to) and a message that names the
// thing and the reason, e.g. "image 'a.tif': 16-bit RGB is not supported".
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace orbit {

// Codes follow the gRPC/absl canonical set so that protocol front ends map them in one place.
enum class StatusCode {
  kOk = 0,
  kCancelled,
  kUnknown,
  kInvalidArgument,
  kDeadlineExceeded,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kResourceExhausted,
  kFailedPrecondition,
  kAborted,
  kOutOfRange,
  kUnimplemented,
  kInternal,
  kUnavailable,
  kDataLoss,
  kUnauthenticated,
};

std::string_view StatusCodeName(StatusCode code);

// The outcome of an operation that returns no value. Cheap to copy when ok.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "INVALID_ARGUMENT: image 'a.png': ..." ("OK" when ok).
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>"; keeps the code.
  Status WithContext(std::string_view context) const;

  bool operator==(const Status& other) const = default;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status FailedPreconditionError(std::string message);
Status OutOfRangeError(std::string message);
Status ResourceExhaustedError(std::string message);
Status UnavailableError(std::string message);
Status UnimplementedError(std::string message);
Status InternalError(std::string message);
Status DataLossError(std::string message);
Status DeadlineExceededError(std::string message);
Status CancelledError(std::string message);

// Either a value of type T or a non-ok Status. Accessing the value of an error is a bug
// (asserted in debug builds).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!status_.ok() && "Result constructed from an ok Status without a value");
    if (status_.ok()) status_ = InternalError("Result constructed from an ok Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace orbit

#define ORBIT_CONCAT_INNER_(a, b) a##b
#define ORBIT_CONCAT_(a, b) ORBIT_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` is not ok.
#define ORBIT_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::orbit::Status orbit_status_ = (expr);        \
    if (!orbit_status_.ok()) return orbit_status_; \
  } while (false)

// `lhs = value of expr`, or returns its Status from the enclosing function.
#define ORBIT_ASSIGN_OR_RETURN(lhs, expr) \
  ORBIT_ASSIGN_OR_RETURN_IMPL_(ORBIT_CONCAT_(orbit_result_, __LINE__), lhs, expr)
#define ORBIT_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr) \
  auto result = (expr);                                 \
  if (!result.ok()) return result.status();             \
  lhs = std::move(result).value()
