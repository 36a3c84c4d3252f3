// ModelScheduler with a fake engine: batching, routing, back-pressure, deadlines, errors,
// shutdown and concurrency. Synchronisation is by futures and the fake engine's gate, not sleeps;
// delay windows are set far beyond the test timeout wherever a test must not depend on them.
#include "scheduler/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "scheduler/fake_engine.h"

namespace orbit::scheduler {
namespace {

using ::orbit::scheduler::testing::FakeEngine;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Longer than any test may run, so a window that expires is never what dispatches a batch.
constexpr std::chrono::microseconds kForever = std::chrono::minutes(30);
constexpr auto kWait = std::chrono::seconds(60);

// One submitted request: counts its callbacks and keeps the first result.
struct Call {
  std::atomic<int> count{0};
  std::promise<Result<std::vector<Tensor>>> promise;
  std::shared_future<Result<std::vector<Tensor>>> future = promise.get_future().share();

  ModelScheduler::Callback Callback() {
    return [this](Result<std::vector<Tensor>> result) {
      if (count.fetch_add(1) == 0) promise.set_value(std::move(result));
    };
  }
  bool is_done() const { return future.wait_for(0s) == std::future_status::ready; }
  // The result, or a failure if it does not arrive within a minute.
  const Result<std::vector<Tensor>>& Await() const {
    static const Result<std::vector<Tensor>> kTimedOut = InternalError("test: no callback");
    if (future.wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "callback not invoked";
      return kTimedOut;
    }
    return future.get();
  }
};

// Thread-safe record of what the listener was told.
class RecordingListener : public SchedulerListener {
 public:
  void OnRequestDone(const RequestTiming& timing, const Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    statuses_.push_back(status.code());
    timings_.push_back(timing);
  }
  void OnBatchExecuted(int batch_size, std::chrono::nanoseconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    batches_.push_back(batch_size);
  }
  std::vector<StatusCode> statuses() const {
    std::lock_guard<std::mutex> lock(mu_);
    return statuses_;
  }
  std::vector<RequestTiming> timings() const {
    std::lock_guard<std::mutex> lock(mu_);
    return timings_;
  }
  std::vector<int> batches() const {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<StatusCode> statuses_;
  std::vector<RequestTiming> timings_;
  std::vector<int> batches_;
};

// [items, width] filled with value, value + 1, ...
Tensor Rows(std::int64_t items, std::int64_t width, float value) {
  std::vector<float> values(static_cast<std::size_t>(items * width));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = value + static_cast<float>(i);
  auto tensor = Tensor::FromVector<float>({items, width}, values);
  EXPECT_TRUE(tensor.ok());
  return std::move(tensor).value();
}

InferenceRequest Request(Tensor input) {
  InferenceRequest request;
  request.inputs.push_back(std::move(input));
  return request;
}

std::vector<float> Values(const Tensor& tensor) {
  const auto data = tensor.data<float>();
  return {data.begin(), data.end()};
}

std::vector<float> Doubled(const Tensor& tensor) {
  std::vector<float> values = Values(tensor);
  for (float& v : values) v *= 2;
  return values;
}

class ModelSchedulerTest : public ::testing::Test {
 protected:
  std::unique_ptr<ModelScheduler> MustCreate(SchedulerOptions options,
                                             SchedulerListener* listener = nullptr) {
    auto scheduler = ModelScheduler::Create("m", "1", engine_, std::move(options),
                                            listener != nullptr ? listener : &listener_);
    EXPECT_TRUE(scheduler.ok()) << scheduler.status().ToString();
    return scheduler.ok() ? std::move(scheduler).value() : nullptr;
  }

  // Submits `input`, keeping a copy to check the result against.
  Call& Submit(ModelScheduler& scheduler, Tensor input,
               std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt) {
    calls_.push_back(std::make_unique<Call>());
    sent_.push_back(input.Clone());
    InferenceRequest request = Request(std::move(input));
    request.deadline = deadline;
    Call& call = *calls_.back();
    scheduler.Submit(std::move(request), call.Callback());
    return call;
  }

