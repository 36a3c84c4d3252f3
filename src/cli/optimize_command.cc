// `orbit optimize`: writes optimised variants of a model package — ONNX Runtime's offline-optimised
// FP32 graph, FP16, INT8 static QDQ calibrated on the model's own pre-processing — measures each
// against the FP32 parent (size, latency, throughput, accuracy on a labelled set), gates them, and
// names the fastest accepted one as recommended. Everything is written into a temporary folder
// beside --out and renamed at the end, so a failed run leaves nothing behind.
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <sstream>

#include <opencv2/imgproc.hpp>

#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "cli/image_files.h"
#include "core/file.h"
#include "optimize/calibration.h"
#include "optimize/calibration_inputs.h"
#include "optimize/fp16.h"
#include "optimize/gate.h"
#include "optimize/onnx_model.h"
#include "optimize/ort_offline.h"
#include "optimize/qdq.h"
#include "optimize/variant_report.h"
#include "repository/model_package.h"
#include "vision/image_io.h"
#include "vision/preprocess.h"

namespace orbit::cli {
namespace {
namespace fs = std::filesystem;
using optimize::VariantReport;

struct OptimizeFlags {
  std::string model;
  std::string out;
  bool fp16 = false;
  bool int8 = false;
  std::string calibration_images;
  std::string calibration_methods = "minmax";
  int calibration_tile = 512;
  int calibration_max_tiles = 4;
  bool per_channel = false;
  std::string exclude_nodes;
  std::string images;
  std::string masks;
  double max_accuracy_drop = 0.01;
  double min_speedup = 1.2;
  std::string bench_size = "512x512";
  std::string bench_batches = "1,8";
  double bench_seconds = 3;
  int bench_min_iterations = 5;
  int bench_warmup = 2;
  std::string ort_level = "basic";
  EngineFlags engine;
};

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream list(text);
  for (std::string item; std::getline(list, item, ',');) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

Result<std::vector<int>> ParseBatches(const std::string& text) {
  std::vector<int> out;
  for (const std::string& item : SplitList(text)) {
    try {
      std::size_t used = 0;
      const int b = std::stoi(item, &used);
      if (used != item.size() || b < 1 || b > 256) throw std::invalid_argument(item);
      out.push_back(b);
    } catch (const std::exception&) {
      return InvalidArgumentError("--bench-batch '" + text + "': '" + item +
                                  "' is not a batch size between 1 and 256");
    }
  }
  if (out.empty()) return InvalidArgumentError("--bench-batch needs at least one batch size");
  return out;
}

Result<cv::Size> ParseSize(const std::string& text) {
  int w = 0, h = 0;
  char x = 0, extra = 0;
  std::istringstream in(text);
  if (!(in >> w >> x >> h) || (x != 'x' && x != 'X') || (in >> extra) || w < 16 || h < 16 ||
      w > 8192 || h > 8192) {
    return InvalidArgumentError("--bench-size '" + text + "' is not WIDTHxHEIGHT (16..8192)");
  }
  return cv::Size(w, h);
}

// The .onnx file a package path names (a directory's model.onnx, or the file itself); other
// layouts (numbered versions) are left to LoadModelPackage.
fs::path ModelFileOf(const fs::path& path) {
  if (fs::is_regular_file(path)) return path;
  return path / "model.onnx";
}

// Optimising needs a float32 input: the FP16 edges, calibration and pre-processing all feed one.
Status CheckHasFloatInput(const onnx::ModelProto& model, const fs::path& path) {
  std::set<std::string> initializers;
  for (const auto& init : model.graph().initializer()) initializers.insert(init.name());
  std::string seen;
  for (const auto& input : model.graph().input()) {
    if (initializers.count(input.name()) != 0) continue;
    const int type = input.type().tensor_type().elem_type();
    if (input.type().has_tensor_type() && type == onnx::TensorProto::FLOAT) return Status::Ok();
    seen += (seen.empty() ? "" : ", ") + input.name() + " (" +
            onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(type)) + ")";
  }
  return InvalidArgumentError("model '" + path.string() +
                              "' has no float32 input (inputs: " + (seen.empty() ? "none" : seen) +
                              "); only float models can be optimised");
}

// The parent's orbit.yaml with `precision:` set (any previous top-level precision line removed).
std::string RecipeWithPrecision(const std::string& recipe_text, std::string_view precision) {
  std::string out;
  std::stringstream lines(recipe_text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("precision:", 0) == 0) continue;
    out += line + "\n";
  }
  return out + "precision: " + std::string(precision) + "\n";
}

