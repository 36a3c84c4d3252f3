#include "scheduler/scheduler.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <set>
#include <system_error>
#include <utility>

#include "scheduler/batch_policy.h"

namespace orbit::scheduler {
namespace {

constexpr std::chrono::microseconds kMaxQueueDelayLimit = std::chrono::hours(1);
constexpr std::chrono::milliseconds kDefaultTimeoutLimit = std::chrono::hours(24);
constexpr int kMaxInstanceCount = 256;
// Drain timeouts from here on mean "wait as long as it takes" (and cannot overflow a deadline).
constexpr std::chrono::milliseconds kUnlimitedDrain = std::chrono::hours(24 * 365);

std::string Prefix(std::string_view model) { return "model '" + std::string(model) + "'"; }

std::string Milliseconds(std::chrono::nanoseconds duration) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(duration).count());
}

// Name of input/output `index` for messages, falling back to its position.
std::string TensorName(const std::vector<runtime::TensorInfo>& infos, std::size_t index) {
  if (index < infos.size()) return "'" + infos[index].name + "'";
  return "#" + std::to_string(index);
}

// Batching concatenates along dimension 0, so it must be a dynamic dimension of the model.
Status CheckBatchable(std::string_view what, const std::vector<runtime::TensorInfo>& infos,
                      const std::string& prefix, std::int64_t max_batch_size) {
  for (const runtime::TensorInfo& info : infos) {
    if (info.shape.empty() && what == "output") continue;  // rank unknown: checked per batch
    if (info.shape.empty() || info.shape[0] != -1) {
      return InvalidArgumentError(prefix + ": max_batch_size " + std::to_string(max_batch_size) +
                                  " needs a dynamic first (batch) dimension on every input and "
                                  "output, but " +
                                  std::string(what) + " '" + info.name + "' has shape " +
                                  ShapeToString(info.shape) +
                                  "; use max_batch_size 1 or export the model with a dynamic "
                                  "batch dimension");
    }
  }
  return Status::Ok();
}

}  // namespace

Status ValidateSchedulerOptions(std::string_view model, const SchedulerOptions& options) {
  const std::string prefix = Prefix(model);
  if (options.max_batch_size < 1) {
    return InvalidArgumentError(prefix + ": max_batch_size must be at least 1, got " +
                                std::to_string(options.max_batch_size));
  }
  std::set<std::int64_t> seen;
  for (const std::int64_t size : options.preferred_batch_sizes) {
    if (size < 1 || size > options.max_batch_size) {
      return InvalidArgumentError(prefix + ": preferred batch size " + std::to_string(size) +
                                  " must be between 1 and max_batch_size " +
                                  std::to_string(options.max_batch_size));
    }
    if (!seen.insert(size).second) {
      return InvalidArgumentError(prefix + ": preferred batch size " + std::to_string(size) +
                                  " is listed twice");
    }
  }
  if (options.max_queue_delay.count() < 0 || options.max_queue_delay > kMaxQueueDelayLimit) {
    return InvalidArgumentError(prefix + ": max_queue_delay must be between 0 and " +
                                std::to_string(kMaxQueueDelayLimit.count()) +
                                " microseconds, got " +
                                std::to_string(options.max_queue_delay.count()));
  }
  if (options.max_queue_size < 1) {
    return InvalidArgumentError(prefix + ": max_queue_size must be at least 1, got " +
                                std::to_string(options.max_queue_size));
  }
  if (options.instance_count < 1 || options.instance_count > kMaxInstanceCount) {
    return InvalidArgumentError(prefix + ": instance_count must be between 1 and " +
                                std::to_string(kMaxInstanceCount) + ", got " +
                                std::to_string(options.instance_count));
  }
  if (options.default_timeout.count() < 0 || options.default_timeout > kDefaultTimeoutLimit) {
    return InvalidArgumentError(prefix + ": default_timeout must be between 0 (none) and " +
                                std::to_string(kDefaultTimeoutLimit.count()) + " ms, got " +
                                std::to_string(options.default_timeout.count()));
  }
  return Status::Ok();
}

