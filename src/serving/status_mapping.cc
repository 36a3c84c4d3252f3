#include "serving/status_mapping.h"

#include <nlohmann/json.hpp>

namespace orbit::serving {

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return kHttpOk;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kFailedPrecondition:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted:
      return 409;
    case StatusCode::kCancelled:
      return 499;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
      return kHttpServiceUnavailable;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kUnknown:
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
      return 500;
  }
  return 500;
}

int HttpStatusForParseFailure(StatusCode code) {
  return code == StatusCode::kResourceExhausted ? kHttpPayloadTooLarge : HttpStatusFor(code);
}

std::string ErrorBodyJson(const Status& status) {
  const nlohmann::json body = {{"error", status.message()}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int GrpcCodeFor(StatusCode code) {
  // Spelled out rather than cast so that reordering StatusCode cannot change the wire codes.
  switch (code) {
    case StatusCode::kOk:
      return 0;
    case StatusCode::kCancelled:
      return 1;
    case StatusCode::kUnknown:
      return 2;
    case StatusCode::kInvalidArgument:
      return 3;
    case StatusCode::kDeadlineExceeded:
      return 4;
    case StatusCode::kNotFound:
      return 5;
    case StatusCode::kAlreadyExists:
      return 6;
    case StatusCode::kPermissionDenied:
      return 7;
    case StatusCode::kResourceExhausted:
      return 8;
    case StatusCode::kFailedPrecondition:
      return 9;
    case StatusCode::kAborted:
      return 10;
    case StatusCode::kOutOfRange:
      return 11;
    case StatusCode::kUnimplemented:
      return 12;
    case StatusCode::kInternal:
      return 13;
    case StatusCode::kUnavailable:
      return 14;
    case StatusCode::kDataLoss:
      return 15;
    case StatusCode::kUnauthenticated:
      return 16;
  }
  return 2;  // UNKNOWN
}

}  // namespace orbit::serving