  // Expects call `i` to have succeeded with 2 * what it sent.
  void ExpectDoubled(std::size_t i) {
    const auto& result = calls_[i]->Await();
    ASSERT_TRUE(result.ok()) << "request " << i << ": " << result.status().ToString();
    ASSERT_EQ(result->size(), 1u);
    EXPECT_EQ((*result)[0].shape(), sent_[i].shape()) << "request " << i;
    EXPECT_EQ(Values((*result)[0]), Doubled(sent_[i])) << "request " << i;
  }

  void ExpectEveryCallbackRanOnce() {
    for (std::size_t i = 0; i < calls_.size(); ++i) {
      EXPECT_EQ(calls_[i]->count.load(), 1) << "request " << i;
    }
  }

  std::shared_ptr<FakeEngine> engine_ = std::make_shared<FakeEngine>();
  RecordingListener listener_;
  std::vector<std::unique_ptr<Call>> calls_;
  std::vector<Tensor> sent_;
};

TEST_F(ModelSchedulerTest, RejectsInvalidOptionsWithTheKnobNamed) {
  const auto error = [&](SchedulerOptions options) {
    auto scheduler = ModelScheduler::Create("m", "1", engine_, std::move(options), nullptr);
    EXPECT_FALSE(scheduler.ok());
    EXPECT_EQ(scheduler.status().code(), StatusCode::kInvalidArgument);
    return scheduler.status().message();
  };
  EXPECT_EQ(error({.max_batch_size = 0}), "model 'm': max_batch_size must be at least 1, got 0");
  EXPECT_THAT(error({.max_batch_size = 4, .preferred_batch_sizes = {8}}),
              HasSubstr("preferred batch size 8 must be between 1 and max_batch_size 4"));
  EXPECT_THAT(error({.max_batch_size = 4, .preferred_batch_sizes = {2, 2}}),
              HasSubstr("preferred batch size 2 is listed twice"));
  EXPECT_THAT(error({.max_queue_delay = -1us}), HasSubstr("max_queue_delay must be between"));
  EXPECT_THAT(error({.max_queue_size = 0}), HasSubstr("max_queue_size must be at least 1"));
  EXPECT_THAT(error({.instance_count = 0}), HasSubstr("instance_count must be between 1"));
  EXPECT_THAT(error({.default_timeout = -1ms}), HasSubstr("default_timeout must be between"));

  auto no_engine = ModelScheduler::Create("m", "1", nullptr, {}, nullptr);
  EXPECT_EQ(no_engine.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ModelSchedulerTest, BatchingNeedsADynamicBatchDimension) {
  auto fixed = std::make_shared<FakeEngine>(Shape{1, 2});
  auto batched = ModelScheduler::Create("m", "1", fixed, {.max_batch_size = 4}, nullptr);
  ASSERT_FALSE(batched.ok());
  EXPECT_THAT(batched.status().message(),
              HasSubstr("input 'x0' has shape [1, 2]; use max_batch_size 1"));
  // Without batching the inputs pass through untouched, so a fixed first dimension is fine.
  auto unbatched = ModelScheduler::Create("m", "1", fixed, {.max_batch_size = 1}, nullptr);
  ASSERT_TRUE(unbatched.ok()) << unbatched.status().ToString();
  Call call;
  (*unbatched)->Submit(Request(Rows(1, 2, 5)), call.Callback());
  ASSERT_TRUE(call.Await().ok()) << call.Await().status().ToString();
  EXPECT_EQ(Values((*call.Await())[0]), (std::vector<float>{10, 12}));
}

TEST_F(ModelSchedulerTest, RoutesEachRequestItsOwnOutputsWhenBatched) {
  auto scheduler = MustCreate({.max_batch_size = 8, .max_queue_delay = kForever});
  // 1 + 2 + 1 + 3 + 1 items fill exactly one batch of 8.
  const std::vector<std::int64_t> items = {1, 2, 1, 3, 1};
  for (std::size_t i = 0; i < items.size(); ++i) {
    Submit(*scheduler, Rows(items[i], 3, 100.0f * static_cast<float>(i)));
  }
  for (std::size_t i = 0; i < items.size(); ++i) ExpectDoubled(i);
  EXPECT_THAT(engine_->batch_sizes(), ElementsAre(8));
  EXPECT_THAT(listener_.batches(), ElementsAre(8));
  ASSERT_TRUE(scheduler->Shutdown(kWait).ok());
  ExpectEveryCallbackRanOnce();
  for (const RequestTiming& timing : listener_.timings()) EXPECT_EQ(timing.batch_size, 8);
}

TEST_F(ModelSchedulerTest, FormsFullBatchesUnderConcurrentLoad) {
  engine_->set_delay(2ms);
  auto scheduler =
      MustCreate({.max_batch_size = 8, .max_queue_delay = kForever, .max_queue_size = 64});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 8;
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < kThreads * kPerThread; ++i) calls.push_back(std::make_unique<Call>());
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int id = t * kPerThread + i;
        scheduler->Submit(Request(Rows(1, 2, static_cast<float>(id))), calls[id]->Callback());
      }
    });
  }
  for (std::thread& submitter : submitters) submitter.join();
  for (int id = 0; id < kThreads * kPerThread; ++id) {
    const auto& result = calls[id]->Await();
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(Values((*result)[0]), (std::vector<float>{2.0f * id, 2.0f * id + 2}));
  }
  EXPECT_THAT(engine_->batch_sizes(), ElementsAre(8, 8, 8, 8));
}

