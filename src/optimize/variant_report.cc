#include "optimize/variant_report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "vision/image_io.h"
#include "vision/segmentation_json.h"

namespace orbit::optimize {
namespace {
using Clock = std::chrono::steady_clock;

std::string Fixed(double value, int decimals) {
  // A tiny negative value would print as "-0.0000"; it is 0 at this precision.
  if (std::fabs(value) < 0.5 * std::pow(10.0, -decimals)) value = 0;
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

std::string Megabytes(std::int64_t bytes) {
  return Fixed(static_cast<double>(bytes) / (1024.0 * 1024.0), 2);
}

nlohmann::json LatencyToJson(const LatencyStats& s) {
  return {{"batch", s.batch},           {"p50_ms", s.p50_ms},
          {"p99_ms", s.p99_ms},         {"mean_ms", s.mean_ms},
          {"iterations", s.iterations}, {"images_per_second", s.images_per_second}};
}

nlohmann::json VariantToJson(const VariantReport& v) {
  nlohmann::json j = {{"name", v.name},
                      {"precision", v.precision},
                      {"path", v.path},
                      {"file_bytes", v.file_bytes},
                      {"parameter_count", v.parameters.parameter_count},
                      {"parameter_bytes", v.parameters.parameter_bytes},
                      {"latency", nlohmann::json::array()},
                      {"speedup", nlohmann::json::object()},
                      {"accuracy", vision::AggregateMetricsToJson(v.accuracy.metrics)},
                      {"pixel_agreement", v.accuracy.pixel_agreement},
                      {"converted_nodes", v.converted_nodes},
                      {"kept_fp32", nlohmann::json::array()},
                      {"notes", v.notes}};
  for (const auto& s : v.latency) j["latency"].push_back(LatencyToJson(s));
  for (const auto& [batch, ratio] : v.speedup) j["speedup"][std::to_string(batch)] = ratio;
  for (const auto& k : v.kept_fp32) {
    j["kept_fp32"].push_back({{"node", k.node}, {"op_type", k.op_type}, {"reason", k.reason}});
  }
  if (v.gate) {
    j["gate"] = {{"accepted", v.gate->accepted},
                 {"iou_drop", v.gate->iou_drop},
                 {"speedup", v.gate->speedup},
                 {"slowest_batch", v.gate->slowest_batch},
                 {"reasons", v.gate->reasons}};
  }
  return j;
}

const LatencyStats* AtBatch(const VariantReport& v, int batch) {
  for (const auto& s : v.latency) {
    if (s.batch == batch) return &s;
  }
  return nullptr;
}

// Foreground agreement and pixel count of `labels` against `reference` (same size).
std::pair<std::int64_t, std::int64_t> AgreeingPixels(const cv::Mat& labels,
                                                     const cv::Mat& reference) {
  cv::Mat a = labels > 0, b = reference > 0;
  cv::Mat differ;
  cv::compare(a, b, differ, cv::CMP_NE);
  const std::int64_t total = static_cast<std::int64_t>(labels.total());
  return {total - cv::countNonZero(differ), total};
}

}  // namespace

LatencyStats SummarizeLatency(int batch, std::vector<double> samples_ms) {
  LatencyStats s;
  s.batch = batch;
  if (samples_ms.empty()) return s;
  std::sort(samples_ms.begin(), samples_ms.end());
  auto rank = [&](double q) {
    const auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples_ms.size())));
    return samples_ms[std::min(samples_ms.size() - 1, i == 0 ? 0 : i - 1)];
  };
  s.p50_ms = rank(0.50);
  s.p99_ms = rank(0.99);
  s.mean_ms = std::accumulate(samples_ms.begin(), samples_ms.end(), 0.0) /
              static_cast<double>(samples_ms.size());
  s.iterations = static_cast<int>(samples_ms.size());
  s.images_per_second = s.mean_ms > 0 ? 1000.0 * batch / s.mean_ms : 0.0;
  return s;
}

