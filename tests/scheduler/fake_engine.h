// A fake runtime::Engine for scheduler tests: y = 2 * x on FP32 inputs, recording every Run and
// optionally blocking (a gate), waiting for concurrent runs, sleeping or failing.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/engine.h"

namespace orbit::scheduler::testing {

class FakeEngine : public runtime::Engine {
 public:
  // `input_count` FP32 inputs "x0", "x1", ... of `shape` (-1 = dynamic); one output "y" of the
  // same shape holding 2 * x0.
  explicit FakeEngine(Shape shape = {-1, -1}, int input_count = 1) {
    for (int i = 0; i < input_count; ++i) {
      inputs_.push_back({"x" + std::to_string(i), DType::kFloat32, shape});
    }
    outputs_.push_back({"y", DType::kFloat32, shape});
  }

  const std::string& name() const override { return name_; }
  const std::vector<runtime::TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<runtime::TensorInfo>& outputs() const override { return outputs_; }
  const std::vector<std::string>& active_providers() const override { return providers_; }

  Status ValidateInputs(std::span<const Tensor> inputs) const override {
    if (inputs.size() != inputs_.size()) {
      return InvalidArgumentError("model 'fake': expects " + std::to_string(inputs_.size()) +
                                  " inputs, got " + std::to_string(inputs.size()));
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const Shape& want = inputs_[i].shape;
      const Shape& got = inputs[i].shape();
      if (inputs[i].dtype() != DType::kFloat32) {
        return InvalidArgumentError("model 'fake': input '" + inputs_[i].name +
                                    "' expects FP32, got " +
                                    std::string(DTypeName(inputs[i].dtype())));
      }
      bool matches = got.size() == want.size();
      for (std::size_t d = 0; matches && d < want.size(); ++d) {
        matches = want[d] == -1 || want[d] == got[d];
      }
      if (!matches) {
        return InvalidArgumentError("model 'fake': input '" + inputs_[i].name + "' expects " +
                                    ShapeToString(want) + ", got " + ShapeToString(got));
      }
    }
    return Status::Ok();
  }

  Result<std::vector<Tensor>> Run(std::span<const Tensor> inputs) const override {
    ORBIT_RETURN_IF_ERROR(ValidateInputs(inputs));
    std::optional<Status> failure;
    int extra_output_items = 0;
    std::chrono::microseconds delay{0};
    {
      std::unique_lock<std::mutex> lock(mu_);
      run_shapes_.push_back(inputs[0].shape());
      ++running_;
      max_running_ = std::max(max_running_, running_);
      cv_.notify_all();
      if (concurrency_target_ > 0) {
        cv_.wait_for(lock, std::chrono::seconds(60),
                     [this] { return max_running_ >= concurrency_target_; });
      }
      cv_.wait(lock, [this] { return gate_open_; });
      failure = failure_;
      extra_output_items = extra_output_items_;
      delay = delay_for_items_ ? delay_for_items_(inputs[0].shape()[0]) : delay_;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    {
      std::lock_guard<std::mutex> lock(mu_);
      --running_;
      cv_.notify_all();
    }
    if (failure) return *failure;

    Shape shape = inputs[0].shape();
    shape[0] += extra_output_items;
    auto out = Tensor::Zeros(DType::kFloat32, shape);
    if (!out.ok()) return out.status();
    const auto x = inputs[0].data<float>();
    auto y = out->data<float>();
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) y[i] = 2 * x[i];
    std::vector<Tensor> outputs;
    outputs.push_back(std::move(out).value());
    return outputs;
  }

  // Runs block inside Run until OpenGate (they are counted as started before blocking).
  void CloseGate() {
    std::lock_guard<std::mutex> lock(mu_);
    gate_open_ = false;
  }
  void OpenGate() {
    std::lock_guard<std::mutex> lock(mu_);
    gate_open_ = true;
    cv_.notify_all();
  }
  // Every Run waits (up to 60 s) until this many runs have been inside Run at the same time.
  void set_concurrency_target(int target) {
    std::lock_guard<std::mutex> lock(mu_);
    concurrency_target_ = target;
  }
  void set_delay(std::chrono::microseconds delay) {
    std::lock_guard<std::mutex> lock(mu_);
    delay_ = delay;
  }
  // Run sleeps for delay(batch items) instead of the fixed delay: a cost model per batch size.
  void set_delay_for_items(std::function<std::chrono::microseconds(std::int64_t)> delay) {
    std::lock_guard<std::mutex> lock(mu_);
    delay_for_items_ = std::move(delay);
  }
  void set_failure(Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    failure_ = std::move(status);
  }
  // Makes output dimension 0 disagree with the batch.
  void set_extra_output_items(int extra) {
    std::lock_guard<std::mutex> lock(mu_);
    extra_output_items_ = extra;
  }

  // True once `count` runs have started (false after 60 s).
  bool WaitForRunsStarted(std::size_t count) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60),
                        [&] { return run_shapes_.size() >= count; });
  }

  // Input 0's shape of every run, in start order.
  std::vector<Shape> run_shapes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return run_shapes_;
  }
  // Dimension 0 of input 0 of every run.
  std::vector<std::int64_t> batch_sizes() const {
    std::vector<std::int64_t> sizes;
    for (const Shape& shape : run_shapes()) sizes.push_back(shape.empty() ? 0 : shape[0]);
    return sizes;
  }
  int max_running() const {
    std::lock_guard<std::mutex> lock(mu_);
    return max_running_;
  }

 private:
  std::string name_ = "fake";
  std::vector<runtime::TensorInfo> inputs_;
  std::vector<runtime::TensorInfo> outputs_;
  std::vector<std::string> providers_ = {"cpu"};

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable std::vector<Shape> run_shapes_;
  mutable int running_ = 0;
  mutable int max_running_ = 0;
  bool gate_open_ = true;
  int concurrency_target_ = 0;
  std::function<std::chrono::microseconds(std::int64_t)> delay_for_items_;  // guarded by mu_
  std::chrono::microseconds delay_{0};
  std::optional<Status> failure_;
  int extra_output_items_ = 0;
};

}  // namespace orbit::scheduler::testing
