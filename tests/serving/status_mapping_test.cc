#include "serving/status_mapping.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace orbit::serving {
namespace {

struct MappingCase {
  StatusCode code;
  int http;
  int grpc;
};

// grpc::StatusCode numbers are the wire protocol: spelled out here, not derived.
constexpr MappingCase kTable[] = {
    {StatusCode::kOk, 200, 0},
    {StatusCode::kCancelled, 499, 1},
    {StatusCode::kUnknown, 500, 2},
    {StatusCode::kInvalidArgument, 400, 3},
    {StatusCode::kDeadlineExceeded, 504, 4},
    {StatusCode::kNotFound, 404, 5},
    {StatusCode::kAlreadyExists, 409, 6},
    {StatusCode::kPermissionDenied, 403, 7},
    {StatusCode::kResourceExhausted, 503, 8},
    {StatusCode::kFailedPrecondition, 400, 9},
    {StatusCode::kAborted, 409, 10},
    {StatusCode::kOutOfRange, 400, 11},
    {StatusCode::kUnimplemented, 501, 12},
    {StatusCode::kInternal, 500, 13},
    {StatusCode::kUnavailable, 503, 14},
    {StatusCode::kDataLoss, 500, 15},
    {StatusCode::kUnauthenticated, 401, 16},
};

TEST(StatusMappingTest, MapsEveryCodeToHttpAndGrpc) {
  for (const auto& c : kTable) {
    EXPECT_EQ(HttpStatusFor(c.code), c.http) << StatusCodeName(c.code);
    EXPECT_EQ(GrpcCodeFor(c.code), c.grpc) << StatusCodeName(c.code);
  }
  EXPECT_EQ(std::size(kTable), static_cast<std::size_t>(StatusCode::kUnauthenticated) + 1);
}

TEST(StatusMappingTest, ParseFailureMapsResourceExhaustedToPayloadTooLarge) {
  EXPECT_EQ(HttpStatusForParseFailure(StatusCode::kResourceExhausted), kHttpPayloadTooLarge);
  EXPECT_EQ(HttpStatusForParseFailure(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusForParseFailure(StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusFor(StatusCode::kResourceExhausted), kHttpServiceUnavailable);
}

TEST(StatusMappingTest, ErrorBodyCarriesTheMessage) {
  EXPECT_EQ(ErrorBodyJson(InvalidArgumentError("input 'x': shape [1] has 1 elements")),
            R"({"error":"input 'x': shape [1] has 1 elements"})");
  EXPECT_EQ(ErrorBodyJson(NotFoundError("model \"a\"\n")), R"({"error":"model \"a\"\n"})");
}

TEST(StatusMappingTest, ErrorBodyIsValidJsonForInvalidUtf8) {
  const std::string body = ErrorBodyJson(InvalidArgumentError("bad \xff\xfe bytes"));
  const auto parsed = nlohmann::json::parse(body);
  EXPECT_EQ(parsed["error"], "bad \xef\xbf\xbd\xef\xbf\xbd bytes");
}

}  // namespace
}  // namespace orbit::serving
