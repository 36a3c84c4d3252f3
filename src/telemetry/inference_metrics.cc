#include "telemetry/inference_metrics.h"

#include <cassert>
#include <string>

namespace orbit {
namespace {

constexpr FailureReason kFailureReasons[] = {FailureReason::kRejected, FailureReason::kCanceled,
                                             FailureReason::kBackend, FailureReason::kOther};

std::uint64_t Microseconds(std::chrono::nanoseconds duration) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
  return us > 0 ? static_cast<std::uint64_t>(us) : 0;
}

double Seconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

// Label counts are fixed by Register below, so a lookup cannot fail.
template <typename Metric>
Metric* Child(MetricFamily<Metric>* family, std::vector<std::string> label_values) {
  Result<Metric*> child = family->WithLabels(label_values);
  assert(child.ok());
  return child.ok() ? *child : nullptr;
}

}  // namespace

std::string_view FailureReasonName(FailureReason reason) {
  switch (reason) {
    case FailureReason::kRejected:
      return "REJECTED";
    case FailureReason::kCanceled:
      return "CANCELED";
    case FailureReason::kBackend:
      return "BACKEND";
    case FailureReason::kOther:
      return "OTHER";
  }
  return "OTHER";
}

FailureReason FailureReasonFromStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kCancelled:
      return FailureReason::kCanceled;
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      return FailureReason::kRejected;
    case StatusCode::kInternal:
    case StatusCode::kUnknown:
    case StatusCode::kDataLoss:
      return FailureReason::kBackend;
    default:
      return FailureReason::kOther;
  }
}

const std::vector<double>& LatencyBucketsSeconds() {
  static const std::vector<double> buckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,    1,     2.5,  5,     10};
  return buckets;
}

const std::vector<double>& BatchSizeBuckets() {
  static const std::vector<double> buckets = {1, 2, 4, 8, 16, 32, 64, 128};
  return buckets;
}

const std::vector<double>& ModelLoadBucketsSeconds() {
  static const std::vector<double> buckets = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
  return buckets;
}

void ModelInferenceMetrics::RecordSuccess(const RequestTimings& timings) const {
  success_->Increment();
  request_duration_us_->Increment(Microseconds(timings.request));
  queue_duration_us_->Increment(Microseconds(timings.queue));
  compute_input_duration_us_->Increment(Microseconds(timings.compute.input));
  compute_infer_duration_us_->Increment(Microseconds(timings.compute.infer));
  compute_output_duration_us_->Increment(Microseconds(timings.compute.output));
  request_duration_seconds_->Observe(Seconds(timings.request));
  queue_duration_seconds_->Observe(Seconds(timings.queue));
}

void ModelInferenceMetrics::RecordFailure(FailureReason reason) const {
  failure_[static_cast<std::size_t>(reason)]->Increment();
}

void ModelInferenceMetrics::RecordExecution(std::int64_t batch_size,
                                            const ComputeTimings& compute) const {
  exec_count_->Increment();
  inference_count_->Increment(batch_size > 0 ? static_cast<std::uint64_t>(batch_size) : 0);
  batch_size_->Observe(static_cast<double>(batch_size));
  compute_duration_seconds_->Observe(Seconds(compute.total()));
}

