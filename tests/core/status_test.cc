#include "core/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace orbit {
namespace {

Result<int> ParsePositive(int x) {
  if (x <= 0) return InvalidArgumentError("value " + std::to_string(x) + " is not positive");
  return x;
}

Result<int> DoublePositive(int x) {
  ORBIT_ASSIGN_OR_RETURN(const int v, ParsePositive(x));
  return 2 * v;
}

Status CheckBoth(int a, int b) {
  ORBIT_RETURN_IF_ERROR(ParsePositive(a).status());
  ORBIT_RETURN_IF_ERROR(ParsePositive(b).status());
  return Status::Ok();
}

TEST(StatusTest, DefaultIsOkAndPrintsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  Status s = NotFoundError("model 'x' not found");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: model 'x' not found");
}

TEST(StatusTest, WithContextPrefixesMessageAndKeepsCode) {
  Status s = InvalidArgumentError("bad").WithContext("image 'a.png'");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "image 'a.png': bad");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
}

TEST(ResultTest, AssignOrReturnPropagatesErrorAndValue) {
  EXPECT_EQ(*DoublePositive(4), 8);
  auto bad = DoublePositive(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "value -1 is not positive");
}

TEST(ResultTest, ReturnIfErrorStopsAtFirstError) {
  EXPECT_TRUE(CheckBoth(1, 2).ok());
  EXPECT_EQ(CheckBoth(1, -2).message(), "value -2 is not positive");
  EXPECT_EQ(CheckBoth(-1, -2).message(), "value -1 is not positive");
}

TEST(ResultTest, HoldsMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

}  // namespace
}  // namespace orbit
