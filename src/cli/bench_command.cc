// `orbit bench`: latency percentiles and throughput per batch size, for the model alone (the raw
// ONNX Runtime limit) and for the whole pipeline (decode + pre-process + model + post-process),
// with the time of each stage, so the cost Orbit adds around the model is visible.
#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "repository/model_package.h"
#include "vision/image_io.h"
#include "vision/postprocess.h"
#include "vision/preprocess.h"

namespace orbit::cli {
namespace {
using Clock = std::chrono::steady_clock;

struct BenchFlags {
  std::string model;
  std::string batches = "1,4,8";
  std::string image_size = "512x512";
  std::string image;
  double seconds = 5;
  int min_iterations = 3;
  int warmup = 1;
  std::string format = "table";
  std::string save_image;
  EngineFlags engine;
};

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct LatencyStats {
  double p50 = 0, p90 = 0, p99 = 0, mean = 0;
  int samples = 0;
};

LatencyStats Summarize(std::vector<double> samples) {
  LatencyStats s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  auto rank = [&](double q) {  // nearest-rank percentile
    const auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
    return samples[std::min(samples.size() - 1, i == 0 ? 0 : i - 1)];
  };
  s.p50 = rank(0.50);
  s.p90 = rank(0.90);
  s.p99 = rank(0.99);
  s.mean =
      std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  s.samples = static_cast<int>(samples.size());
  return s;
}

nlohmann::json StatsToJson(const LatencyStats& s, int batch) {
  return {
      {"p50_ms", s.p50},         {"p90_ms", s.p90},
      {"p99_ms", s.p99},         {"mean_ms", s.mean},
      {"iterations", s.samples}, {"images_per_second", s.mean > 0 ? 1000.0 * batch / s.mean : 0.0}};
}

// A deterministic fluorescence-like test image: bright textured ellipses on a dim, uneven
// background with noise — the statistics post-processing sees on real data.
cv::Mat SyntheticCells(int width, int height) {
  cv::RNG rng(1234);
  cv::Mat image(height, width, CV_32F, cv::Scalar(300));
  const int cells = std::max(1, width * height / 2500);
  for (int i = 0; i < cells; ++i) {
    const cv::Point center(rng.uniform(0, width), rng.uniform(0, height));
    const cv::Size axes(rng.uniform(6, 16), rng.uniform(6, 16));
    cv::ellipse(image, center, axes, rng.uniform(0.0, 180.0), 0, 360,
                cv::Scalar(rng.uniform(1500.0, 3500.0)), cv::FILLED);
  }
  cv::GaussianBlur(image, image, cv::Size(0, 0), 1.5);
  cv::Mat noise(height, width, CV_32F);
  rng.fill(noise, cv::RNG::NORMAL, 0, 60);
  image += noise;
  cv::Mat out;
  image.convertTo(out, CV_16U);
  return out;
}

Result<std::vector<int>> ParseBatches(const std::string& text) {
  std::vector<int> out;
  std::stringstream list(text);
  for (std::string item; std::getline(list, item, ',');) {
    try {
      std::size_t used = 0;
      const int b = std::stoi(item, &used);
      if (used != item.size() || b < 1 || b > 1024) throw std::invalid_argument(item);
      out.push_back(b);
    } catch (const std::exception&) {
      return InvalidArgumentError("--batch '" + text + "': '" + item +
                                  "' is not a batch size between 1 and 1024");
    }
  }
  if (out.empty()) return InvalidArgumentError("--batch needs at least one batch size");
  return out;
}

Result<cv::Size> ParseSize(const std::string& text) {
  int w = 0, h = 0;
  char x = 0, extra = 0;
  std::istringstream in(text);
  if (!(in >> w >> x >> h) || (x != 'x' && x != 'X') || (in >> extra) || w < 1 || h < 1 ||
      w > 16384 || h > 16384) {
    return InvalidArgumentError("--image-size '" + text + "' is not WIDTHxHEIGHT (1..16384)");
  }
  return cv::Size(w, h);
}

// Times one batch size: model alone, then the full pipeline with per-stage times.
Result<nlohmann::json> BenchBatch(const repository::ModelPackage& model, const std::string& png,
                                  int batch, const BenchFlags& flags) {
  const auto& recipe = model.recipe();
  const auto bytes = std::as_bytes(std::span(png.data(), png.size()));

  // Build the model input once for the model-only loop.
  ORBIT_ASSIGN_OR_RETURN(const cv::Mat decoded, vision::DecodeImage(bytes, "bench"));
  std::vector<Tensor> items;
  int width = 0, height = 0;
  for (int i = 0; i < batch; ++i) {
    ORBIT_ASSIGN_OR_RETURN(vision::PreparedInput prepared,
                           vision::PrepareInput(decoded, recipe.preprocess));
    width = prepared.width;
    height = prepared.height;
    items.push_back(std::move(prepared.tensor));
  }
  std::vector<Tensor> inputs;
  ORBIT_ASSIGN_OR_RETURN(Tensor batch_tensor, ConcatBatch(items));
  inputs.push_back(std::move(batch_tensor));

  auto keep_going = [&](Clock::time_point start, int done) {
    return done < flags.min_iterations ||
           std::chrono::duration<double>(Clock::now() - start).count() < flags.seconds;
  };

  for (int i = 0; i < flags.warmup; ++i) {
    ORBIT_RETURN_IF_ERROR(model.engine->Run(inputs).status());
  }
  std::vector<double> model_only;
  for (auto start = Clock::now(); keep_going(start, static_cast<int>(model_only.size()));) {
    const auto t0 = Clock::now();
    ORBIT_RETURN_IF_ERROR(model.engine->Run(inputs).status());
    model_only.push_back(Ms(t0, Clock::now()));
  }

  std::vector<double> total, decode, pre, infer, post;
  std::size_t objects = 0;
  for (auto start = Clock::now(); keep_going(start, static_cast<int>(total.size()));) {
    const auto t0 = Clock::now();
    std::vector<cv::Mat> images;
    for (int i = 0; i < batch; ++i) {
      ORBIT_ASSIGN_OR_RETURN(cv::Mat image, vision::DecodeImage(bytes, "bench"));
      images.push_back(std::move(image));
    }
    const auto t1 = Clock::now();
    std::vector<Tensor> prepared_items;
    for (const auto& image : images) {
      ORBIT_ASSIGN_OR_RETURN(vision::PreparedInput prepared,
                             vision::PrepareInput(image, recipe.preprocess));
      prepared_items.push_back(std::move(prepared.tensor));
    }
    std::vector<Tensor> batch_inputs;
    ORBIT_ASSIGN_OR_RETURN(Tensor stacked, ConcatBatch(prepared_items));
    batch_inputs.push_back(std::move(stacked));
    const auto t2 = Clock::now();
    ORBIT_ASSIGN_OR_RETURN(std::vector<Tensor> outputs, model.engine->Run(batch_inputs));
    const auto t3 = Clock::now();
    objects = 0;
    for (int i = 0; i < batch; ++i) {
      ORBIT_ASSIGN_OR_RETURN(cv::Mat probability,
                             vision::ForegroundProbability(outputs.front(), i, recipe.postprocess));
      cv::Mat cropped = probability(cv::Rect(0, 0, width, height)).clone();
      cv::Mat seed;
      if (recipe.postprocess.seed_channel) {
        ORBIT_ASSIGN_OR_RETURN(seed,
                               vision::SeedProbability(outputs.front(), i, recipe.postprocess));
        seed = seed(cv::Rect(0, 0, width, height)).clone();
      }
      ORBIT_ASSIGN_OR_RETURN(
          vision::Segmentation seg,
          vision::SegmentFromProbability(std::move(cropped), images[static_cast<std::size_t>(i)],
                                         recipe.postprocess, seed));
      objects += seg.objects.size();
    }
    const auto t4 = Clock::now();
    decode.push_back(Ms(t0, t1));
    pre.push_back(Ms(t1, t2));
    infer.push_back(Ms(t2, t3));
    post.push_back(Ms(t3, t4));
    total.push_back(Ms(t0, t4));
  }
  const LatencyStats model_stats = Summarize(model_only);
  const LatencyStats total_stats = Summarize(total);
  const double pre_mean = Summarize(pre).mean, post_mean = Summarize(post).mean;
  const double infer_mean = Summarize(infer).mean, decode_mean = Summarize(decode).mean;
  return nlohmann::json{
      {"batch", batch},
      {"model_only", StatsToJson(model_stats, batch)},
      {"pipeline", StatsToJson(total_stats, batch)},
      {"stage_mean_ms",
       {{"decode", decode_mean},
        {"preprocess", pre_mean},
        {"model", infer_mean},
        {"postprocess", post_mean}}},
      {"pre_post_over_model", infer_mean > 0 ? (pre_mean + post_mean) / infer_mean : 0.0},
      {"objects_per_image", static_cast<double>(objects) / batch}};
}

void PrintTable(const nlohmann::json& report) {
  std::cout << "model " << report["model"].get<std::string>() << ", image "
            << report["image_size"].get<std::string>() << ", threads "
            << report["intra_op_threads"].get<int>() << ", providers " << report["providers"].dump()
            << "\n";
  std::cout << std::setw(6) << "batch" << std::setw(10) << "mode" << std::setw(10) << "p50 ms"
            << std::setw(10) << "p90 ms" << std::setw(10) << "p99 ms" << std::setw(10) << "img/s"
            << std::setw(10) << "decode" << std::setw(10) << "pre" << std::setw(10) << "model"
            << std::setw(10) << "post" << std::setw(12) << "pre+post %"
            << "\n";
  std::cout << std::fixed << std::setprecision(2);
  for (const auto& r : report["results"]) {
    for (const char* mode : {"model_only", "pipeline"}) {
      const auto& s = r[mode];
      std::cout << std::setw(6) << r["batch"].get<int>() << std::setw(10)
                << (std::string(mode) == "model_only" ? "model" : "pipeline") << std::setw(10)
                << s["p50_ms"].get<double>() << std::setw(10) << s["p90_ms"].get<double>()
                << std::setw(10) << s["p99_ms"].get<double>() << std::setw(10)
                << s["images_per_second"].get<double>();
      if (std::string(mode) == "pipeline") {
        const auto& st = r["stage_mean_ms"];
        std::cout << std::setw(10) << st["decode"].get<double>() << std::setw(10)
                  << st["preprocess"].get<double>() << std::setw(10) << st["model"].get<double>()
                  << std::setw(10) << st["postprocess"].get<double>() << std::setw(11)
                  << 100.0 * r["pre_post_over_model"].get<double>() << "%";
      }
      std::cout << "\n";
    }
  }
}

int RunBench(const BenchFlags& flags) {
  auto options = ToEngineOptions(flags.engine);
  auto batches = ParseBatches(flags.batches);
  auto size = ParseSize(flags.image_size);
  for (const Status& s : {options.status(), batches.status(), size.status()}) {
    if (!s.ok()) {
      std::cerr << "error: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  auto model = repository::LoadModelPackage(flags.model, *options);
  if (!model.ok()) {
    std::cerr << "error: " << model.status().message() << "\n";
    return kExitUsage;
  }
  cv::Mat image;
  if (flags.image.empty()) {
    image = SyntheticCells(size->width, size->height);
  } else {
    auto read = vision::ReadImageFile(flags.image);
    if (!read.ok()) {
      std::cerr << "error: " << read.status().message() << "\n";
      return kExitUsage;
    }
    cv::resize(*read, image, *size, 0, 0, cv::INTER_LINEAR);
  }
  auto png = vision::EncodePng(image);
  if (!png.ok()) {
    std::cerr << "error: " << png.status().message() << "\n";
    return kExitUsage;
  }
  if (!flags.save_image.empty()) {
    if (Status s = vision::WritePng(flags.save_image, image); !s.ok()) {
      std::cerr << "error: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  nlohmann::json report = {{"model", model->recipe().name},
                           {"image_size", flags.image_size},
                           {"image", flags.image.empty() ? "synthetic" : flags.image},
                           {"intra_op_threads", flags.engine.intra_op_threads},
                           {"providers", model->engine->active_providers()},
                           {"results", nlohmann::json::array()}};
  for (const int batch : *batches) {
    auto result = BenchBatch(*model, *png, batch, flags);
    if (!result.ok()) {
      std::cerr << "error: batch " << batch << ": " << result.status().message() << "\n";
      return kExitSomeFailed;
    }
    report["results"].push_back(std::move(*result));
  }
  if (flags.format == "json") {
    std::cout << report.dump(2) << "\n";
  } else {
    PrintTable(report);
  }
  return kExitOk;
}

}  // namespace

CommandFn RegisterBench(CLI::App& app) {
  auto flags = std::make_shared<BenchFlags>();
  app.add_option("--model", flags->model, "Model directory or .onnx file")->required();
  app.add_option("--batch", flags->batches, "Batch sizes, comma-separated")->capture_default_str();
  app.add_option("--image-size", flags->image_size, "WIDTHxHEIGHT of the test image")
      ->capture_default_str();
  app.add_option("--image", flags->image,
                 "Image to use (resized to --image-size); default: synthetic cells");
  app.add_option("--seconds", flags->seconds, "Minimum measuring time per batch size and mode")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--min-iterations", flags->min_iterations, "Minimum timed iterations")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", flags->warmup, "Untimed runs before measuring")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--format", flags->format, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_option("--save-image", flags->save_image,
                 "Write the test image as PNG (to run other implementations on the same input)");
  AddEngineFlags(app, flags->engine);
  return [flags] { return RunBench(*flags); };
}

}  // namespace orbit::cli