// Keeps the queue deep from 4 client threads, each with 4 requests in flight (a new one as soon
// as its oldest returns), and returns the batch sizes the engine saw.
std::vector<std::int64_t> RunSaturated(ModelScheduler& scheduler, const FakeEngine& engine,
                                       int requests_per_thread) {
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&scheduler, requests_per_thread, t] {
      std::deque<std::unique_ptr<Call>> in_flight;
      for (int sent = 0; sent < requests_per_thread || !in_flight.empty();) {
        if (sent < requests_per_thread && in_flight.size() < 4) {
          in_flight.push_back(std::make_unique<Call>());
          scheduler.Submit(Request(Rows(1, 2, static_cast<float>(t))),
                           in_flight.back()->Callback());
          ++sent;
          continue;
        }
        EXPECT_TRUE(in_flight.front()->Await().ok());
        in_flight.pop_front();
      }
    });
  }
  for (std::thread& client : clients) client.join();
  std::vector<std::int64_t> sizes;
  for (const Shape& shape : engine.run_shapes()) sizes.push_back(shape[0]);
  return sizes;
}

TEST_F(ModelSchedulerTest, AdaptiveBatchSizeAvoidsBatchesThatCostMorePerItem) {
  // Batching hurts on this "hardware": 1 item 2 ms, k > 1 items 6 ms each (3x the cost per item,
  // a margin that sleep jitter on a loaded machine cannot close).
  engine_->set_delay_for_items([](std::int64_t items) {
    return std::chrono::microseconds(items == 1 ? 2000 : 6000 * items);
  });
  auto scheduler = MustCreate({.max_batch_size = 8,
                               .max_queue_delay = 2ms,
                               .max_queue_size = 64,
                               .adaptive_batch_size = true});
  const auto sizes = RunSaturated(*scheduler, *engine_, 60);
  const std::vector<std::int64_t> settled(sizes.end() - sizes.size() / 2, sizes.end());
  const auto singles = std::count(settled.begin(), settled.end(), 1);
  EXPECT_GE(singles * 10, static_cast<std::int64_t>(settled.size()) * 8)
      << "after warm-up most batches should be single requests; sizes: "
      << ::testing::PrintToString(sizes);
}

TEST_F(ModelSchedulerTest, AdaptiveBatchSizeKeepsFullBatchesWhereBatchingPays) {
  // Batching is nearly free: any batch takes 4 ms.
  engine_->set_delay_for_items([](std::int64_t) { return std::chrono::microseconds(4000); });
  auto scheduler = MustCreate({.max_batch_size = 8,
                               .max_queue_delay = 2ms,
                               .max_queue_size = 64,
                               .adaptive_batch_size = true});
  const auto sizes = RunSaturated(*scheduler, *engine_, 80);
  const std::vector<std::int64_t> settled(sizes.end() - sizes.size() / 2, sizes.end());
  const auto large =
      std::count_if(settled.begin(), settled.end(), [](std::int64_t b) { return b >= 4; });
  EXPECT_GE(large * 10, static_cast<std::int64_t>(settled.size()) * 7)
      << "after warm-up most batches should be large; sizes: " << ::testing::PrintToString(sizes);
}

