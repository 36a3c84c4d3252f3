#include "optimize/gate.h"

#include <gtest/gtest.h>

#include <limits>

namespace orbit::optimize {
namespace {

TEST(GateTest, AcceptsVariantWithinBothLimits) {
  const GateDecision d = ApplyGate({"int8", 0.80, 0.795, {{1, 1.6}, {8, 1.9}}}, {0.01, 1.2});
  EXPECT_TRUE(d.accepted);
  EXPECT_TRUE(d.reasons.empty());
  EXPECT_NEAR(d.iou_drop, 0.005, 1e-12);
  EXPECT_DOUBLE_EQ(d.speedup, 1.6);
  EXPECT_EQ(d.slowest_batch, 1);
}

TEST(GateTest, RejectsAccuracyDropWithTheNumbers) {
  const GateDecision d = ApplyGate({"int8", 0.80, 0.78, {{1, 2.0}}}, {0.01, 1.2});
  EXPECT_FALSE(d.accepted);
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0], "IoU drop 0.0200 (0.8000 -> 0.7800) > --max-accuracy-drop 0.0100");
}

TEST(GateTest, RejectsWhenSlowestBatchSizeIsUnderMinSpeedup) {
  const GateDecision d = ApplyGate({"fp16", 0.8, 0.8, {{1, 1.5}, {8, 1.1}}}, {0.01, 1.2});
  EXPECT_FALSE(d.accepted);
  EXPECT_DOUBLE_EQ(d.speedup, 1.1);
  EXPECT_EQ(d.slowest_batch, 8);
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0], "speedup 1.10x at batch 8 < --min-speedup 1.20x");
}

// 0.80 - 0.79 is 0.0100000000000000009 in doubles; the documented "<=" must still hold.
TEST(GateTest, DropExactlyAtTheLimitIsAccepted) {
  EXPECT_TRUE(ApplyGate({"x", 0.80, 0.79, {{1, 1.2}}}, {0.01, 1.2}).accepted);
}

TEST(GateTest, ListsBothReasonsWhenBothFail) {
  const GateDecision d = ApplyGate({"x", 0.9, 0.5, {{1, 0.5}}}, {0.01, 1.2});
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reasons.size(), 2u);
}

TEST(GateTest, HigherIouThanReferenceIsANegativeDropAndAccepted) {
  const GateDecision d = ApplyGate({"x", 0.80, 0.81, {{1, 1.3}}}, {0.0, 1.2});
  EXPECT_TRUE(d.accepted);
  EXPECT_LT(d.iou_drop, 0);
}

TEST(GateTest, UnmeasuredSpeedOrNanIouIsRejected) {
  EXPECT_FALSE(ApplyGate({"x", 0.8, 0.8, {}}, {}).accepted);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(ApplyGate({"x", 0.8, nan, {{1, 2.0}}}, {}).accepted);
}

TEST(GateTest, RecommendsTheFastestAcceptedVariant) {
  std::vector<GateDecision> decisions = {
      ApplyGate({"fp16", 0.8, 0.8, {{1, 1.3}}}, {}),
      ApplyGate({"int8-minmax", 0.8, 0.79, {{1, 1.8}}}, {}),
      ApplyGate({"int8-entropy", 0.8, 0.7, {{1, 2.5}}}, {}),  // faster but rejected
  };
  EXPECT_EQ(RecommendVariant(decisions), "int8-minmax");
}

TEST(GateTest, RecommendsNothingWhenAllAreRejected) {
  EXPECT_EQ(RecommendVariant({ApplyGate({"x", 0.8, 0.8, {{1, 1.0}}}, {})}), std::nullopt);
  EXPECT_EQ(RecommendVariant({}), std::nullopt);
}

TEST(GateTest, ValidatesOptions) {
  EXPECT_TRUE(ValidateGateOptions({}).ok());
  EXPECT_EQ(ValidateGateOptions({-0.1, 1.2}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateGateOptions({0.01, 0}).code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ValidateGateOptions({0.01, -1}).message().find("--min-speedup"), std::string::npos);
}

}  // namespace
}  // namespace orbit::optimize