Result<std::vector<std::vector<LatencyStats>>> MeasureSpeedInterleaved(
    const std::vector<const runtime::Engine*>& engines, const Tensor& sample,
    const SpeedOptions& options) {
  if (engines.empty()) return InvalidArgumentError("no models to time");
  if (sample.shape().empty() || sample.shape()[0] != 1) {
    return InvalidArgumentError("the timing sample must be one item (batch dimension 1), got " +
                                ShapeToString(sample.shape()));
  }
  std::vector<std::vector<LatencyStats>> stats(engines.size());
  for (const int batch : options.batches) {
    if (batch < 1) return InvalidArgumentError("batch sizes must be >= 1");
    std::vector<Tensor> parts;
    for (int i = 0; i < batch; ++i) parts.push_back(sample.Clone());
    std::vector<Tensor> inputs;
    ORBIT_ASSIGN_OR_RETURN(Tensor stacked, ConcatBatch(parts));
    inputs.push_back(std::move(stacked));
    for (const runtime::Engine* engine : engines) {
      for (int i = 0; i < options.warmup; ++i) {
        auto run = engine->Run(inputs);
        if (!run.ok()) return run.status().WithContext("batch " + std::to_string(batch));
      }
    }
    std::vector<std::vector<double>> samples(engines.size());
    const auto start = Clock::now();
    for (std::size_t round = 0;; ++round) {
      const bool enough_time =
          std::chrono::duration<double>(Clock::now() - start).count() >= options.seconds;
      if (round >= static_cast<std::size_t>(options.min_iterations) && enough_time) break;
      for (std::size_t k = 0; k < engines.size(); ++k) {
        const std::size_t e = (round + k) % engines.size();
        const auto t0 = Clock::now();
        auto run = engines[e]->Run(inputs);
        const auto t1 = Clock::now();
        if (!run.ok()) return run.status().WithContext("batch " + std::to_string(batch));
        samples[e].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    }
    for (std::size_t e = 0; e < engines.size(); ++e) {
      stats[e].push_back(SummarizeLatency(batch, std::move(samples[e])));
    }
  }
  return stats;
}

Result<std::vector<AccuracyResult>> MeasureAccuracy(
    const std::vector<const repository::ModelPackage*>& models,
    const std::vector<LabelledImage>& labelled) {
  if (models.empty()) return InvalidArgumentError("no models to score");
  if (labelled.empty()) return InvalidArgumentError("the labelled set is empty");
  std::vector<vision::InferFn> infer;
  for (const auto* model : models) infer.push_back(model->MakeInferFn());
  std::vector<std::vector<vision::ImageMetrics>> per_image(models.size());
  std::vector<std::int64_t> agree(models.size(), 0);
  std::int64_t total = 0;
  for (const LabelledImage& item : labelled) {
    ORBIT_ASSIGN_OR_RETURN(const cv::Mat image, vision::ReadImageFile(item.image));
    ORBIT_ASSIGN_OR_RETURN(const cv::Mat truth, vision::ReadImageFile(item.mask));
    if (truth.channels() != 1) {
      return InvalidArgumentError("mask '" + item.mask.string() +
                                  "' must be a 1-channel instance label image");
    }
    cv::Mat reference;
    for (std::size_t m = 0; m < models.size(); ++m) {
      auto seg = models[m]->pipeline->Run(image, infer[m]);
      if (!seg.ok()) {
        return seg.status().WithContext("image '" + item.image.string() + "'");
      }
      auto metrics = vision::ComputeImageMetricsChecked(seg->labels, truth);
      if (!metrics.ok()) {
        return metrics.status().WithContext("mask '" + item.mask.string() + "'");
      }
      per_image[m].push_back(std::move(*metrics));
      if (m == 0) {
        reference = seg->labels;
        total += static_cast<std::int64_t>(reference.total());
      }
      agree[m] += AgreeingPixels(seg->labels, reference).first;
    }
  }
  std::vector<AccuracyResult> results(models.size());
  for (std::size_t m = 0; m < models.size(); ++m) {
    results[m].metrics = vision::AggregateImageMetrics(per_image[m]);
    results[m].pixels = total;
    results[m].pixel_agreement =
        total > 0 ? static_cast<double>(agree[m]) / static_cast<double>(total) : 1.0;
  }
  return results;
}

std::vector<std::pair<int, double>> Speedups(const std::vector<LatencyStats>& reference,
                                             const std::vector<LatencyStats>& variant) {
  std::vector<std::pair<int, double>> out;
  for (const LatencyStats& v : variant) {
    for (const LatencyStats& r : reference) {
      if (r.batch != v.batch) continue;
      out.emplace_back(v.batch, v.p50_ms > 0 ? r.p50_ms / v.p50_ms : 0.0);
    }
  }
  return out;
}

nlohmann::json ReportToJson(const OptimizeReport& report) {
  nlohmann::json j = {{"model", report.model_name},
                      {"source_model", report.source_model},
                      {"providers", report.providers},
                      {"intra_op_threads", report.intra_op_threads},
                      {"bench_size", report.bench_size},
                      {"labelled_images", report.labelled_images},
                      {"calibration_images", report.calibration_images},
                      {"calibration_inputs", report.calibration_inputs},
                      {"gate",
                       {{"max_accuracy_drop", report.gate.max_accuracy_drop},
                        {"min_speedup", report.gate.min_speedup},
                        {"accuracy_metric", "iou"}}},
                      {"reference", VariantToJson(report.reference)},
                      {"variants", nlohmann::json::array()},
                      {"recommended", nullptr}};
  for (const auto& v : report.variants) j["variants"].push_back(VariantToJson(v));
  if (report.recommended) j["recommended"] = *report.recommended;
  return j;
}

std::string ReportToMarkdown(const OptimizeReport& report) {
  std::string md = "# `orbit optimize` report: " + report.model_name + "\n\n";
  md += "Source model `" + report.source_model + "`; providers " + report.providers +
        ", intra-op threads " +
        (report.intra_op_threads == 0 ? std::string("ORT default")
                                      : std::to_string(report.intra_op_threads)) +
        "; timing input " + report.bench_size + "; accuracy on " +
        std::to_string(report.labelled_images) + " labelled image(s)";
  if (report.calibration_images > 0) {
    md += "; INT8 calibrated on " + std::to_string(report.calibration_images) + " image(s) (" +
          std::to_string(report.calibration_inputs) + " input(s))";
  }
  md += ".\n\nGate: IoU drop <= " + Fixed(report.gate.max_accuracy_drop, 4) +
        " (absolute, against FP32) and speedup >= " + Fixed(report.gate.min_speedup, 2) +
        "x at every batch size.\n\n";

  std::vector<int> batches;
  for (const auto& s : report.reference.latency) batches.push_back(s.batch);
  md += "| variant | precision | file MB | parameters | param MB |";
  for (int b : batches) {
    const std::string bs = std::to_string(b);
    md += " b" + bs + " p50 ms | b" + bs + " p99 ms | b" + bs + " img/s | b" + bs + " speedup |";
  }
  md += " IoU | IoU drop | Dice | F1@0.5 | AP | pixel agreement | verdict |\n|";
  const std::size_t columns = 5 + 4 * batches.size() + 7;
  for (std::size_t i = 0; i < columns; ++i) md += "---|";
  md += "\n";
  const double reference_iou = report.reference.accuracy.metrics.iou;
  auto row = [&](const VariantReport& v, bool is_reference) {
    md += "| " + v.name + (is_reference ? " (reference, raw ONNX Runtime)" : "") + " | " +
          v.precision + " | " + Megabytes(v.file_bytes) + " | " +
          std::to_string(v.parameters.parameter_count) + " | " +
          Megabytes(v.parameters.parameter_bytes) + " |";
    for (int b : batches) {
      const LatencyStats* s = AtBatch(v, b);
      double speedup = is_reference ? 1.0 : 0.0;
      for (const auto& [batch, ratio] : v.speedup) {
        if (batch == b) speedup = ratio;
      }
      md += s == nullptr ? " | | | |"
                         : " " + Fixed(s->p50_ms, 1) + " | " + Fixed(s->p99_ms, 1) + " | " +
                               Fixed(s->images_per_second, 2) + " | " + Fixed(speedup, 2) + "x |";
    }
    const auto& m = v.accuracy.metrics;
    std::string verdict = "reference";
    if (v.gate) {
      verdict = v.gate->accepted ? "**accepted**" : "rejected";
      if (report.recommended && *report.recommended == v.name) verdict += " (recommended)";
    }
    md += " " + Fixed(m.iou, 4) + " | " + (is_reference ? "" : Fixed(reference_iou - m.iou, 4)) +
          " | " + Fixed(m.dice, 4) + " | " + Fixed(m.f1, 4) + " | " +
          Fixed(m.average_precision, 4) + " | " + Fixed(v.accuracy.pixel_agreement, 5) + " | " +
          verdict + " |\n";
  };
  row(report.reference, true);
  for (const auto& v : report.variants) row(v, false);

  md += "\n";
  md += report.recommended ? "Recommended: **" + *report.recommended + "** (`recommended` -> `" +
                                 *report.recommended + "/`).\n"
                           : "Recommended: none — no variant passed the gate.\n";
  for (const auto& v : report.variants) {
    md += "\n## " + v.name + "\n\n";
    md += "- model package: `" + v.path + "/` (`precision: " + v.precision + "`)\n";
    if (v.gate) {
      if (v.gate->accepted) {
        md += "- gate: accepted (IoU drop " + Fixed(v.gate->iou_drop, 4) + ", speedup " +
              Fixed(v.gate->speedup, 2) + "x)\n";
      } else {
        md += "- gate: **rejected**:";
        for (const auto& reason : v.gate->reasons) md += " " + reason + ";";
        md.back() = '\n';
      }
    }
    for (const auto& note : v.notes) md += "- " + note + "\n";
    md += "- nodes converted: " + std::to_string(v.converted_nodes) +
          "; kept in FP32: " + std::to_string(v.kept_fp32.size()) + "\n";
    for (const auto& k : v.kept_fp32) {
      md += "  - `" + k.node + "` (" + k.op_type + "): " + k.reason + "\n";
    }
  }
  return md;
}

}  // namespace orbit::optimize