// One variant on disk: <staging>/<name>/{model.onnx, orbit.yaml}.
Status WritePackage(const fs::path& dir, const onnx::ModelProto* model,
                    const std::string& recipe_text, std::string_view precision) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return InternalError("cannot create '" + dir.string() + "': " + ec.message());
  if (model != nullptr) ORBIT_RETURN_IF_ERROR(optimize::SaveOnnxModel(*model, dir / "model.onnx"));
  const std::string yaml = RecipeWithPrecision(recipe_text, precision);
  ORBIT_RETURN_IF_ERROR(vision::ParseModelRecipe(yaml, (dir / "orbit.yaml").string()).status());
  return WriteFileAtomic(dir / "orbit.yaml", yaml);
}

void WarnKeptFp32(const VariantReport& v) {
  if (v.kept_fp32.empty()) return;
  std::cerr << "warning: " << v.name << ": " << v.kept_fp32.size()
            << " node(s) left in FP32 (listed in report.md):";
  for (std::size_t i = 0; i < v.kept_fp32.size() && i < 8; ++i) {
    std::cerr << (i == 0 ? " " : ", ") << v.kept_fp32[i].node << " (" << v.kept_fp32[i].op_type
              << ": " << v.kept_fp32[i].reason << ")";
  }
  if (v.kept_fp32.size() > 8) std::cerr << ", ...";
  std::cerr << "\n";
}

// A transform's result as a variant entry (before measuring).
VariantReport FromTransform(const std::string& name, std::string_view precision,
                            const optimize::TransformResult& result) {
  VariantReport v;
  v.name = name;
  v.precision = std::string(precision);
  v.path = name;
  v.converted_nodes = result.converted_nodes.size();
  v.kept_fp32 = result.kept_fp32;
  return v;
}