TEST_F(ModelSchedulerTest, MaxBatchSizeOneNeverBatches) {
  engine_->CloseGate();
  auto scheduler = MustCreate({.max_batch_size = 1, .max_queue_delay = kForever});
  for (int i = 0; i < 6; ++i) Submit(*scheduler, Rows(1, 2, static_cast<float>(i)));
  ASSERT_TRUE(engine_->WaitForRunsStarted(1));
  EXPECT_EQ(scheduler->queue_depth(), 5);  // piled up behind the blocked run, not batched
  engine_->OpenGate();
  for (int i = 0; i < 6; ++i) ExpectDoubled(i);
  EXPECT_THAT(engine_->batch_sizes(), ElementsAre(1, 1, 1, 1, 1, 1));
}

TEST_F(ModelSchedulerTest, SingleRequestRunsAfterTheDelayWindow) {
  constexpr auto kDelay = 50ms;
  auto scheduler = MustCreate({.max_batch_size = 8, .max_queue_delay = kDelay});
  const auto start = std::chrono::steady_clock::now();
  Submit(*scheduler, Rows(1, 2, 1));
  ExpectDoubled(0);
  // Nothing else arrives and 1 is not full, so only the closing window can have dispatched it.
  EXPECT_GE(std::chrono::steady_clock::now() - start, kDelay);
  EXPECT_THAT(engine_->batch_sizes(), ElementsAre(1));
}

TEST_F(ModelSchedulerTest, ZeroDelayBatchesWhatQueuedWhileTheEngineWasBusy) {
  engine_->CloseGate();
  auto scheduler = MustCreate({.max_batch_size = 8});
  Submit(*scheduler, Rows(1, 2, 0));
  ASSERT_TRUE(engine_->WaitForRunsStarted(1));  // dispatched alone, at once
  for (int i = 1; i < 6; ++i) Submit(*scheduler, Rows(1, 2, static_cast<float>(i)));
  engine_->OpenGate();
  for (int i = 0; i < 6; ++i) ExpectDoubled(i);
  EXPECT_THAT(engine_->batch_sizes(), ElementsAre(1, 5));
}

TEST_F(ModelSchedulerTest, PreferredBatchSizeIsDispatchedWithoutWaitingForTheWindow) {
  auto scheduler =
      MustCreate({.max_batch_size = 8, .preferred_batch_sizes = {4}, .max_queue_delay = kForever});
  for (int i = 0; i < 6; ++i) Submit(*scheduler, Rows(1, 2, static_cast<float>(i)));
  for (int i = 0; i < 4; ++i) ExpectDoubled(i);
  EXPECT_FALSE(calls_[4]->is_done());  // 2 is neither full nor preferred: still waiting
  EXPECT_EQ(scheduler->queue_depth(), 2);
  ASSERT_TRUE(scheduler->Shutdown(kWait).ok());  // draining dispatches it at once
  for (int i = 4; i < 6; ++i) ExpectDoubled(i);
  EXPECT_THAT(engine_->batch_sizes(), ElementsAre(4, 2));
}

TEST_F(ModelSchedulerTest, IncompatibleShapesAreNotBatchedTogether) {
  auto scheduler = MustCreate({.max_batch_size = 3, .max_queue_delay = kForever});
  const std::vector<std::int64_t> widths = {2, 3, 2, 3, 2};
  for (std::size_t i = 0; i < widths.size(); ++i) {
    Submit(*scheduler, Rows(1, widths[i], 10.0f * static_cast<float>(i)));
  }
  // Width 2 fills a batch of 3; the two of width 3 stay queued, in order, until the drain.
  for (std::size_t i : {0u, 2u, 4u}) ExpectDoubled(i);
  EXPECT_EQ(scheduler->queue_depth(), 2);
  ASSERT_TRUE(scheduler->Shutdown(kWait).ok());
  for (std::size_t i : {1u, 3u}) ExpectDoubled(i);
  EXPECT_THAT(engine_->run_shapes(), ElementsAre(Shape{3, 2}, Shape{2, 3}));
}