Result<std::unique_ptr<ModelScheduler>> ModelScheduler::Create(
    std::string model, std::string version, std::shared_ptr<const runtime::Engine> engine,
    SchedulerOptions options, SchedulerListener* listener) {
  const std::string prefix = Prefix(model);
  if (engine == nullptr) return InvalidArgumentError(prefix + ": no engine to schedule");
  ORBIT_RETURN_IF_ERROR(ValidateSchedulerOptions(model, options));
  if (options.max_batch_size > 1) {
    ORBIT_RETURN_IF_ERROR(
        CheckBatchable("input", engine->inputs(), prefix, options.max_batch_size));
    ORBIT_RETURN_IF_ERROR(
        CheckBatchable("output", engine->outputs(), prefix, options.max_batch_size));
  }
  std::sort(options.preferred_batch_sizes.begin(), options.preferred_batch_sizes.end());

  // The constructor is private so that every scheduler is validated; make_unique cannot reach it.
  std::unique_ptr<ModelScheduler> scheduler(new ModelScheduler(
      std::move(model), std::move(version), std::move(engine), std::move(options), listener));
  try {
    scheduler->completer_ = std::thread([raw = scheduler.get()] { raw->CompleterLoop(); });
    for (int i = 0; i < scheduler->options_.instance_count; ++i) {
      scheduler->workers_.emplace_back([raw = scheduler.get()] { raw->WorkerLoop(); });
    }
  } catch (const std::system_error& e) {
    (void)scheduler->Shutdown(std::chrono::milliseconds(0));
    return ResourceExhaustedError(prefix + ": cannot start a worker thread: " + e.what());
  }
  for (const std::thread& worker : scheduler->workers_) {
    scheduler->worker_ids_.push_back(worker.get_id());
  }
  scheduler->worker_ids_.push_back(scheduler->completer_.get_id());
  return scheduler;
}

ModelScheduler::ModelScheduler(std::string model, std::string version,
                               std::shared_ptr<const runtime::Engine> engine,
                               SchedulerOptions options, SchedulerListener* listener)
    : model_(std::move(model)),
      version_(std::move(version)),
      engine_(std::move(engine)),
      options_(std::move(options)),
      listener_(listener),
      prefix_(Prefix(model_)),
      tuner_(options_.max_batch_size) {}

ModelScheduler::~ModelScheduler() { (void)Shutdown(std::chrono::milliseconds::max()); }

void ModelScheduler::Submit(InferenceRequest request, Callback done) {
  const Clock::time_point now = Clock::now();
  if (Status valid = engine_->ValidateInputs(request.inputs); !valid.ok()) {
    Reject(done, std::move(valid));
    return;
  }
  std::int64_t items = 1;
  if (Status valid = CheckBatchDimension(request.inputs, &items); !valid.ok()) {
    Reject(done, std::move(valid));
    return;
  }
  std::optional<Clock::time_point> deadline = request.deadline;
  if (!deadline && options_.default_timeout.count() > 0) deadline = now + options_.default_timeout;
  if (deadline && *deadline <= now) {
    Reject(done, DeadlineExceededError(prefix_ + ": request deadline passed before it was queued"));
    return;
  }

  Status rejection;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      rejection = UnavailableError(prefix_ + " is shutting down");
    } else if (static_cast<std::int64_t>(queue_.size()) >= options_.max_queue_size) {
      rejection = ResourceExhaustedError(prefix_ + ": queue is full (" +
                                         std::to_string(queue_.size()) + " requests waiting)");
    } else {
      queue_.push_back(Pending{std::move(request.inputs), std::move(done), items, now, deadline});
      if (forming_) {
        forming_cv_.notify_one();
      } else {
        idle_cv_.notify_one();
      }
      return;
    }
  }
  Reject(done, std::move(rejection));
}

Status ModelScheduler::CheckBatchDimension(std::span<const Tensor> inputs,
                                           std::int64_t* items) const {
  *items = 1;
  if (options_.max_batch_size == 1) return Status::Ok();  // passed through as they are
  if (inputs.empty()) return InvalidArgumentError(prefix_ + ": request has no inputs to batch");
  const std::vector<runtime::TensorInfo>& infos = engine_->inputs();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].shape().empty()) {
      return InvalidArgumentError(prefix_ + ": input " + TensorName(infos, i) +
                                  " is a scalar; batching needs a batch dimension");
    }
    const std::int64_t n = inputs[i].shape()[0];
    if (i > 0 && n != *items) {
      return InvalidArgumentError(prefix_ + ": input " + TensorName(infos, i) + " has " +
                                  std::to_string(n) + " batch items (dimension 0) but input " +
                                  TensorName(infos, 0) + " has " + std::to_string(*items) +
                                  "; every input of a request must have the same number");
    }
    *items = n;
  }
  if (*items < 1) {
    return InvalidArgumentError(prefix_ + ": request has no batch items (dimension 0 of input " +
                                TensorName(infos, 0) + " is 0)");
  }
  if (*items > options_.max_batch_size) {
    return InvalidArgumentError(prefix_ + ": request has " + std::to_string(*items) +
                                " batch items, more than max_batch_size " +
                                std::to_string(options_.max_batch_size));
  }
  return Status::Ok();
}