// Builds every variant into `staging`, measures and gates them; returns the report (written by
// the caller). Any error aborts the run.
Result<optimize::OptimizeReport> Optimize(const OptimizeFlags& flags, const fs::path& staging) {
  ORBIT_ASSIGN_OR_RETURN(const runtime::EngineOptions engine_options,
                         ToEngineOptions(flags.engine));
  ORBIT_ASSIGN_OR_RETURN(const std::vector<int> batches, ParseBatches(flags.bench_batches));
  ORBIT_ASSIGN_OR_RETURN(const cv::Size bench_size, ParseSize(flags.bench_size));
  ORBIT_ASSIGN_OR_RETURN(const runtime::GraphOptimization ort_level,
                         optimize::ParseOrtOfflineLevel(flags.ort_level));
  const optimize::GateOptions gate{flags.max_accuracy_drop, flags.min_speedup};
  ORBIT_RETURN_IF_ERROR(optimize::ValidateGateOptions(gate));
  std::vector<optimize::CalibrationMethod> methods;
  if (flags.int8) {
    if (flags.calibration_images.empty()) {
      return InvalidArgumentError("--int8 needs --calibration-images DIR");
    }
    for (const std::string& name : SplitList(flags.calibration_methods)) {
      ORBIT_ASSIGN_OR_RETURN(const auto method, optimize::ParseCalibrationMethod(name));
      methods.push_back(method);
    }
    if (methods.empty()) return InvalidArgumentError("--calibration-method is empty");
  } else if (!flags.calibration_images.empty()) {
    return InvalidArgumentError("--calibration-images only applies with --int8");
  }
  std::set<std::string> exclude;
  for (const std::string& node : SplitList(flags.exclude_nodes)) exclude.insert(node);

  // Labelled set, paired by stem like `orbit evaluate`.
  ORBIT_ASSIGN_OR_RETURN(const std::vector<fs::path> eval_images, ListImageFiles(flags.images));
  if (eval_images.empty()) {
    return InvalidArgumentError("--images: no image files in '" + flags.images + "'");
  }
  std::vector<optimize::LabelledImage> labelled;
  for (const fs::path& image : eval_images) {
    auto mask = FindByStem(flags.masks, image);
    if (!mask.ok()) return mask.status().WithContext("--masks");
    labelled.push_back({image, *mask});
  }

  // The parent: a float model with an orbit.yaml.
  const fs::path parent_file = ModelFileOf(flags.model);
  if (fs::is_regular_file(parent_file)) {
    ORBIT_ASSIGN_OR_RETURN(const onnx::ModelProto proto, optimize::LoadOnnxModel(parent_file));
    ORBIT_RETURN_IF_ERROR(CheckHasFloatInput(proto, parent_file));
  }
  ORBIT_ASSIGN_OR_RETURN(repository::ModelPackage parent,
                         repository::LoadModelPackage(flags.model, engine_options));
  if (parent.recipe_path.empty()) {
    return InvalidArgumentError("model '" + flags.model +
                                "' has no orbit.yaml: optimise a model package (the variants "
                                "copy its recipe)");
  }
  ORBIT_ASSIGN_OR_RETURN(const onnx::ModelProto parent_proto,
                         optimize::LoadOnnxModel(parent.model_path));
  ORBIT_RETURN_IF_ERROR(CheckHasFloatInput(parent_proto, parent.model_path));
  ORBIT_ASSIGN_OR_RETURN(const std::string recipe_text, ReadFileBytes(parent.recipe_path, 1 << 20));
  const vision::ModelRecipe& recipe = parent.recipe();

  // Calibration inputs first: bad calibration data fails before any slow work.
  std::vector<Tensor> calibration;
  std::size_t calibration_images = 0;
  if (flags.int8) {
    ORBIT_ASSIGN_OR_RETURN(const std::vector<fs::path> files,
                           ListImageFiles(flags.calibration_images));
    if (files.empty()) {
      return InvalidArgumentError("--calibration-images: no image files in '" +
                                  flags.calibration_images +
                                  "': INT8 calibration needs at least one image");
    }
    calibration_images = files.size();
    auto inputs = optimize::PrepareCalibrationInputs(
        files, recipe.preprocess, {flags.calibration_tile, flags.calibration_max_tiles});
    if (!inputs.ok()) return inputs.status().WithContext("--calibration-images");
    calibration = std::move(*inputs);
  }

  std::vector<VariantReport> variants;
  // 1. ONNX Runtime's offline-optimised FP32 graph: the base of the other transforms.
  const std::string optimized_name = "fp32-optimized";
  ORBIT_RETURN_IF_ERROR(WritePackage(staging / optimized_name, nullptr, recipe_text, "fp32"));
  optimize::OrtOfflineOptions ort_options;
  ort_options.level = ort_level;
  ort_options.provider = engine_options.execution_providers.front();
  ORBIT_RETURN_IF_ERROR(optimize::WriteOrtOptimizedModel(
      parent.model_path, staging / optimized_name / "model.onnx", ort_options));
  ORBIT_ASSIGN_OR_RETURN(const onnx::ModelProto base,
                         optimize::LoadOnnxModel(staging / optimized_name / "model.onnx"));
  ORBIT_RETURN_IF_ERROR(optimize::CheckOnnxModel(base).WithContext(
      "ONNX Runtime's optimised model ('" + flags.ort_level + "')"));
  {
    VariantReport v;
    v.name = optimized_name;
    v.precision = "fp32";
    v.path = optimized_name;
    v.notes.push_back("ONNX Runtime offline graph optimisation, level " + flags.ort_level +
                      ", provider " + ort_options.provider);
    variants.push_back(std::move(v));
  }

  // 2. FP16.
  if (flags.fp16) {
    optimize::Fp16Options options;
    options.exclude_nodes = exclude;
    ORBIT_ASSIGN_OR_RETURN(optimize::TransformResult result,
                           optimize::ConvertToFp16(base, options));
    ORBIT_RETURN_IF_ERROR(WritePackage(staging / "fp16", &result.model, recipe_text, "fp16"));
    VariantReport v = FromTransform("fp16", "fp16", result);
    v.notes.push_back("FP16 weights and compute, FP32 graph inputs/outputs (Casts at the edges)");
    WarnKeptFp32(v);
    variants.push_back(std::move(v));
  }

  // 3. INT8 static QDQ, one variant per calibration method.
  if (flags.int8) {
    optimize::QuantizeOptions qopts;
    qopts.per_channel = flags.per_channel;
    qopts.exclude_nodes = exclude;
    ORBIT_ASSIGN_OR_RETURN(const std::vector<std::string> tensors,
                           optimize::ActivationsToCalibrate(base, qopts));
    for (const optimize::CalibrationMethod method : methods) {
      const std::string method_name(optimize::CalibrationMethodName(method));
      const std::string name = methods.size() == 1 ? "int8" : "int8-" + method_name;
      optimize::CalibrationOptions copts;
      copts.method = method;
      ORBIT_ASSIGN_OR_RETURN(const optimize::RangeTable ranges,
                             optimize::Calibrate(base, calibration, tensors, copts));
      ORBIT_ASSIGN_OR_RETURN(optimize::TransformResult result,
                             optimize::QuantizeQdq(base, ranges, qopts));
      ORBIT_RETURN_IF_ERROR(WritePackage(staging / name, &result.model, recipe_text, "int8"));
      VariantReport v = FromTransform(name, "int8", result);
      v.notes.push_back(
          "INT8 static QDQ, " + std::string(flags.per_channel ? "per-channel" : "per-tensor") +
          " weights, activations calibrated with " + method_name + " on " +
          std::to_string(calibration_images) + " image(s) (" + std::to_string(calibration.size()) +
          " input(s), " + std::to_string(ranges.size()) + " tensor ranges)");
      WarnKeptFp32(v);
      variants.push_back(std::move(v));
    }
  }

  // Load every variant as a model package (the check that serving/evaluate can load it).
  std::vector<repository::ModelPackage> packages;
  for (VariantReport& v : variants) {
    auto package = repository::LoadModelPackage(staging / v.path, engine_options);
    if (!package.ok()) return package.status().WithContext("variant '" + v.name + "'");
    ORBIT_ASSIGN_OR_RETURN(const onnx::ModelProto proto,
                           optimize::LoadOnnxModel(package->model_path));
    v.parameters = optimize::CountParameters(proto);
    v.file_bytes = static_cast<std::int64_t>(fs::file_size(package->model_path));
    packages.push_back(std::move(*package));
  }

  optimize::OptimizeReport report;
  report.model_name = recipe.name;
  report.source_model = parent.model_path.string();
  for (const auto& p : parent.engine->active_providers()) {
    report.providers += (report.providers.empty() ? "" : ",") + p;
  }
  report.intra_op_threads = engine_options.intra_op_threads;
  report.bench_size = flags.bench_size;
  report.labelled_images = labelled.size();
  report.calibration_images = calibration_images;
  report.calibration_inputs = calibration.size();
  report.gate = gate;
  report.reference.name = "fp32";
  report.reference.precision = std::string(vision::PrecisionName(recipe.precision));
  report.reference.path = parent.model_path.string();
  report.reference.file_bytes = static_cast<std::int64_t>(fs::file_size(parent.model_path));
  report.reference.parameters = optimize::CountParameters(parent_proto);

  // Accuracy: every model's full pipeline on the labelled set, the parent as reference.
  std::vector<const repository::ModelPackage*> all = {&parent};
  for (const auto& p : packages) all.push_back(&p);
  std::cerr << "measuring accuracy on " << labelled.size() << " labelled image(s)...\n";
  ORBIT_ASSIGN_OR_RETURN(const std::vector<optimize::AccuracyResult> accuracy,
                         optimize::MeasureAccuracy(all, labelled));

  // Speed: a labelled image resized to the bench size, pre-processed like production.
  ORBIT_ASSIGN_OR_RETURN(const cv::Mat first, vision::ReadImageFile(labelled.front().image));
  cv::Mat resized;
  cv::resize(first, resized, bench_size, 0, 0, cv::INTER_LINEAR);
  ORBIT_ASSIGN_OR_RETURN(vision::PreparedInput sample,
                         vision::PrepareInput(resized, recipe.preprocess));
  std::vector<const runtime::Engine*> engines;
  for (const auto* p : all) engines.push_back(p->engine.get());
  optimize::SpeedOptions speed;
  speed.batches = batches;
  speed.seconds = flags.bench_seconds;
  speed.min_iterations = flags.bench_min_iterations;
  speed.warmup = flags.bench_warmup;
  std::cerr << "timing " << engines.size() << " model(s), interleaved...\n";
  ORBIT_ASSIGN_OR_RETURN(const auto latency,
                         optimize::MeasureSpeedInterleaved(engines, sample.tensor, speed));

  report.reference.accuracy = accuracy[0];
  report.reference.latency = latency[0];
  std::vector<optimize::GateDecision> decisions;
  for (std::size_t i = 0; i < variants.size(); ++i) {
    VariantReport& v = variants[i];
    v.accuracy = accuracy[i + 1];
    v.latency = latency[i + 1];
    v.speedup = optimize::Speedups(report.reference.latency, v.latency);
    v.gate = optimize::ApplyGate(
        {v.name, report.reference.accuracy.metrics.iou, v.accuracy.metrics.iou, v.speedup}, gate);
    decisions.push_back(*v.gate);
  }
  report.variants = std::move(variants);
  report.recommended = optimize::RecommendVariant(decisions);
  return report;
}

