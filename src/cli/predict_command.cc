// `orbit predict`: segments images and writes, per image (per page for multi-page TIFF), a
// 16-bit instance-label PNG, an overlay PNG and a JSON summary. A bad image is reported and the
// rest still run; the exit code says whether all succeeded.
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "core/file.h"
#include "repository/model_package.h"
#include "vision/image_io.h"
#include "vision/overlay.h"
#include "vision/segmentation_json.h"

namespace orbit::cli {
namespace {
namespace fs = std::filesystem;

struct PredictFlags {
  std::string model;
  std::vector<std::string> images;
  std::string out = "predictions";
  std::string format = "table";
  bool overlay = true;
  EngineFlags engine;
};

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// A stem not used before in this run ("a", then "a-2", ...) so outputs never overwrite each other.
std::string UniqueStem(const std::string& stem, std::set<std::string>& used) {
  std::string candidate = stem;
  for (int i = 2; used.count(candidate) > 0; ++i) candidate = stem + "-" + std::to_string(i);
  used.insert(candidate);
  return candidate;
}

// Segments one page and writes its three outputs; returns the JSON record.
Result<nlohmann::json> PredictPage(const repository::ModelPackage& model,
                                   const vision::InferFn& infer, const cv::Mat& page,
                                   const fs::path& out_dir, const std::string& stem,
                                   bool write_overlay) {
  const auto start = std::chrono::steady_clock::now();
  ORBIT_ASSIGN_OR_RETURN(vision::Segmentation seg, model.pipeline->Run(page, infer));
  const double segment_ms = MillisecondsSince(start);
  ORBIT_ASSIGN_OR_RETURN(cv::Mat labels16, vision::LabelsTo16Bit(seg.labels));

  nlohmann::json record = vision::SegmentationToJson(seg);
  const fs::path labels_path = out_dir / (stem + ".labels.png");
  ORBIT_RETURN_IF_ERROR(vision::WritePng(labels_path, labels16));
  record["outputs"]["labels"] = labels_path.string();
  if (write_overlay) {
    const fs::path overlay_path = out_dir / (stem + ".overlay.png");
    ORBIT_RETURN_IF_ERROR(vision::WritePng(overlay_path, vision::RenderOverlay(page, seg.labels)));
    record["outputs"]["overlay"] = overlay_path.string();
  }
  record["timing_ms"] = {{"segment", segment_ms}};
  const fs::path json_path = out_dir / (stem + ".json");
  record["outputs"]["json"] = json_path.string();
  ORBIT_RETURN_IF_ERROR(WriteFileAtomic(json_path, record.dump(2) + "\n"));
  return record;
}

void PrintTable(const std::vector<nlohmann::json>& records) {
  std::cout << std::left << std::setw(40) << "image" << std::right << std::setw(9) << "objects"
            << std::setw(13) << "confluence%" << std::setw(11) << "mean_area" << std::setw(10)
            << "ms"
            << "  status\n";
  for (const auto& r : records) {
    std::cout << std::left << std::setw(40) << r["image"].get<std::string>() << std::right;
    if (r.contains("error")) {
      std::cout << std::setw(9) << "-" << std::setw(13) << "-" << std::setw(11) << "-"
                << std::setw(10) << "-"
                << "  error: " << r["error"].get<std::string>() << "\n";
      continue;
    }
    const auto& s = r["summary"];
    std::cout << std::setw(9) << s["object_count"].get<int>() << std::fixed << std::setprecision(2)
              << std::setw(13) << s["confluence_percent"].get<double>() << std::setprecision(1)
              << std::setw(11) << s["mean_object_area"].get<double>() << std::setw(10)
              << r["timing_ms"]["segment"].get<double>() << "  ok\n";
  }
}

int RunPredict(const PredictFlags& flags) {
  auto options = ToEngineOptions(flags.engine);
  if (!options.ok()) {
    std::cerr << "error: " << options.status().message() << "\n";
    return kExitUsage;
  }
  auto model = repository::LoadModelPackage(flags.model, *options);
  if (!model.ok()) {
    std::cerr << "error: " << model.status().message() << "\n";
    return kExitUsage;
  }
  std::error_code ec;
  fs::create_directories(flags.out, ec);
  if (ec) {
    std::cerr << "error: cannot create output directory '" << flags.out << "': " << ec.message()
              << "\n";
    return kExitUsage;
  }
  const vision::InferFn infer = model->MakeInferFn();
  std::vector<nlohmann::json> records;
  std::set<std::string> used_stems;
  int failures = 0;
  for (const auto& image_arg : flags.images) {
    const fs::path image_path(image_arg);
    auto pages = vision::ReadImagePagesFile(image_path);
    if (!pages.ok()) {
      std::cerr << "error: " << pages.status().message() << "\n";
      records.push_back({{"image", image_arg}, {"error", pages.status().message()}});
      ++failures;
      continue;
    }
    for (std::size_t p = 0; p < pages->size(); ++p) {
      std::string stem = image_path.stem().string();
      if (pages->size() > 1) {
        std::ostringstream suffix;
        suffix << "_p" << std::setw(4) << std::setfill('0') << p;
        stem += suffix.str();
      }
      stem = UniqueStem(stem, used_stems);
      auto record = PredictPage(*model, infer, (*pages)[p], flags.out, stem, flags.overlay);
      if (!record.ok()) {
        const std::string message =
            "image '" + image_arg + "'" +
            (pages->size() > 1 ? " page " + std::to_string(p) : std::string()) + ": " +
            record.status().message();
        std::cerr << "error: " << message << "\n";
        records.push_back({{"image", image_arg}, {"page", p}, {"error", message}});
        ++failures;
        continue;
      }
      (*record)["image"] = image_arg;
      (*record)["page"] = p;
      records.push_back(std::move(*record));
    }
  }
  if (flags.format == "json") {
    nlohmann::json out = {{"model", model->recipe().name},
                          {"model_path", model->model_path.string()},
                          {"results", records},
                          {"failed", failures}};
    std::cout << out.dump(2) << "\n";
  } else {
    PrintTable(records);
    std::cout << "outputs in " << fs::path(flags.out).string() << "/ (" << records.size() - failures
              << " ok, " << failures << " failed)\n";
  }
  return failures == 0 ? kExitOk : kExitSomeFailed;
}

}  // namespace

CommandFn RegisterPredict(CLI::App& app) {
  auto flags = std::make_shared<PredictFlags>();
  app.add_option("--model", flags->model, "Model directory (orbit.yaml + model.onnx) or .onnx file")
      ->required();
  app.add_option("images", flags->images, "Images to segment (PNG, JPEG, TIFF, NPY)")->required();
  app.add_option("--out", flags->out, "Output directory")->capture_default_str();
  app.add_option("--format", flags->format, "Report on stdout: table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_flag("!--no-overlay", flags->overlay, "Skip the overlay PNG");
  AddEngineFlags(app, flags->engine);
  return [flags] { return RunPredict(*flags); };
}

}  // namespace orbit::cli