Result<InferenceMetrics> InferenceMetrics::Register(MetricRegistry& registry) {
  const std::vector<std::string> model_labels = {"model", "version"};
  InferenceMetrics m;
  // Triton's metrics: same names, help texts, labels and units.
  ORBIT_ASSIGN_OR_RETURN(
      m.success_, registry.AddCounter("nv_inference_request_success",
                                      "Number of successful inference requests, all batch sizes",
                                      model_labels));
  ORBIT_ASSIGN_OR_RETURN(m.failure_,
                         registry.AddCounter("nv_inference_request_failure",
                                             "Number of failed inference requests, all batch sizes",
                                             {"model", "version", "reason"}));
  ORBIT_ASSIGN_OR_RETURN(
      m.inference_count_,
      registry.AddCounter("nv_inference_count",
                          "Number of inferences performed (does not include cached requests)",
                          model_labels));
  ORBIT_ASSIGN_OR_RETURN(
      m.exec_count_,
      registry.AddCounter("nv_inference_exec_count",
                          "Number of model executions performed (does not include cached requests)",
                          model_labels));
  ORBIT_ASSIGN_OR_RETURN(
      m.request_duration_us_,
      registry.AddCounter("nv_inference_request_duration_us",
                          "Cumulative inference request duration in microseconds (includes cached "
                          "requests)",
                          model_labels));
  ORBIT_ASSIGN_OR_RETURN(m.queue_duration_us_,
                         registry.AddCounter("nv_inference_queue_duration_us",
                                             "Cumulative inference queuing duration in "
                                             "microseconds (includes cached requests)",
                                             model_labels));
  ORBIT_ASSIGN_OR_RETURN(m.compute_input_duration_us_,
                         registry.AddCounter("nv_inference_compute_input_duration_us",
                                             "Cumulative compute input duration in microseconds "
                                             "(does not include cached requests)",
                                             model_labels));
  ORBIT_ASSIGN_OR_RETURN(m.compute_infer_duration_us_,
                         registry.AddCounter("nv_inference_compute_infer_duration_us",
                                             "Cumulative compute inference duration in "
                                             "microseconds (does not include cached requests)",
                                             model_labels));
  ORBIT_ASSIGN_OR_RETURN(m.compute_output_duration_us_,
                         registry.AddCounter("nv_inference_compute_output_duration_us",
                                             "Cumulative inference compute output duration in "
                                             "microseconds (does not include cached requests)",
                                             model_labels));
  // Orbit's own.
  ORBIT_ASSIGN_OR_RETURN(
      m.request_duration_seconds_,
      registry.AddHistogram("orbit_inference_request_duration_seconds",
                            "Duration of successful inference requests, from receipt by the "
                            "scheduler to response, in seconds",
                            model_labels, LatencyBucketsSeconds()));
  ORBIT_ASSIGN_OR_RETURN(m.queue_duration_seconds_,
                         registry.AddHistogram("orbit_inference_queue_duration_seconds",
                                               "Time successful inference requests waited in the "
                                               "scheduler queue, in seconds",
                                               model_labels, LatencyBucketsSeconds()));
  ORBIT_ASSIGN_OR_RETURN(m.compute_duration_seconds_,
                         registry.AddHistogram("orbit_inference_compute_duration_seconds",
                                               "Duration of model executions (input, inference "
                                               "and output of one batch), in seconds",
                                               model_labels, LatencyBucketsSeconds()));
  ORBIT_ASSIGN_OR_RETURN(
      m.batch_size_,
      registry.AddHistogram("orbit_inference_batch_size", "Number of items in each model execution",
                            model_labels, BatchSizeBuckets()));
  ORBIT_ASSIGN_OR_RETURN(
      m.queue_depth_,
      registry.AddGauge("orbit_inference_queue_depth",
                        "Inference requests waiting in the scheduler queue", model_labels));
  ORBIT_ASSIGN_OR_RETURN(
      m.in_flight_,
      registry.AddGauge("orbit_inference_in_flight",
                        "Inference requests admitted by the scheduler and not yet answered",
                        model_labels));
  ORBIT_ASSIGN_OR_RETURN(
      m.model_load_,
      registry.AddCounter("orbit_model_load_total", "Model version load attempts, by outcome",
                          {"model", "version", "outcome"}));
  ORBIT_ASSIGN_OR_RETURN(
      m.model_unload_,
      registry.AddCounter("orbit_model_unload_total", "Model version unloads", model_labels));
  ORBIT_ASSIGN_OR_RETURN(m.model_load_duration_seconds_,
                         registry.AddHistogram("orbit_model_load_duration_seconds",
                                               "Duration of successful model version loads, in "
                                               "seconds",
                                               model_labels, ModelLoadBucketsSeconds()));
  ORBIT_ASSIGN_OR_RETURN(m.http_requests_,
                         registry.AddCounter("orbit_http_requests_total",
                                             "HTTP requests answered, by method, route pattern "
                                             "and status code",
                                             {"method", "route", "code"}));
  return m;
}

ModelInferenceMetrics InferenceMetrics::ForModel(std::string_view model,
                                                 std::string_view version) const {
  const std::vector<std::string> labels = {std::string(model), std::string(version)};
  ModelInferenceMetrics m;
  for (const FailureReason reason : kFailureReasons) {
    m.failure_[static_cast<std::size_t>(reason)] =
        Child(failure_, {labels[0], labels[1], std::string(FailureReasonName(reason))});
  }
  m.success_ = Child(success_, labels);
  m.inference_count_ = Child(inference_count_, labels);
  m.exec_count_ = Child(exec_count_, labels);
  m.request_duration_us_ = Child(request_duration_us_, labels);
  m.queue_duration_us_ = Child(queue_duration_us_, labels);
  m.compute_input_duration_us_ = Child(compute_input_duration_us_, labels);
  m.compute_infer_duration_us_ = Child(compute_infer_duration_us_, labels);
  m.compute_output_duration_us_ = Child(compute_output_duration_us_, labels);
  m.request_duration_seconds_ = Child(request_duration_seconds_, labels);
  m.queue_duration_seconds_ = Child(queue_duration_seconds_, labels);
  m.compute_duration_seconds_ = Child(compute_duration_seconds_, labels);
  m.batch_size_ = Child(batch_size_, labels);
  m.queue_depth_ = Child(queue_depth_, labels);
  m.in_flight_ = Child(in_flight_, labels);
  return m;
}

void InferenceMetrics::RecordSuccess(std::string_view model, std::string_view version,
                                     const RequestTimings& timings) const {
  ForModel(model, version).RecordSuccess(timings);
}

void InferenceMetrics::RecordFailure(std::string_view model, std::string_view version,
                                     FailureReason reason) const {
  ForModel(model, version).RecordFailure(reason);
}

void InferenceMetrics::RecordExecution(std::string_view model, std::string_view version,
                                       std::int64_t batch_size,
                                       const ComputeTimings& compute) const {
  ForModel(model, version).RecordExecution(batch_size, compute);
}

void InferenceMetrics::RecordModelLoad(std::string_view model, std::string_view version,
                                       bool succeeded, std::chrono::nanoseconds duration) const {
  Child(model_load_, {std::string(model), std::string(version), succeeded ? "success" : "failure"})
      ->Increment();
  if (succeeded) {
    Child(model_load_duration_seconds_, {std::string(model), std::string(version)})
        ->Observe(Seconds(duration));
  }
}

void InferenceMetrics::RecordModelUnload(std::string_view model, std::string_view version) const {
  Child(model_unload_, {std::string(model), std::string(version)})->Increment();
}

void InferenceMetrics::RecordHttpRequest(std::string_view method, std::string_view route,
                                         int status_code) const {
  Child(http_requests_, {std::string(method), std::string(route), std::to_string(status_code)})
      ->Increment();
}

}  // namespace orbit