int RunOptimize(const OptimizeFlags& flags) {
  fs::path out = fs::absolute(flags.out).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();
  std::error_code ec;
  if (fs::exists(out, ec) && !(fs::is_directory(out) && fs::is_empty(out))) {
    std::cerr << "error: --out '" << flags.out
              << "' already exists; remove it or choose another folder\n";
    return kExitUsage;
  }
  if (!fs::is_directory(out.parent_path())) {
    std::cerr << "error: --out '" << flags.out << "': parent folder '" << out.parent_path().string()
              << "' does not exist\n";
    return kExitUsage;
  }
  const fs::path staging =
      out.parent_path() / ("." + out.filename().string() + ".partial-" + std::to_string(getpid()));
  fs::remove_all(staging, ec);
  auto report = Optimize(flags, staging);
  auto fail = [&](const Status& s) {
    fs::remove_all(staging, ec);
    std::cerr << "error: " << s.message() << "\n";
    std::cerr << "nothing written to '" << flags.out << "'\n";
    return kExitUsage;
  };
  if (!report.ok()) return fail(report.status());
  const std::string markdown = optimize::ReportToMarkdown(*report);
  if (Status s =
          WriteFileAtomic(staging / "report.json", optimize::ReportToJson(*report).dump(2) + "\n");
      !s.ok()) {
    return fail(s);
  }
  if (Status s = WriteFileAtomic(staging / "report.md", markdown); !s.ok()) return fail(s);
  if (report->recommended) {
    // Relative, so it survives the rename and a move of the whole folder.
    fs::create_directory_symlink(*report->recommended, staging / "recommended", ec);
    if (ec) return fail(InternalError("cannot link 'recommended': " + ec.message()));
  }
  if (fs::exists(out)) fs::remove(out, ec);  // an empty folder, checked above
  fs::rename(staging, out, ec);
  if (ec) {
    return fail(
        InternalError("cannot move the results to '" + out.string() + "': " + ec.message()));
  }
  std::cout << markdown;
  std::cout << "\nwritten: " << out.string() << "/{report.json,report.md";
  for (const auto& v : report->variants) std::cout << "," << v.name << "/";
  std::cout << (report->recommended ? ",recommended" : "") << "}\n";
  if (!report->recommended) {
    std::cerr << "error: no variant passed the gate (see " << (out / "report.md").string() << ")\n";
    return kExitSomeFailed;
  }
  return kExitOk;
}

}  // namespace

