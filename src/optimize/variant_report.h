// Measuring optimised variants against their FP32 parent, and the report `orbit optimize` writes
// (report.json + report.md): size, parameters, latency/throughput at several batch sizes, accuracy
// on a labelled set, pixel agreement with FP32, what stayed in FP32, and the gate's verdict.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "optimize/gate.h"
#include "optimize/onnx_model.h"
#include "optimize/transform_result.h"
#include "repository/model_package.h"
#include "runtime/engine.h"
#include "tensor/tensor.h"
#include "vision/metrics.h"

namespace orbit::optimize {

// Latency percentiles of one model at one batch size (nearest-rank percentiles).
struct LatencyStats {
  int batch = 1;
  double p50_ms = 0, p99_ms = 0, mean_ms = 0;
  double images_per_second = 0;  // batch / mean
  int iterations = 0;
};
LatencyStats SummarizeLatency(int batch, std::vector<double> samples_ms);

// How long and how often to time each model.
struct SpeedOptions {
  std::vector<int> batches = {1, 8};
  double seconds = 3;      // minimum measuring time per batch size (all models together)
  int min_iterations = 5;  // per model and batch size
  int warmup = 2;          // untimed runs per model and batch size
};

// Times every engine on `sample` ([1, ...], repeated along the batch axis for each batch size).
// Measurements are interleaved — each round runs every engine once, the starting engine rotating
// — so machine noise (a busy neighbour, frequency changes) lands on all of them alike.
// Returns stats[engine][batch index].
Result<std::vector<std::vector<LatencyStats>>> MeasureSpeedInterleaved(
    const std::vector<const runtime::Engine*>& engines, const Tensor& sample,
    const SpeedOptions& options);

// One image of the labelled set and its ground-truth instance mask.
struct LabelledImage {
  std::filesystem::path image;
  std::filesystem::path mask;
};

// Accuracy of one model on the labelled set; agreement is against the first (reference) model.
struct AccuracyResult {
  vision::AggregateMetrics metrics;
  // Fraction of pixels whose foreground/background decision equals the reference model's.
  double pixel_agreement = 1;
  std::int64_t pixels = 0;  // pixels compared, over all images
};

// Runs every package's full pipeline (its own pre/post-processing) on each labelled image and
// scores it against the mask; models[0] is the reference for pixel agreement. Fails on the first
// unreadable image or mask, naming it.
Result<std::vector<AccuracyResult>> MeasureAccuracy(
    const std::vector<const repository::ModelPackage*>& models,
    const std::vector<LabelledImage>& labelled);

// Everything measured about one model (the FP32 reference or a variant).
struct VariantReport {
  std::string name;       // "fp32" (the parent), "fp32-optimized", "fp16", "int8", ...
  std::string precision;  // fp32 | fp16 | int8
  std::string path;       // model package directory, relative to the output folder
  std::int64_t file_bytes = 0;
  ParameterStats parameters;
  std::vector<LatencyStats> latency;            // one per batch size
  std::vector<std::pair<int, double>> speedup;  // batch -> throughput ratio to FP32
  AccuracyResult accuracy;
  std::size_t converted_nodes = 0;
  std::vector<NodeDecision> kept_fp32;  // nodes the transform left in FP32, with the reason
  std::optional<GateDecision> gate;     // none for the reference
  std::vector<std::string> notes;       // e.g. how it was calibrated
};

// The whole `orbit optimize` run.
struct OptimizeReport {
  std::string model_name;
  std::string source_model;  // the parent's model.onnx as given
  std::string providers;     // e.g. "cpu"
  int intra_op_threads = 0;
  std::string bench_size;  // "512x512"
  std::size_t labelled_images = 0;
  std::size_t calibration_images = 0;
  std::size_t calibration_inputs = 0;  // tiles actually run
  GateOptions gate;
  VariantReport reference;
  std::vector<VariantReport> variants;
  std::optional<std::string> recommended;
};

// Speedup of `variant` over `reference` per batch size: the ratio of median latencies, i.e. of
// typical throughput. Medians, not means, so that one stall on a shared machine (a neighbour's
// burst, a page-cache flush) cannot decide the gate; the mean-based images/s stay in the report.
// 0 when the variant was not timed.
std::vector<std::pair<int, double>> Speedups(const std::vector<LatencyStats>& reference,
                                             const std::vector<LatencyStats>& variant);

nlohmann::json ReportToJson(const OptimizeReport& report);
std::string ReportToMarkdown(const OptimizeReport& report);

}  // namespace orbit::optimize