TEST_F(ModelSchedulerTest, FullQueueRejectsAtOnceAndNeverGrowsPastItsBound) {
  engine_->CloseGate();
  auto scheduler = MustCreate({.max_batch_size = 1, .max_queue_size = 4});
  Submit(*scheduler, Rows(1, 2, 0));
  ASSERT_TRUE(engine_->WaitForRunsStarted(1));  // running, so no longer queued

  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < kThreads * kPerThread; ++i) calls.push_back(std::make_unique<Call>());
  std::atomic<int> rejected_inline{0};
  std::atomic<std::int64_t> max_depth{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Call& call = *calls[t * kPerThread + i];
        scheduler->Submit(Request(Rows(1, 2, 1)), call.Callback());
        if (call.is_done()) ++rejected_inline;  // only a rejection can be done already
        std::int64_t depth = scheduler->queue_depth();
        std::int64_t seen = max_depth.load();
        while (depth > seen && !max_depth.compare_exchange_weak(seen, depth)) {
        }
      }
    });
  }
  for (std::thread& submitter : submitters) submitter.join();
  EXPECT_EQ(rejected_inline.load(), kThreads * kPerThread - 4);
  EXPECT_EQ(scheduler->queue_depth(), 4);
  EXPECT_LE(max_depth.load(), 4);

  int exhausted = 0;
  for (const auto& call : calls) {
    if (!call->is_done()) continue;
    const Status& status = call->future.get().status();
    EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
    EXPECT_EQ(status.message(), "model 'm': queue is full (4 requests waiting)");
    ++exhausted;
  }
  EXPECT_EQ(exhausted, kThreads * kPerThread - 4);

  engine_->OpenGate();
  ASSERT_TRUE(scheduler->Shutdown(kWait).ok());
  int succeeded = 0;
  for (const auto& call : calls) {
    EXPECT_EQ(call->count.load(), 1);
    if (call->Await().ok()) ++succeeded;
  }
  EXPECT_EQ(succeeded, 4);
  ExpectDoubled(0);
}

TEST_F(ModelSchedulerTest, ExpiredRequestFailsWithDeadlineExceededAndIsNotRun) {
  engine_->CloseGate();
  auto scheduler = MustCreate({.max_batch_size = 1});
  Submit(*scheduler, Rows(1, 2, 0));
  ASSERT_TRUE(engine_->WaitForRunsStarted(1));
  const auto deadline = std::chrono::steady_clock::now() + 20ms;
  Call& late = Submit(*scheduler, Rows(1, 2, 1), deadline);
  Submit(*scheduler, Rows(1, 2, 2));              // no deadline: still runs
  std::this_thread::sleep_until(deadline + 1ms);  // the condition under test is time itself
  engine_->OpenGate();

  ExpectDoubled(0);
  ExpectDoubled(2);
  const Status& status = late.Await().status();
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(status.message(), HasSubstr("model 'm': request timed out after "));
  EXPECT_THAT(status.message(), HasSubstr(" ms in the queue"));
  EXPECT_EQ(engine_->batch_sizes().size(), 2u);
  ASSERT_TRUE(scheduler->Shutdown(kWait).ok());
  EXPECT_THAT(listener_.statuses(),
              ::testing::UnorderedElementsAre(StatusCode::kOk, StatusCode::kOk,
                                              StatusCode::kDeadlineExceeded));
}