CommandFn RegisterOptimize(CLI::App& app) {
  auto flags = std::make_shared<OptimizeFlags>();
  app.add_option("--model", flags->model, "Model package directory (orbit.yaml + model.onnx)")
      ->required();
  app.add_option("--out", flags->out,
                 "Output folder (must not exist): one model package per variant + reports")
      ->required();
  app.add_flag("--fp16", flags->fp16, "Write an FP16 variant");
  app.add_flag("--int8", flags->int8, "Write INT8 static QDQ variant(s); needs calibration images");
  app.add_option("--calibration-images", flags->calibration_images,
                 "Folder of representative images for INT8 calibration (all must decode)");
  app.add_option("--calibration-method", flags->calibration_methods,
                 "minmax, percentile or entropy; a comma-separated list writes one variant each")
      ->capture_default_str();
  app.add_option("--calibration-tile", flags->calibration_tile,
                 "Calibration images larger than this are cut into tiles of this edge")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--calibration-max-tiles", flags->calibration_max_tiles,
                 "At most this many tiles per calibration image")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--per-channel", flags->per_channel, "INT8 weights per output channel");
  app.add_option("--exclude-nodes", flags->exclude_nodes,
                 "Node names kept in FP32, comma-separated");
  app.add_option("--images", flags->images, "Labelled set: folder of images for accuracy")
      ->required();
  app.add_option("--masks", flags->masks,
                 "Labelled set: ground-truth instance masks (same file stems as the images)")
      ->required();
  app.add_option("--max-accuracy-drop", flags->max_accuracy_drop,
                 "Gate: largest accepted IoU drop against FP32 (absolute)")
      ->capture_default_str();
  app.add_option(
         "--min-speedup", flags->min_speedup,
         "Gate: smallest accepted speedup over FP32 (median latency ratio), at every batch size")
      ->capture_default_str();
  app.add_option("--bench-size", flags->bench_size, "WIDTHxHEIGHT of the timing input")
      ->capture_default_str();
  app.add_option("--bench-batch", flags->bench_batches, "Batch sizes to time, comma-separated")
      ->capture_default_str();
  app.add_option("--bench-seconds", flags->bench_seconds,
                 "Minimum timing per batch size (all models interleaved)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--bench-min-iterations", flags->bench_min_iterations,
                 "Minimum timed runs per model and batch size")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--bench-warmup", flags->bench_warmup, "Untimed runs per model and batch size")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--ort-level", flags->ort_level,
                 "ONNX Runtime offline optimisation: basic (portable ONNX ops) or extended")
      ->capture_default_str();
  AddEngineFlags(app, flags->engine);
  return [flags] { return RunOptimize(*flags); };
}

}  // namespace orbit::cli
