// ModelScheduler on real ONNX Runtime engines (tests/runtime/data): batched results equal
// unbatched ones.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <vector>

#include "runtime/engine.h"
#include "scheduler/scheduler.h"

namespace orbit::scheduler {
namespace {

using ::testing::ElementsAre;

std::shared_ptr<const runtime::Engine> MustLoad(const std::string& file) {
  auto engine = runtime::LoadOnnxEngine(std::filesystem::path(ORBIT_SOURCE_DIR) /
                                        "tests/runtime/data" / file);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return engine.ok() ? std::shared_ptr<const runtime::Engine>(std::move(engine).value()) : nullptr;
}

Tensor Ramp(Shape shape, float start) {
  const std::int64_t count = ElementCount(shape).value();
  std::vector<float> values(static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = start + 0.25f * static_cast<float>(i);
  return Tensor::FromVector<float>(std::move(shape), values).value();
}

std::vector<float> Values(const Tensor& tensor) {
  const auto data = tensor.data<float>();
  return {data.begin(), data.end()};
}

class BatchRecorder : public SchedulerListener {
 public:
  void OnRequestDone(const RequestTiming&, const Status&) override {}
  void OnBatchExecuted(int batch_size, std::chrono::nanoseconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    batches_.push_back(batch_size);
  }
  std::vector<int> batches() const {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<int> batches_;
};

// Unbatched reference outputs, one engine run per input.
std::vector<std::vector<float>> RunAlone(const runtime::Engine& engine,
                                         const std::vector<Tensor>& inputs) {
  std::vector<std::vector<float>> expected;
  for (const Tensor& input : inputs) {
    std::vector<Tensor> alone;
    alone.push_back(input.Clone());
    auto reference = engine.Run(alone);
    EXPECT_TRUE(reference.ok()) << reference.status().ToString();
    expected.push_back(reference.ok() ? Values((*reference)[0]) : std::vector<float>());
  }
  return expected;
}

std::vector<std::future<Result<std::vector<Tensor>>>> SubmitAll(ModelScheduler& scheduler,
                                                                std::vector<Tensor> inputs) {
  std::vector<std::future<Result<std::vector<Tensor>>>> futures;
  for (Tensor& input : inputs) {
    auto promise = std::make_shared<std::promise<Result<std::vector<Tensor>>>>();
    futures.push_back(promise->get_future());
    InferenceRequest request;
    request.inputs.push_back(std::move(input));
    scheduler.Submit(std::move(request), [promise](Result<std::vector<Tensor>> r) {
      promise->set_value(std::move(r));
    });
  }
  return futures;
}

void ExpectResults(std::vector<std::future<Result<std::vector<Tensor>>>>& futures,
                   const std::vector<std::vector<float>>& expected) {
  ASSERT_EQ(futures.size(), expected.size());
  for (std::size_t i = 0; i < futures.size(); ++i) {
    ASSERT_EQ(futures[i].wait_for(std::chrono::seconds(60)), std::future_status::ready);
    auto result = futures[i].get();
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    ASSERT_EQ(result->size(), 1u);
    EXPECT_THAT(Values((*result)[0]), testing::Pointwise(testing::FloatNear(1e-5f), expected[i]))
        << "request " << i;
  }
}

TEST(OnnxSchedulerTest, BatchesAddOneAndRoutesEveryRow) {
  auto engine = MustLoad("add_one.onnx");
  ASSERT_NE(engine, nullptr);
  BatchRecorder recorder;
  auto scheduler = ModelScheduler::Create(
      "add_one", "1", engine, {.max_batch_size = 4, .max_queue_delay = std::chrono::minutes(30)},
      &recorder);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status().ToString();
  std::vector<Tensor> inputs;
  for (int i = 0; i < 4; ++i) inputs.push_back(Ramp({1, 3}, 10.0f * static_cast<float>(i)));
  const auto expected = RunAlone(*engine, inputs);
  auto futures = SubmitAll(**scheduler, std::move(inputs));
  ExpectResults(futures, expected);  // 4 fill the batch: no waiting for the window
  EXPECT_THAT(recorder.batches(), ElementsAre(4));
}

TEST(OnnxSchedulerTest, ConvWithDifferentImageSizesBatchesOnlyMatchingOnes) {
  auto engine = MustLoad("conv_dynamic.onnx");
  ASSERT_NE(engine, nullptr);
  BatchRecorder recorder;
  auto scheduler = ModelScheduler::Create(
      "conv", "1", engine, {.max_batch_size = 4, .max_queue_delay = std::chrono::minutes(30)},
      &recorder);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status().ToString();
  std::vector<Tensor> inputs;
  inputs.push_back(Ramp({1, 1, 6, 5}, 0));
  inputs.push_back(Ramp({1, 1, 4, 7}, 1));
  inputs.push_back(Ramp({2, 1, 6, 5}, 2));
  const auto expected = RunAlone(*engine, inputs);
  auto futures = SubmitAll(**scheduler, std::move(inputs));
  ASSERT_TRUE((*scheduler)->Shutdown(std::chrono::seconds(60)).ok());  // drains both batches
  ExpectResults(futures, expected);
  // The two 6x5 requests (3 items) share a batch; the 4x7 one runs alone.
  EXPECT_THAT(recorder.batches(), ElementsAre(3, 1));
}

}  // namespace
}  // namespace orbit::scheduler