void ModelScheduler::WorkerLoop() {
#ifdef __linux__
  pthread_setname_np(pthread_self(), ("sched-" + model_).substr(0, 15).c_str());
#endif
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    idle_cv_.wait(
        lock, [this] { return (stopping_ && queue_.empty()) || (!forming_ && !queue_.empty()); });
    if (queue_.empty()) return;  // stopping and nothing left to run

    forming_ = true;
    std::vector<Pending> batch;
    std::vector<Pending> expired;
    FormBatch(lock, batch, expired);
    forming_ = false;
    const auto expired_count = static_cast<std::int64_t>(expired.size());
    in_flight_ += static_cast<std::int64_t>(batch.size()) + expired_count;
    // Hand the forming role on; while stopping, every idle worker must look (to exit).
    if (stopping_) {
      idle_cv_.notify_all();
    } else {
      idle_cv_.notify_one();
    }

    lock.unlock();
    if (!expired.empty()) FailExpired(std::move(expired));
    if (!batch.empty()) ExecuteBatch(std::move(batch));
    lock.lock();

    in_flight_ -= expired_count;  // the batch's requests are counted down by the completer
    if (queue_.empty() && in_flight_ == 0) drained_cv_.notify_all();
  }
}

void ModelScheduler::CompleterLoop() {
#ifdef __linux__
  pthread_setname_np(pthread_self(), ("done-" + model_).substr(0, 15).c_str());
#endif
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    completer_cv_.wait(lock, [this] { return !completions_.empty() || workers_done_; });
    if (completions_.empty()) return;  // every worker has exited and nothing is left
    Completion completion = std::move(completions_.front());
    completions_.pop_front();
    completions_cv_.notify_one();
    lock.unlock();
    for (std::size_t r = 0; r < completion.batch.size(); ++r) {
      completion.timings[r].total = Clock::now() - completion.batch[r].enqueued;
      Complete(completion.batch[r], std::move(completion.results[r]), completion.timings[r]);
    }
    const auto done = static_cast<std::int64_t>(completion.batch.size());
    completion = Completion{};  // outputs released before the requests count as done
    lock.lock();
    in_flight_ -= done;
    if (queue_.empty() && in_flight_ == 0) drained_cv_.notify_all();
  }
}

void ModelScheduler::FormBatch(std::unique_lock<std::mutex>& lock, std::vector<Pending>& batch,
                               std::vector<Pending>& expired) {
  const bool batching = options_.max_batch_size > 1;
  // The adaptive cap is decided once per batch; preferred sizes above it do not apply.
  const std::int64_t cap =
      options_.adaptive_batch_size ? tuner_.NextCap() : options_.max_batch_size;
  std::vector<std::int64_t> preferred;
  for (const std::int64_t size : options_.preferred_batch_sizes) {
    if (size <= cap) preferred.push_back(size);
  }
  std::vector<std::size_t> positions;
  std::vector<std::int64_t> items;
  for (;;) {
    const Clock::time_point now = Clock::now();

    // Expired requests leave the queue wherever they are, so they never occupy a batch slot.
    std::optional<Clock::time_point> earliest_deadline;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->deadline && *it->deadline <= now) {
        expired.push_back(std::move(*it));
        it = queue_.erase(it);
        continue;
      }
      if (it->deadline && (!earliest_deadline || *it->deadline < *earliest_deadline)) {
        earliest_deadline = it->deadline;
      }
      ++it;
    }
    if (queue_.empty()) return;  // all expired, or cancelled by a timed-out Shutdown

    // Candidates: the oldest request and, in FIFO order, those that can share its batch, up to
    // the first one that would overflow max_batch_size (its presence means the batch is full).
    positions.assign(1, 0);
    items.assign(1, queue_.front().items);
    std::int64_t total = items.front();
    // A request larger than the adaptive cap still runs, alone.
    const std::int64_t batch_cap = std::max(cap, queue_.front().items);
    for (std::size_t i = 1; batching && i < queue_.size() && total < batch_cap; ++i) {
      if (!CanShareBatch(queue_.front().inputs, queue_[i].inputs)) continue;
      positions.push_back(i);
      items.push_back(queue_[i].items);
      total += queue_[i].items;
    }

    const Clock::time_point window_end = queue_.front().enqueued + options_.max_queue_delay;
    const BatchDecision decision =
        DecideBatch(items, batch_cap, preferred, /*window_closed=*/stopping_ || now >= window_end);
    if (decision.dispatch) {
      std::deque<Pending> kept;
      std::size_t next = 0;
      for (std::size_t i = 0; i < queue_.size(); ++i) {
        if (next < decision.take && positions[next] == i) {
          batch.push_back(std::move(queue_[i]));
          ++next;
        } else {
          kept.push_back(std::move(queue_[i]));
        }
      }
      queue_.swap(kept);
      return;
    }
    // Woken early by Submit (more requests), Shutdown (drain now) or spuriously; then re-decide.
    const Clock::time_point wake =
        earliest_deadline ? std::min(window_end, *earliest_deadline) : window_end;
    forming_cv_.wait_until(lock, wake);
  }
}

