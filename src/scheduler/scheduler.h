// ModelScheduler: the request queue, dynamic batcher and instance pool in front of one model
// version's Engine. The serving front ends Submit requests; worker threads group compatible ones
// into batches, run the engine once per batch and hand each caller its own slice of the outputs.
// The batching rule and its invariants are in docs/design/batching.md.
//
// Threading model
//  - A ModelScheduler owns `instance_count` worker threads, started by Create and joined by
//    Shutdown (or the destructor). Submit, Shutdown, queue_depth, in_flight and is_accepting may
//    be called from any thread.
//  - One mutex guards the queue and the counters. At most one worker at a time "forms" a batch:
//    it waits under that mutex (on a condition variable) for more requests or for the delay
//    window to close, takes its batch out of the queue and gives up the role; the next idle
//    worker then forms the following batch while the first one runs. So up to `instance_count`
//    batches run Engine::Run concurrently on the shared engine (which must be thread-safe).
//  - One more thread, the completer, runs the callbacks of executed batches, so that a worker
//    starts on the next batch while the previous batch's responses are encoded and sent. At most
//    kMaxPendingCompletions executed batches wait for it (bounded memory); a worker that would
//    exceed that waits instead.
//  - Engine::Run, the listener and every callback run with no scheduler lock held, so a callback
//    may call Submit (or queue_depth) again. Lock order: the Shutdown mutex, then the queue mutex.
//  - Callbacks run on the completer thread, on a worker thread (requests that expired in the
//    queue), or inline inside Submit when the request is rejected there. A callback must not call
//    Shutdown or destroy the scheduler (Shutdown detects this and returns FailedPrecondition; the
//    destructor cannot join its own thread and aborts).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "runtime/engine.h"
#include "scheduler/batch_policy.h"
#include "tensor/tensor.h"

namespace orbit::scheduler {

// Per-model scheduling knobs (the model's config maps onto these one to one). Every knob has a
// default; ValidateSchedulerOptions says what is wrong with a bad one.
struct SchedulerOptions {
  // Most batch items (sum of every request's dimension 0) in one engine run; 1 = no batching:
  // each request runs alone with its inputs passed through untouched (no batch dimension needed).
  std::int64_t max_batch_size = 1;
  // Batch sizes the model runs best at; each in [1, max_batch_size], no duplicates, any order.
  std::vector<std::int64_t> preferred_batch_sizes;
  // How long to hold the oldest queued request while waiting for more to batch with it; 0 =
  // dispatch whatever is queued at once.
  std::chrono::microseconds max_queue_delay{0};
  // Requests waiting (not yet running) at most; a Submit beyond it fails at once with
  // ResourceExhausted.
  std::int64_t max_queue_size = 64;
  // Worker threads, i.e. batches that may run at once on the shared engine.
  int instance_count = 1;
  // Queue timeout for requests that carry no deadline; 0 = none.
  std::chrono::milliseconds default_timeout{0};
  // Cap batches at the size that measures fastest per item on this hardware (BatchSizeTuner),
  // instead of always filling max_batch_size. Off: Triton's behaviour.
  bool adaptive_batch_size = false;
};

// InvalidArgument naming the model and the knob when `options` is unusable.
Status ValidateSchedulerOptions(std::string_view model, const SchedulerOptions& options);

// One inference call.
struct InferenceRequest {
  // In Engine::inputs() order. With batching, dimension 0 of every input counts this request's
  // batch items (usually 1) and must be the same for all inputs.
  std::vector<Tensor> inputs;
  // The request fails with DeadlineExceeded, unexecuted, if it is still queued at this time.
  // None: SchedulerOptions::default_timeout after Submit (or no limit).
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

// Where one request's time went; all zero for requests rejected inside Submit.
struct RequestTiming {
  std::chrono::nanoseconds queue{0};    // Submit until its batch was taken from the queue
  std::chrono::nanoseconds compute{0};  // batch taken until its outputs were split (0: not run)
  std::chrono::nanoseconds total{0};    // Submit until just before the callback
  std::int64_t batch_size = 0;          // items in the batch it ran in (0: not run)
};

// Observes a scheduler for metrics. Called from worker threads and from Submit, concurrently, so
// implementations must be thread-safe; they must not throw and should be cheap (they run on the
// request path, before the caller's callback).
class SchedulerListener {
 public:
  virtual ~SchedulerListener() = default;
  // Exactly once per submitted request, just before its callback, with its final status.
  virtual void OnRequestDone(const RequestTiming& timing, const Status& status) = 0;
  // Once per engine run (successful or not): batch items and the time the batch took.
  virtual void OnBatchExecuted(int batch_size, std::chrono::nanoseconds compute) = 0;
};

// Queues, batches and runs requests for one model version. Thread-safe (see the file comment).
class ModelScheduler {
 public:
  // Receives a request's outputs (in Engine::outputs() order, dimension 0 = its own items) or
  // the reason it failed. Invoked exactly once per Submit.
  using Callback = std::function<void(Result<std::vector<Tensor>>)>;

