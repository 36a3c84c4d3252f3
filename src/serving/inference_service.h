// InferenceService: the KServe v2 / Open Inference Protocol over HTTP, plus Orbit's image-native
// /segment, the repository API and the Prometheus endpoint, on top of a ModelManager. It only
// routes and translates: parsing is kserve_codec, scheduling is the model's ModelScheduler,
// segmentation is vision's pipeline, status codes come from status_mapping.
//
// Thread safety: Handle/HandleMetrics run on HTTP io threads and never block; blocking work
// (segment, load, unload) goes to an internal WorkPool; inference completes on scheduler threads.
#pragma once

#include <memory>
#include <string>

#include "scheduler/scheduler.h"
#include "serving/http_server.h"
#include "serving/kserve_codec.h"
#include "serving/model_manager.h"
#include "serving/work_pool.h"
#include "telemetry/inference_metrics.h"
#include "telemetry/metric_registry.h"

namespace orbit::serving {

// Records a model version's scheduler events into the Triton-compatible inference metrics.
std::unique_ptr<scheduler::SchedulerListener> MakeMetricsListener(InferenceMetrics metrics,
                                                                  const std::string& model,
                                                                  std::int64_t version);

// Checks what the ONNX model cannot declare but its orbit.yaml does: image inputs whose height
// and width must be multiples of preprocess.pad_to_multiple (a U-Net's pooling depth). Returns
// InvalidArgument naming the input and both sizes, so a client never sees an ONNX Runtime
// "mismatched dimensions" error from deep inside the graph.
Status CheckSpatialMultiple(const LoadedVersion& version, const std::vector<Tensor>& inputs);

class InferenceService {
 public:
  struct Options {
    std::string server_name = "orbit";
    std::string server_version = "0.1.0";
    ParseLimits limits;
    int worker_threads = 2;             // /segment and load/unload jobs running at once
    std::size_t max_pending_jobs = 64;  // beyond: 503
  };

  InferenceService(ModelManager& models, InferenceMetrics metrics, MetricRegistry& registry,
                   Options options);

  // Every route of the inference port (8000).
  void Handle(HttpRequest request, Responder respond);
  // GET /metrics (the metrics port, 8002; also answered on the inference port).
  void HandleMetrics(const HttpRequest& request, const Responder& respond);

 private:
  void Infer(HttpRequest request, const std::string& model, std::optional<std::int64_t> version,
             Responder respond);
  void Segment(HttpRequest request, const std::string& model, std::optional<std::int64_t> version,
               Responder respond);

  ModelManager& models_;
  InferenceMetrics metrics_;
  MetricRegistry& registry_;
  Options options_;
  WorkPool pool_;
};

}  // namespace orbit::serving