TEST_F(ModelSchedulerTest, DefaultTimeoutAppliesToRequestsWithoutADeadline) {
  engine_->CloseGate();
  auto scheduler = MustCreate({.max_batch_size = 1, .default_timeout = 20ms});
  // Its own deadline, so that a slow start on a loaded machine cannot expire it.
  Submit(*scheduler, Rows(1, 2, 0), std::chrono::steady_clock::now() + std::chrono::hours(1));
  ASSERT_TRUE(engine_->WaitForRunsStarted(1));
  const auto queued = std::chrono::steady_clock::now();
  Call& late = Submit(*scheduler, Rows(1, 2, 1));
  std::this_thread::sleep_until(queued + 21ms);
  engine_->OpenGate();
  EXPECT_EQ(late.Await().status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(engine_->batch_sizes().size(), 1u);
}

TEST_F(ModelSchedulerTest, DeadlineInsideTheDelayWindowFailsWithoutWaitingForTheWindow) {
  auto scheduler = MustCreate({.max_batch_size = 8, .max_queue_delay = kForever});
  Call& late = Submit(*scheduler, Rows(1, 2, 1), std::chrono::steady_clock::now() + 20ms);
  EXPECT_EQ(late.Await().status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(engine_->batch_sizes().empty());
}

TEST_F(ModelSchedulerTest, PastDeadlineIsRejectedAtSubmit) {
  auto scheduler = MustCreate({.max_batch_size = 8});
  Call& late = Submit(*scheduler, Rows(1, 2, 1), std::chrono::steady_clock::now() - 1ms);
  ASSERT_TRUE(late.is_done());
  EXPECT_EQ(late.future.get().status().code(), StatusCode::kDeadlineExceeded);
}

TEST_F(ModelSchedulerTest, EngineErrorReachesEveryRequestOfTheBatch) {
  engine_->set_failure(InternalError("model 'fake': boom"));
  auto scheduler = MustCreate({.max_batch_size = 3, .max_queue_delay = kForever});
  for (int i = 0; i < 3; ++i) Submit(*scheduler, Rows(1, 2, static_cast<float>(i)));
  for (const auto& call : calls_) {
    EXPECT_EQ(call->Await().status(), InternalError("model 'fake': boom"));
  }
  EXPECT_THAT(engine_->batch_sizes(), ElementsAre(3));
  ASSERT_TRUE(scheduler->Shutdown(kWait).ok());
  EXPECT_THAT(listener_.statuses(), Each(StatusCode::kInternal));
  EXPECT_THAT(listener_.batches(), ElementsAre(3));
}

TEST_F(ModelSchedulerTest, OutputWithTheWrongBatchSizeFailsEveryRequestNamingTheOutput) {
  engine_->set_extra_output_items(1);
  auto scheduler = MustCreate({.max_batch_size = 2, .max_queue_delay = kForever});
  for (int i = 0; i < 2; ++i) Submit(*scheduler, Rows(1, 2, static_cast<float>(i)));
  for (const auto& call : calls_) {
    const Status& status = call->Await().status();
    EXPECT_EQ(status.code(), StatusCode::kInternal);
    EXPECT_EQ(status.message(),
              "model 'm': output 'y' has shape [3, 2] but the batch has 2 items; cannot split it "
              "between requests");
  }
}

TEST_F(ModelSchedulerTest, InvalidRequestIsRejectedAtSubmitWithoutAffectingOthers) {
  auto scheduler = MustCreate({.max_batch_size = 4, .max_queue_delay = kForever});
  Submit(*scheduler, Rows(1, 2, 0));
  Submit(*scheduler, Rows(1, 2, 1));

  Call wrong_dtype;
  InferenceRequest ints;
  ints.inputs.push_back(Tensor::FromVector<std::int32_t>({1, 2}, {1, 2}).value());
  scheduler->Submit(std::move(ints), wrong_dtype.Callback());
  ASSERT_TRUE(wrong_dtype.is_done());
  EXPECT_EQ(wrong_dtype.future.get().status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong_dtype.future.get().status().message(), HasSubstr("expects FP32"));

  Call wrong_rank;
  InferenceRequest flat;
  flat.inputs.push_back(Tensor::FromVector<float>({2}, {1, 2}).value());
  scheduler->Submit(std::move(flat), wrong_rank.Callback());
  ASSERT_TRUE(wrong_rank.is_done());
  EXPECT_EQ(wrong_rank.future.get().status().code(), StatusCode::kInvalidArgument);

  Submit(*scheduler, Rows(1, 2, 2));
  Submit(*scheduler, Rows(1, 2, 3));
  for (int i = 0; i < 4; ++i) ExpectDoubled(i);
  EXPECT_THAT(engine_->batch_sizes(), ElementsAre(4));
}

TEST_F(ModelSchedulerTest, RejectsRequestsWithABadBatchDimension) {
  engine_ = std::make_shared<FakeEngine>(Shape{-1, 2}, /*input_count=*/2);
  auto scheduler = MustCreate({.max_batch_size = 4, .max_queue_delay = kForever});
  const auto submit = [&](std::int64_t items0, std::int64_t items1) {
    Call call;
    InferenceRequest request;
    request.inputs.push_back(Rows(items0, 2, 0));
    request.inputs.push_back(Rows(items1, 2, 0));
    scheduler->Submit(std::move(request), call.Callback());
    EXPECT_TRUE(call.is_done());
    return call.future.get().status();
  };
  EXPECT_EQ(submit(1, 2).message(),
            "model 'm': input 'x1' has 2 batch items (dimension 0) but input 'x0' has 1; every "
            "input of a request must have the same number");
  EXPECT_EQ(submit(5, 5).message(),
            "model 'm': request has 5 batch items, more than max_batch_size 4");
  EXPECT_EQ(submit(0, 0).message(),
            "model 'm': request has no batch items (dimension 0 of input 'x0' is 0)");
  EXPECT_EQ(scheduler->queue_depth(), 0);
}

TEST_F(ModelSchedulerTest, ShutdownDrainsEverythingSubmittedBefore) {
  engine_->set_delay(1ms);
  auto scheduler = MustCreate({.max_batch_size = 2, .max_queue_delay = kForever});
  for (int i = 0; i < 9; ++i) Submit(*scheduler, Rows(1, 2, static_cast<float>(i)));
  EXPECT_TRUE(scheduler->is_accepting());
  ASSERT_TRUE(scheduler->Shutdown(kWait).ok());
  for (int i = 0; i < 9; ++i) {
    EXPECT_TRUE(calls_[i]->is_done());  // before Shutdown returned
    ExpectDoubled(i);
  }
  EXPECT_FALSE(scheduler->is_accepting());
  EXPECT_EQ(scheduler->queue_depth(), 0);
  EXPECT_EQ(scheduler->in_flight(), 0);

  Call after;
  scheduler->Submit(Request(Rows(1, 2, 0)), after.Callback());
  ASSERT_TRUE(after.is_done());
  EXPECT_EQ(after.future.get().status(), UnavailableError("model 'm' is shutting down"));
  EXPECT_TRUE(scheduler->Shutdown(kWait).ok());  // idempotent
}

TEST_F(ModelSchedulerTest, SubmitDuringTheDrainIsUnavailable) {
  engine_->CloseGate();
  auto scheduler = MustCreate({.max_batch_size = 1});
  Submit(*scheduler, Rows(1, 2, 0));
  ASSERT_TRUE(engine_->WaitForRunsStarted(1));
  Submit(*scheduler, Rows(1, 2, 1));
  std::thread shutdown([&] { EXPECT_TRUE(scheduler->Shutdown(kWait).ok()); });
  while (scheduler->is_accepting()) std::this_thread::yield();
  Call during;
  scheduler->Submit(Request(Rows(1, 2, 2)), during.Callback());
  ASSERT_TRUE(during.is_done());
  EXPECT_EQ(during.future.get().status().code(), StatusCode::kUnavailable);
  engine_->OpenGate();
  shutdown.join();
  ExpectDoubled(0);
  ExpectDoubled(1);
}

TEST_F(ModelSchedulerTest, ShutdownTimeoutCancelsWhatIsStillQueued) {
  engine_->CloseGate();
  auto scheduler = MustCreate({.max_batch_size = 1});
  Submit(*scheduler, Rows(1, 2, 0));
  ASSERT_TRUE(engine_->WaitForRunsStarted(1));
  Submit(*scheduler, Rows(1, 2, 1));
  Submit(*scheduler, Rows(1, 2, 2));
  Status shutdown_status;
  std::thread shutdown([&] { shutdown_status = scheduler->Shutdown(10ms); });
  // The queued two are cancelled after 10 ms; the running one is waited for.
  for (int i = 1; i < 3; ++i) {
    const Status& status = calls_[i]->Await().status();
    EXPECT_EQ(status.code(), StatusCode::kUnavailable);
    EXPECT_THAT(status.message(), HasSubstr("model 'm' is shutting down"));
  }
  engine_->OpenGate();
  shutdown.join();
  EXPECT_EQ(
      shutdown_status,
      DeadlineExceededError(
          "model 'm': shutdown did not drain within 10 ms; 2 queued requests were cancelled"));
  ExpectDoubled(0);
  ExpectEveryCallbackRanOnce();
}

TEST_F(ModelSchedulerTest, TwoInstancesRunTwoBatchesConcurrently) {
  engine_->set_concurrency_target(2);  // each run waits until two are running at once
  auto scheduler = MustCreate({.max_batch_size = 1, .instance_count = 2});
  Submit(*scheduler, Rows(1, 2, 0));
  Submit(*scheduler, Rows(1, 2, 1));
  ExpectDoubled(0);
  ExpectDoubled(1);
  EXPECT_EQ(engine_->max_running(), 2);
}

TEST_F(ModelSchedulerTest, CallbackMaySubmitAgain) {
  auto scheduler = MustCreate({.max_batch_size = 1});
  Call second;
  Call first;
  auto forward = first.Callback();
  scheduler->Submit(Request(Rows(1, 2, 1)), [&](Result<std::vector<Tensor>> result) {
    scheduler->Submit(Request(Rows(1, 2, 2)), second.Callback());
    forward(std::move(result));
  });
  EXPECT_TRUE(first.Await().ok());
  EXPECT_TRUE(second.Await().ok());
}

TEST_F(ModelSchedulerTest, ShutdownFromACallbackIsRefused) {
  auto scheduler = MustCreate({.max_batch_size = 1});
  std::promise<Status> from_callback;
  scheduler->Submit(Request(Rows(1, 2, 1)), [&](Result<std::vector<Tensor>>) {
    from_callback.set_value(scheduler->Shutdown(1s));
  });
  auto future = from_callback.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(future.get().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(scheduler->is_accepting());
}

// Many threads, short deadlines, a small queue and two instances: whatever happens to a request,
// its callback runs exactly once and the listener hears about it exactly once.
TEST_F(ModelSchedulerTest, EveryCallbackRunsExactlyOnceUnderStress) {
  engine_->set_delay(200us);
  auto scheduler = MustCreate({.max_batch_size = 4,
                               .preferred_batch_sizes = {2},
                               .max_queue_delay = 300us,
                               .max_queue_size = 16,
                               .instance_count = 2});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < kThreads * kPerThread; ++i) calls.push_back(std::make_unique<Call>());
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t));
      for (int i = 0; i < kPerThread; ++i) {
        const int id = t * kPerThread + i;
        InferenceRequest request =
            Request(Rows(1 + static_cast<int>(random() % 2), 1 + random() % 2, 1));
        if (random() % 3 == 0) {
          request.deadline =
              std::chrono::steady_clock::now() + std::chrono::microseconds(random() % 2000);
        }
        scheduler->Submit(std::move(request), calls[id]->Callback());
      }
    });
  }
  for (std::thread& submitter : submitters) submitter.join();
  ASSERT_TRUE(scheduler->Shutdown(kWait).ok());
  int ok = 0;
  for (const auto& call : calls) {
    ASSERT_EQ(call->count.load(), 1);
    const StatusCode code = call->Await().status().code();
    if (call->Await().ok()) ++ok;
    EXPECT_TRUE(code == StatusCode::kOk || code == StatusCode::kResourceExhausted ||
                code == StatusCode::kDeadlineExceeded)
        << call->Await().status().ToString();
  }
  EXPECT_GT(ok, 0);
  EXPECT_EQ(listener_.statuses().size(), calls.size());
  for (int size : listener_.batches()) {
    EXPECT_GE(size, 1);
    EXPECT_LE(size, 4);
  }
}

}  // namespace
}  // namespace orbit::scheduler