void ModelScheduler::ExecuteBatch(std::vector<Pending> batch) {
  const Clock::time_point started = Clock::now();
  std::int64_t total_items = 0;
  for (const Pending& request : batch) total_items += request.items;

  const bool batching = options_.max_batch_size > 1;
  std::vector<Result<std::vector<Tensor>>> results;
  results.reserve(batch.size());
  const auto fail_all = [&](const Status& status) {
    results.clear();
    for (std::size_t i = 0; i < batch.size(); ++i) results.emplace_back(status);
  };

  Result<std::vector<Tensor>> outputs = InternalError(prefix_ + ": batch did not run");
  try {
    if (batch.size() == 1) {
      outputs = engine_->Run(batch.front().inputs);
    } else {
      // Every request was checked compatible with the first, so only a bug makes this fail.
      std::vector<Tensor> inputs;
      Status concatenated;
      for (std::size_t i = 0; i < batch.front().inputs.size() && concatenated.ok(); ++i) {
        std::vector<Tensor> parts;
        parts.reserve(batch.size());
        for (Pending& request : batch) parts.push_back(std::move(request.inputs[i]));
        Result<Tensor> joined = ConcatBatch(parts);
        if (joined.ok()) {
          inputs.push_back(std::move(joined).value());
        } else {
          concatenated =
              InternalError(prefix_ + ": cannot batch input " + TensorName(engine_->inputs(), i) +
                            ": " + joined.status().message());
        }
      }
      outputs =
          concatenated.ok() ? engine_->Run(inputs) : Result<std::vector<Tensor>>(concatenated);
    }
  } catch (const std::exception& e) {
    outputs = InternalError(prefix_ + ": engine failed: " + e.what());
  }

  if (!outputs.ok()) {
    fail_all(outputs.status());
  } else if (!batching) {
    results.push_back(std::move(outputs));
  } else {
    std::vector<Tensor>& tensors = outputs.value();
    Status split;
    for (std::size_t j = 0; j < tensors.size() && split.ok(); ++j) {
      const Shape& shape = tensors[j].shape();
      if (shape.empty() || shape[0] != total_items) {
        split =
            InternalError(prefix_ + ": output " + TensorName(engine_->outputs(), j) +
                          " has shape " + ShapeToString(shape) + " but the batch has " +
                          std::to_string(total_items) + " items; cannot split it between requests");
      }
    }
    if (!split.ok()) {
      fail_all(split);
    } else if (batch.size() == 1) {
      results.push_back(std::move(outputs));
    } else {
      for (std::size_t r = 0; r < batch.size(); ++r) results.emplace_back(std::vector<Tensor>());
      for (std::size_t j = 0; j < tensors.size() && split.ok(); ++j) {
        std::int64_t offset = 0;
        for (std::size_t r = 0; r < batch.size() && split.ok(); ++r) {
          Result<Tensor> slice = ViewBatch(tensors[j], offset, batch[r].items);
          if (!slice.ok()) {
            split =
                InternalError(prefix_ + ": cannot split output " +
                              TensorName(engine_->outputs(), j) + ": " + slice.status().message());
            break;
          }
          results[r].value().push_back(std::move(slice).value());
          offset += batch[r].items;
        }
      }
      if (!split.ok()) fail_all(split);
    }
  }

  const Clock::time_point finished = Clock::now();
  const std::chrono::nanoseconds compute = finished - started;
  if (listener_ != nullptr) {
    try {
      listener_->OnBatchExecuted(static_cast<int>(total_items), compute);
    } catch (const std::exception& e) {
      spdlog::error("{}: scheduler listener threw: {}", prefix_, e.what());
    }
  }
  Completion completion;
  completion.timings.resize(batch.size());
  for (std::size_t r = 0; r < batch.size(); ++r) {
    completion.timings[r].queue = started - batch[r].enqueued;
    completion.timings[r].compute = compute;
    completion.timings[r].batch_size = total_items;
  }
  completion.batch = std::move(batch);
  completion.results = std::move(results);
  std::unique_lock<std::mutex> lock(mu_);
  if (options_.adaptive_batch_size && outputs.ok()) tuner_.Record(total_items, finished - started);
  completions_cv_.wait(lock, [this] { return completions_.size() < kMaxPendingCompletions; });
  completions_.push_back(std::move(completion));
  completer_cv_.notify_one();
}

