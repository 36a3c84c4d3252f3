// `orbit evaluate`: runs a model over a folder of images and scores it against ground-truth
// instance masks paired by file stem: semantic IoU/Dice, object precision/recall/F1 at IoU 0.5 and
// average precision over IoU 0.5:0.05:0.95, per image and aggregated; table and/or JSON.
#include <filesystem>
#include <iomanip>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "cli/image_files.h"
#include "core/file.h"
#include "repository/model_package.h"
#include "vision/image_io.h"
#include "vision/metrics.h"
#include "vision/segmentation_json.h"

namespace orbit::cli {
namespace {
namespace fs = std::filesystem;

struct EvaluateFlags {
  std::string model;
  std::string images;
  std::string masks;
  std::string format = "table";
  std::string out;
  double fail_under_iou = -1;
  EngineFlags engine;
};

Result<vision::ImageMetrics> EvaluateImage(const repository::ModelPackage& model,
                                           const vision::InferFn& infer, const fs::path& image_path,
                                           const fs::path& mask_path) {
  ORBIT_ASSIGN_OR_RETURN(const cv::Mat image, vision::ReadImageFile(image_path));
  ORBIT_ASSIGN_OR_RETURN(const cv::Mat truth, vision::ReadImageFile(mask_path));
  if (truth.channels() != 1) {
    return InvalidArgumentError("mask '" + mask_path.string() +
                                "' must be a 1-channel instance label image");
  }
  ORBIT_ASSIGN_OR_RETURN(const vision::Segmentation seg, model.pipeline->Run(image, infer));
  auto metrics = vision::ComputeImageMetricsChecked(seg.labels, truth);
  if (!metrics.ok()) return metrics.status().WithContext("mask '" + mask_path.string() + "'");
  return metrics;
}

void PrintRow(const std::string& name, const vision::ImageMetrics& m) {
  std::cout << std::left << std::setw(28) << name << std::right << std::fixed
            << std::setprecision(4) << std::setw(8) << m.iou << std::setw(8) << m.dice
            << std::setw(8) << m.precision << std::setw(8) << m.recall << std::setw(8) << m.f1
            << std::setw(8) << m.average_precision << std::setw(6) << m.objects.true_positives
            << std::setw(6) << m.objects.false_positives << std::setw(6)
            << m.objects.false_negatives << "\n";
}

void PrintTable(const nlohmann::json& report, const std::vector<vision::ImageMetrics>& metrics,
                const std::vector<std::string>& names, const vision::AggregateMetrics& total) {
  std::cout << std::left << std::setw(28) << "image" << std::right << std::setw(8) << "IoU"
            << std::setw(8) << "Dice" << std::setw(8) << "P@0.5" << std::setw(8) << "R@0.5"
            << std::setw(8) << "F1@0.5" << std::setw(8) << "AP" << std::setw(6) << "TP"
            << std::setw(6) << "FP" << std::setw(6) << "FN"
            << "\n";
  for (std::size_t i = 0; i < metrics.size(); ++i) PrintRow(names[i], metrics[i]);
  std::cout << std::string(94, '-') << "\n";
  std::cout << std::left << std::setw(28) << ("all (" + std::to_string(total.image_count) + ")")
            << std::right << std::fixed << std::setprecision(4) << std::setw(8) << total.iou
            << std::setw(8) << total.dice << std::setw(8) << total.precision << std::setw(8)
            << total.recall << std::setw(8) << total.f1 << std::setw(8) << total.average_precision
            << std::setw(6) << total.objects.true_positives << std::setw(6)
            << total.objects.false_positives << std::setw(6) << total.objects.false_negatives
            << "\n";
  std::cout << "IoU and Dice: pixels summed over all images (mean per image: "
            << std::setprecision(4) << total.mean_image_iou
            << "); P/R/F1 at object IoU > 0.5; AP over IoU 0.50:0.05:0.95\n";
  for (const auto& failure : report["failures"]) {
    std::cout << "failed: " << failure["image"].get<std::string>() << ": "
              << failure["error"].get<std::string>() << "\n";
  }
}

int RunEvaluate(const EvaluateFlags& flags) {
  auto options = ToEngineOptions(flags.engine);
  if (!options.ok()) {
    std::cerr << "error: " << options.status().message() << "\n";
    return kExitUsage;
  }
  auto images = ListImageFiles(flags.images);
  if (!images.ok()) {
    std::cerr << "error: --images: " << images.status().message() << "\n";
    return kExitUsage;
  }
  if (images->empty()) {
    std::cerr << "error: --images: no image files in '" << flags.images << "'\n";
    return kExitUsage;
  }
  auto model = repository::LoadModelPackage(flags.model, *options);
  if (!model.ok()) {
    std::cerr << "error: " << model.status().message() << "\n";
    return kExitUsage;
  }
  const vision::InferFn infer = model->MakeInferFn();
  std::vector<vision::ImageMetrics> metrics;
  std::vector<std::string> names;
  nlohmann::json report = {{"model", model->recipe().name},
                           {"model_path", model->model_path.string()},
                           {"images", nlohmann::json::array()},
                           {"failures", nlohmann::json::array()}};
  for (const auto& image_path : *images) {
    auto mask_path = FindByStem(flags.masks, image_path);
    Result<vision::ImageMetrics> m = mask_path.ok()
                                         ? EvaluateImage(*model, infer, image_path, *mask_path)
                                         : Result<vision::ImageMetrics>(mask_path.status());
    if (!m.ok()) {
      std::cerr << "error: " << m.status().message() << "\n";
      report["failures"].push_back(
          {{"image", image_path.string()}, {"error", m.status().message()}});
      continue;
    }
    nlohmann::json entry = vision::ImageMetricsToJson(*m);
    entry["image"] = image_path.string();
    entry["mask"] = mask_path->string();
    report["images"].push_back(std::move(entry));
    metrics.push_back(*m);
    names.push_back(image_path.filename().string());
  }
  const vision::AggregateMetrics total = vision::AggregateImageMetrics(metrics);
  report["aggregate"] = vision::AggregateMetricsToJson(total);
  if (!flags.out.empty()) {
    if (Status s = WriteFileAtomic(flags.out, report.dump(2) + "\n"); !s.ok()) {
      std::cerr << "error: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  if (flags.format == "json") {
    std::cout << report.dump(2) << "\n";
  } else {
    PrintTable(report, metrics, names, total);
  }
  const bool failed_any = !report["failures"].empty();
  if (flags.fail_under_iou >= 0 && total.iou < flags.fail_under_iou) {
    std::cerr << "error: aggregate IoU " << total.iou << " is under --fail-under-iou "
              << flags.fail_under_iou << "\n";
    return kExitSomeFailed;
  }
  return failed_any ? kExitSomeFailed : kExitOk;
}

}  // namespace

CommandFn RegisterEvaluate(CLI::App& app) {
  auto flags = std::make_shared<EvaluateFlags>();
  app.add_option("--model", flags->model, "Model directory or .onnx file")->required();
  app.add_option("--images", flags->images, "Directory of images")->required();
  app.add_option("--masks", flags->masks,
                 "Directory of ground-truth instance masks (same file stems as the images)")
      ->required();
  app.add_option("--format", flags->format, "Report on stdout: table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_option("--out", flags->out, "Also write the JSON report to this file");
  app.add_option("--fail-under-iou", flags->fail_under_iou,
                 "Exit 1 when the aggregate IoU is below this (a quality gate)");
  AddEngineFlags(app, flags->engine);
  return [flags] { return RunEvaluate(*flags); };
}

}  // namespace orbit::cli
