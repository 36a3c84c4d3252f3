// The inference-serving metrics of Orbit: Triton's nv_inference_* counters (same names, labels
// and meaning, so Triton dashboards work unchanged), Orbit's latency and batch-size histograms,
// queue gauges, model lifecycle and HTTP request counts. docs/metrics.md lists every metric.
//
// Who records what (see docs/metrics.md for the full contract):
//   - the scheduler: RecordSuccess / RecordFailure once per request when it completes,
//     RecordExecution once per model execution (batch), queue_depth and in_flight gauges;
//   - the repository / model manager: RecordModelLoad, RecordModelUnload;
//   - the HTTP front end: RecordHttpRequest once per response.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "telemetry/metric_registry.h"

namespace orbit {

// Why a request failed: the `reason` label of nv_inference_request_failure, as Triton has it.
enum class FailureReason {
  kRejected,  // refused by the scheduler: queue full, queue timeout, model not ready
  kCanceled,  // cancelled by the client or at shutdown
  kBackend,   // the model execution (engine) failed
  kOther,     // anything else (bad input found after admission, ...)
};

// "REJECTED", "CANCELED", "BACKEND", "OTHER".
std::string_view FailureReasonName(FailureReason reason);

// A default classification for callers that only hold a Status: Cancelled → CANCELED;
// ResourceExhausted, Unavailable, DeadlineExceeded → REJECTED; Internal, Unknown, DataLoss →
// BACKEND; others → OTHER. Callers that know better pass the reason themselves.
FailureReason FailureReasonFromStatus(const Status& status);

// Where a batch's time went inside the engine call.
struct ComputeTimings {
  std::chrono::nanoseconds input{0};   // preparing inputs (copy in, host→device)
  std::chrono::nanoseconds infer{0};   // the model execution itself
  std::chrono::nanoseconds output{0};  // extracting outputs (device→host, copy out)

  std::chrono::nanoseconds total() const { return input + infer + output; }
};

// One successful request's timings. As in Triton, `compute` is that of the execution(s) the
// request took part in, counted in full for every request of a batch.
struct RequestTimings {
  std::chrono::nanoseconds request{0};  // from receipt by the scheduler to response
  std::chrono::nanoseconds queue{0};    // waiting in the scheduler queue
  ComputeTimings compute;
};

// Bucket bounds, in the histograms' units.
const std::vector<double>& LatencyBucketsSeconds();    // 1 ms .. 10 s
const std::vector<double>& BatchSizeBuckets();         // 1, 2, 4, ..., 128
const std::vector<double>& ModelLoadBucketsSeconds();  // 100 ms .. 10 min

// The children of one model version, resolved once: recording through it is only atomic
// updates. Cheap to copy (pointers only); valid as long as the registry. Thread-safe.
class ModelInferenceMetrics {
 public:
  // Counts a successful request and its durations.
  void RecordSuccess(const RequestTimings& timings) const;
  // Counts a failed request (nv_inference_request_failure{reason}); durations are not recorded,
  // as in Triton.
  void RecordFailure(FailureReason reason) const;
  // Counts one successful model execution of `batch_size` items (inferences).
  void RecordExecution(std::int64_t batch_size, const ComputeTimings& compute) const;

  // Requests waiting in the scheduler queue / admitted and not yet answered. Set() them or
  // Increment()/Decrement() them.
  Gauge& queue_depth() const { return *queue_depth_; }
  Gauge& in_flight() const { return *in_flight_; }

 private:
  friend class InferenceMetrics;
  ModelInferenceMetrics() = default;

  // Indexed by FailureReason; all four exist from the start, as in Triton.
  std::array<Counter*, 4> failure_{};
  Counter* success_ = nullptr;
  Counter* inference_count_ = nullptr;
  Counter* exec_count_ = nullptr;
  Counter* request_duration_us_ = nullptr;
  Counter* queue_duration_us_ = nullptr;
  Counter* compute_input_duration_us_ = nullptr;
  Counter* compute_infer_duration_us_ = nullptr;
  Counter* compute_output_duration_us_ = nullptr;
  Histogram* request_duration_seconds_ = nullptr;
  Histogram* queue_duration_seconds_ = nullptr;
  Histogram* compute_duration_seconds_ = nullptr;
  Histogram* batch_size_ = nullptr;
  Gauge* queue_depth_ = nullptr;
  Gauge* in_flight_ = nullptr;
};

// Registers the inference metrics on a registry and records into them. Cheap to copy (it holds
// family pointers); thread-safe; the registry must outlive it.
class InferenceMetrics {
 public:
  // Registers every family (again on the same registry: the same families). AlreadyExists if a
  // name is taken by a different metric.
  static Result<InferenceMetrics> Register(MetricRegistry& registry);

  // The children for one model version (created at first use, so the model shows at zero).
  // Cache the result per model on hot paths; each call takes the families' reader locks.
  ModelInferenceMetrics ForModel(std::string_view model, std::string_view version) const;

  // Shorthands for ForModel(model, version).Record...(...).
  void RecordSuccess(std::string_view model, std::string_view version,
                     const RequestTimings& timings) const;
  void RecordFailure(std::string_view model, std::string_view version, FailureReason reason) const;
  void RecordExecution(std::string_view model, std::string_view version, std::int64_t batch_size,
                       const ComputeTimings& compute) const;

  // A load attempt: orbit_model_load_total{outcome="success"|"failure"}, and for successes the
  // load duration.
  void RecordModelLoad(std::string_view model, std::string_view version, bool succeeded,
                       std::chrono::nanoseconds duration) const;
  void RecordModelUnload(std::string_view model, std::string_view version) const;

  // One HTTP response. `route` is the route pattern ("/v2/models/{model}/infer"), never the raw
  // path, to keep the number of series bounded.
  void RecordHttpRequest(std::string_view method, std::string_view route, int status_code) const;

 private:
  InferenceMetrics() = default;

  CounterFamily* success_ = nullptr;
  CounterFamily* failure_ = nullptr;
  CounterFamily* inference_count_ = nullptr;
  CounterFamily* exec_count_ = nullptr;
  CounterFamily* request_duration_us_ = nullptr;
  CounterFamily* queue_duration_us_ = nullptr;
  CounterFamily* compute_input_duration_us_ = nullptr;
  CounterFamily* compute_infer_duration_us_ = nullptr;
  CounterFamily* compute_output_duration_us_ = nullptr;
  HistogramFamily* request_duration_seconds_ = nullptr;
  HistogramFamily* queue_duration_seconds_ = nullptr;
  HistogramFamily* compute_duration_seconds_ = nullptr;
  HistogramFamily* batch_size_ = nullptr;
  GaugeFamily* queue_depth_ = nullptr;
  GaugeFamily* in_flight_ = nullptr;
  CounterFamily* model_load_ = nullptr;
  CounterFamily* model_unload_ = nullptr;
  HistogramFamily* model_load_duration_seconds_ = nullptr;
  CounterFamily* http_requests_ = nullptr;
};

}  // namespace orbit
