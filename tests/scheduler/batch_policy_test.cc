// The batching rule on its own: which requests form a batch and when it is dispatched.
#include "scheduler/batch_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

#include <cstdint>
#include <vector>

namespace orbit::scheduler {
namespace {

using Items = std::vector<std::int64_t>;

Tensor Make(DType dtype, Shape shape) {
  auto tensor = Tensor::Zeros(dtype, std::move(shape));
  EXPECT_TRUE(tensor.ok());
  return std::move(tensor).value();
}

std::vector<Tensor> One(DType dtype, Shape shape) {
  std::vector<Tensor> tensors;
  tensors.push_back(Make(dtype, std::move(shape)));
  return tensors;
}

TEST(DecideBatchTest, DispatchesAFullBatchAtOnce) {
  const BatchDecision decision = DecideBatch(Items{1, 1, 1, 1}, 4, {}, false);
  EXPECT_TRUE(decision.dispatch);
  EXPECT_EQ(decision.take, 4u);
}

TEST(DecideBatchTest, TakesOnlyWhatFitsWhenMoreIsQueued) {
  const BatchDecision decision = DecideBatch(Items{1, 1, 1, 1, 1, 1}, 4, {}, false);
  EXPECT_TRUE(decision.dispatch);
  EXPECT_EQ(decision.take, 4u);
}

TEST(DecideBatchTest, WaitsWhileTheBatchCanGrowAndTheWindowIsOpen) {
  const BatchDecision decision = DecideBatch(Items{1, 2}, 8, {}, false);
  EXPECT_FALSE(decision.dispatch);
}

TEST(DecideBatchTest, DispatchesWhatFitsWhenTheWindowCloses) {
  const BatchDecision decision = DecideBatch(Items{1, 2}, 8, {}, true);
  EXPECT_TRUE(decision.dispatch);
  EXPECT_EQ(decision.take, 2u);
}

TEST(DecideBatchTest, DispatchesWhenTheNextRequestWouldOverflow) {
  // 3 + 3 fit in 8; the next 3 would not, and skipping it would break FIFO order.
  const BatchDecision decision = DecideBatch(Items{3, 3, 3}, 8, {}, false);
  EXPECT_TRUE(decision.dispatch);
  EXPECT_EQ(decision.take, 2u);
}

TEST(DecideBatchTest, DispatchesTheLargestPreferredSizeReached) {
  const Items preferred = {2, 4};
  BatchDecision decision = DecideBatch(Items{1, 1, 1, 1, 1}, 8, preferred, false);
  EXPECT_TRUE(decision.dispatch);
  EXPECT_EQ(decision.take, 4u);

  decision = DecideBatch(Items{1, 1, 1}, 8, preferred, false);
  EXPECT_TRUE(decision.dispatch);
  EXPECT_EQ(decision.take, 2u);

  decision = DecideBatch(Items{1}, 8, preferred, false);
  EXPECT_FALSE(decision.dispatch);
}

TEST(DecideBatchTest, PreferredSizeMustBeReachedExactly) {
  // 3 then 6: a multi-item request jumps over the preferred 4.
  const BatchDecision decision = DecideBatch(Items{3, 3}, 8, Items{4}, false);
  EXPECT_FALSE(decision.dispatch);
}

TEST(DecideBatchTest, ClosedWindowTakesEverythingThatFitsNotJustThePreferredSize) {
  const BatchDecision decision = DecideBatch(Items{1, 1, 1, 1, 1}, 8, Items{4}, true);
  EXPECT_TRUE(decision.dispatch);
  EXPECT_EQ(decision.take, 5u);
}

TEST(DecideBatchTest, MaxBatchSizeOneDispatchesOneRequest) {
  const BatchDecision decision = DecideBatch(Items{1}, 1, {}, false);
  EXPECT_TRUE(decision.dispatch);
  EXPECT_EQ(decision.take, 1u);
}

TEST(CanShareBatchTest, IgnoresTheBatchDimension) {
  EXPECT_TRUE(CanShareBatch(One(DType::kFloat32, {1, 3, 4}), One(DType::kFloat32, {2, 3, 4})));
}

TEST(CanShareBatchTest, RejectsDifferentTrailingDimsDtypesRanksAndCounts) {
  EXPECT_FALSE(CanShareBatch(One(DType::kFloat32, {1, 3, 4}), One(DType::kFloat32, {1, 3, 5})));
  EXPECT_FALSE(CanShareBatch(One(DType::kFloat32, {1, 3}), One(DType::kUInt8, {1, 3})));
  EXPECT_FALSE(CanShareBatch(One(DType::kFloat32, {1, 3}), One(DType::kFloat32, {1, 3, 1})));
  EXPECT_FALSE(CanShareBatch(One(DType::kFloat32, {}), One(DType::kFloat32, {})));
  std::vector<Tensor> two = One(DType::kFloat32, {1, 3});
  two.push_back(Make(DType::kFloat32, {1, 3}));
  EXPECT_FALSE(CanShareBatch(two, One(DType::kFloat32, {1, 3})));
}

TEST(CanShareBatchTest, ComparesEveryInput) {
  std::vector<Tensor> a = One(DType::kFloat32, {1, 3});
  a.push_back(Make(DType::kFloat32, {1, 8}));
  std::vector<Tensor> b = One(DType::kFloat32, {1, 3});
  b.push_back(Make(DType::kFloat32, {1, 9}));
  EXPECT_FALSE(CanShareBatch(a, b));
}

// Feeds the tuner what an engine with cost `ns_per_item(level)` would measure, for `rounds`
// decisions, and returns the caps it chose.
std::vector<std::int64_t> Drive(BatchSizeTuner& tuner, int rounds,
                                const std::function<double(std::int64_t)>& ns_per_item) {
  std::vector<std::int64_t> caps;
  for (int i = 0; i < rounds; ++i) {
    const std::int64_t cap = tuner.NextCap();
    caps.push_back(cap);
    tuner.Record(cap, std::chrono::nanoseconds(static_cast<std::int64_t>(cap * ns_per_item(cap))));
  }
  return caps;
}

TEST(BatchSizeTunerTest, LevelsArePowersOfTwoUpToMax) {
  EXPECT_EQ(BatchSizeTuner(8).levels(), (std::vector<std::int64_t>{1, 2, 4, 8}));
  EXPECT_EQ(BatchSizeTuner(6).levels(), (std::vector<std::int64_t>{1, 2, 4, 6}));
  EXPECT_EQ(BatchSizeTuner(1).levels(), (std::vector<std::int64_t>{1}));
}

TEST(BatchSizeTunerTest, MeasuresEveryLevelLargestFirst) {
  BatchSizeTuner tuner(8);
  const auto caps = Drive(tuner, 12, [](std::int64_t) { return 1000.0; });
  EXPECT_EQ(caps, (std::vector<std::int64_t>{8, 8, 8, 4, 4, 4, 2, 2, 2, 1, 1, 1}));
}

TEST(BatchSizeTunerTest, SettlesOnSmallBatchesWhereBatchingCostsMorePerItem) {
  BatchSizeTuner tuner(8);  // a small CPU: per-item cost grows with the batch
  const auto caps = Drive(tuner, 200, [](std::int64_t b) { return 1000.0 * (1 + 0.1 * b); });
  const std::vector<std::int64_t> settled(caps.begin() + 100, caps.end());
  EXPECT_GE(std::count(settled.begin(), settled.end(), 1), 90);
  EXPECT_EQ(*std::max_element(settled.begin(), settled.end()), 2);  // explores next door only
}

TEST(BatchSizeTunerTest, SettlesOnFullBatchesWhereBatchingIsCheap) {
  BatchSizeTuner tuner(8);  // a GPU: one batch costs about the same whatever its size
  const auto caps = Drive(tuner, 200, [](std::int64_t b) { return 8000.0 / b; });
  const std::vector<std::int64_t> settled(caps.begin() + 100, caps.end());
  EXPECT_GE(std::count(settled.begin(), settled.end(), 8), 90);
}

TEST(BatchSizeTunerTest, FollowsTheHardwareWhenCostsChange) {
  BatchSizeTuner tuner(8);
  Drive(tuner, 100, [](std::int64_t b) { return 8000.0 / b; });
  const auto caps = Drive(tuner, 400, [](std::int64_t b) { return 1000.0 * (1 + 0.2 * b); });
  const std::vector<std::int64_t> last(caps.end() - 50, caps.end());
  EXPECT_GE(std::count(last.begin(), last.end(), 1), 45);
}

TEST(BatchSizeTunerTest, TiesGoToTheLargerBatch) {
  BatchSizeTuner tuner(4);
  const auto caps = Drive(tuner, 60, [](std::int64_t b) { return b == 1 ? 990.0 : 1000.0; });
  EXPECT_EQ(caps.back(), 4);
}

}  // namespace
}  // namespace orbit::scheduler