  // Validates `options` against each other and against `engine` (batching needs a dynamic first
  // dimension on every input) and starts the workers. `model` and `version` label errors;
  // `listener` may be null and must outlive the scheduler.
  static Result<std::unique_ptr<ModelScheduler>> Create(
      std::string model, std::string version, std::shared_ptr<const runtime::Engine> engine,
      SchedulerOptions options, SchedulerListener* listener);

  ModelScheduler(const ModelScheduler&) = delete;
  ModelScheduler& operator=(const ModelScheduler&) = delete;
  // Shuts down with no drain timeout: waits for everything queued and running.
  ~ModelScheduler();

  // Queues `request`; `done` gets its result later from a worker thread. Rejected at once,
  // inline, with: InvalidArgument when the inputs are invalid for the engine on their own (or
  // their batch dimension is inconsistent, 0 or larger than max_batch_size); DeadlineExceeded
  // when the deadline has already passed; Unavailable after Shutdown began; ResourceExhausted
  // when max_queue_size requests are already waiting.
  void Submit(InferenceRequest request, Callback done);

  // Stops accepting requests, runs everything already queued and waits for running batches.
  // Requests still queued after `drain_timeout` fail with Unavailable and Shutdown returns
  // DeadlineExceeded saying how many; batches already running cannot be interrupted and are
  // always waited for. Joins the workers. Idempotent.
  Status Shutdown(std::chrono::milliseconds drain_timeout);

  // Requests waiting in the queue (never more than max_queue_size).
  std::int64_t queue_depth() const;
  // Requests taken from the queue whose callback has not yet returned.
  std::int64_t in_flight() const;
  // False once Shutdown has begun.
  bool is_accepting() const;

  const std::string& model() const { return model_; }
  const std::string& version() const { return version_; }
  const SchedulerOptions& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;

  struct Pending {
    std::vector<Tensor> inputs;
    Callback done;
    std::int64_t items = 1;
    Clock::time_point enqueued;
    std::optional<Clock::time_point> deadline;
  };

  ModelScheduler(std::string model, std::string version,
                 std::shared_ptr<const runtime::Engine> engine, SchedulerOptions options,
                 SchedulerListener* listener);

  // An executed batch whose callbacks the completer still has to run.
  struct Completion {
    std::vector<Pending> batch;
    std::vector<Result<std::vector<Tensor>>> results;
    std::vector<RequestTiming> timings;
  };
  static constexpr std::size_t kMaxPendingCompletions = 2;

  void WorkerLoop();
  void CompleterLoop();
  // Under mu_: waits until a batch is due and takes it (and any expired requests) out of queue_.
  void FormBatch(std::unique_lock<std::mutex>& lock, std::vector<Pending>& batch,
                 std::vector<Pending>& expired);
  // Runs the batch and queues its callbacks for the completer.
  void ExecuteBatch(std::vector<Pending> batch);
  void FailExpired(std::vector<Pending> expired);
  void Complete(Pending& request, Result<std::vector<Tensor>> result,
                const RequestTiming& timing) const;
  void Reject(Callback& done, Status status) const;
  Status CheckBatchDimension(std::span<const Tensor> inputs, std::int64_t* items) const;
  bool IsWorkerThread() const;

  const std::string model_;
  const std::string version_;
  const std::shared_ptr<const runtime::Engine> engine_;
  const SchedulerOptions options_;  // preferred_batch_sizes sorted ascending
  SchedulerListener* const listener_;
  const std::string prefix_;  // "model 'm'"

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;         // workers waiting to form the next batch
  std::condition_variable forming_cv_;      // the worker forming a batch, waiting for requests
  std::condition_variable drained_cv_;      // Shutdown, waiting for the queue to empty
  std::deque<Pending> queue_;               // guarded by mu_; FIFO, size <= max_queue_size
  bool forming_ = false;                    // guarded by mu_; some worker is forming a batch
  bool stopping_ = false;                   // guarded by mu_; Shutdown has begun
  std::int64_t in_flight_ = 0;              // guarded by mu_
  BatchSizeTuner tuner_;                    // guarded by mu_; used when adaptive_batch_size
  std::deque<Completion> completions_;      // guarded by mu_; size <= kMaxPendingCompletions
  bool workers_done_ = false;               // guarded by mu_; every worker has exited
  std::condition_variable completer_cv_;    // the completer, waiting for executed batches
  std::condition_variable completions_cv_;  // a worker, waiting for room in completions_

  std::mutex shutdown_mu_;                   // serialises Shutdown; taken before mu_
  bool joined_ = false;                      // guarded by shutdown_mu_
  std::vector<std::thread> workers_;         // written by Create, joined by Shutdown
  std::vector<std::thread::id> worker_ids_;  // immutable after Create (completer included)
  std::thread completer_;                    // started by Create, joined by Shutdown
};

}  // namespace orbit::scheduler