void ModelScheduler::FailExpired(std::vector<Pending> expired) {
  for (Pending& request : expired) {
    RequestTiming timing;
    timing.queue = timing.total = Clock::now() - request.enqueued;
    Complete(request,
             DeadlineExceededError(prefix_ + ": request timed out after " +
                                   Milliseconds(timing.queue) + " ms in the queue"),
             timing);
  }
}

void ModelScheduler::Complete(Pending& request, Result<std::vector<Tensor>> result,
                              const RequestTiming& timing) const {
  try {
    if (listener_ != nullptr) {
      listener_->OnRequestDone(timing, result.ok() ? Status::Ok() : result.status());
    }
  } catch (const std::exception& e) {
    spdlog::error("{}: scheduler listener threw: {}", prefix_, e.what());
  }
  if (!request.done) return;
  try {
    request.done(std::move(result));
  } catch (const std::exception& e) {
    spdlog::error("{}: request callback threw: {}", prefix_, e.what());
  } catch (...) {
    spdlog::error("{}: request callback threw a non-standard exception", prefix_);
  }
}

void ModelScheduler::Reject(Callback& done, Status status) const {
  Pending rejected;
  rejected.done = std::move(done);
  Complete(rejected, std::move(status), RequestTiming{});
}

Status ModelScheduler::Shutdown(std::chrono::milliseconds drain_timeout) {
  if (IsWorkerThread()) {
    return FailedPreconditionError(prefix_ +
                                   ": Shutdown called from a scheduler callback would wait for "
                                   "its own thread");
  }
  std::lock_guard<std::mutex> shutdown_lock(shutdown_mu_);
  if (joined_) return Status::Ok();

  std::vector<Pending> cancelled;
  {
    std::unique_lock<std::mutex> lock(mu_);
    stopping_ = true;
    idle_cv_.notify_all();
    forming_cv_.notify_all();
    const auto drained = [this] { return queue_.empty() && in_flight_ == 0; };
    if (drain_timeout >= kUnlimitedDrain) {
      drained_cv_.wait(lock, drained);
    } else if (!drained_cv_.wait_for(lock, drain_timeout, drained)) {
      for (Pending& request : queue_) cancelled.push_back(std::move(request));
      queue_.clear();
      idle_cv_.notify_all();
      forming_cv_.notify_all();
    }
  }
  for (Pending& request : cancelled) {
    RequestTiming timing;
    timing.queue = timing.total = Clock::now() - request.enqueued;
    Complete(request,
             UnavailableError(prefix_ +
                              " is shutting down (request dropped after the drain "
                              "timeout of " +
                              std::to_string(drain_timeout.count()) + " ms)"),
             timing);
  }
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers_done_ = true;
    completer_cv_.notify_all();
  }
  if (completer_.joinable()) completer_.join();
  joined_ = true;
  if (!cancelled.empty()) {
    return DeadlineExceededError(
        prefix_ + ": shutdown did not drain within " + std::to_string(drain_timeout.count()) +
        " ms; " + std::to_string(cancelled.size()) + " queued requests were cancelled");
  }
  return Status::Ok();
}

bool ModelScheduler::IsWorkerThread() const {
  const std::thread::id self = std::this_thread::get_id();
  return std::find(worker_ids_.begin(), worker_ids_.end(), self) != worker_ids_.end();
}

std::int64_t ModelScheduler::queue_depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<std::int64_t>(queue_.size());
}

std::int64_t ModelScheduler::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

bool ModelScheduler::is_accepting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !stopping_;
}

}  // namespace orbit::scheduler
