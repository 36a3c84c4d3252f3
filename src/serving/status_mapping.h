// The one place where a Status code becomes an HTTP status, a gRPC code and a KServe v2 error
// body, so that every endpoint answers the same failure the same way.
#pragma once

#include <string>

#include "core/status.h"

namespace orbit::serving {

inline constexpr int kHttpOk = 200;
inline constexpr int kHttpPayloadTooLarge = 413;
inline constexpr int kHttpServiceUnavailable = 503;

// HTTP status for a failure (200 for kOk). ResourceExhausted maps to 503 because in a running
// server it means overload (queue full): send Retry-After with it. Client errors: InvalidArgument,
// OutOfRange, FailedPrecondition 400; Unauthenticated 401; PermissionDenied 403; NotFound 404;
// AlreadyExists, Aborted 409; Cancelled 499 (client closed request); Unimplemented 501;
// Unavailable 503; DeadlineExceeded 504; Unknown, Internal, DataLoss 500.
int HttpStatusFor(StatusCode code);

// HTTP status for a failure to read or parse a request body (ParseInferRequest, body limits):
// there ResourceExhausted means the request itself is too large, which retrying will not fix,
// so it is 413 Payload Too Large; every other code as HttpStatusFor.
int HttpStatusForParseFailure(StatusCode code);

// KServe v2 error body: {"error": "<message>"}. Always valid JSON: bytes of the message that are
// not UTF-8 are replaced with U+FFFD.
std::string ErrorBodyJson(const Status& status);

// Canonical gRPC code (the numbers of grpc::StatusCode), one for one. ResourceExhausted stays
// RESOURCE_EXHAUSTED (8) here; the server reports a full queue as UNAVAILABLE (14), as Triton
// does, by failing with an Unavailable status where it rejects the request, not by remapping.
int GrpcCodeFor(StatusCode code);

}  // namespace orbit::serving
