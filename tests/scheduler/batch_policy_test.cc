// The batching rule on its own: which requests form a batch and when it is dispatched.
#include "scheduler/batch_policy.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace orbit::scheduler
