// Micro-benchmarks of the pre/post-processing stages on a 1024 x 1024 synthetic cell image, so a
// regression in one stage shows up by name. Run: build/vision_ops_bench
#include <benchmark/benchmark.h>

#include <opencv2/imgproc.hpp>

#include "core/process.h"
#include "vision/image_io.h"
#include "vision/postprocess.h"
#include "vision/preprocess.h"

namespace {
using namespace orbit;

cv::Mat Cells(int size) {
  cv::RNG rng(7);
  cv::Mat image(size, size, CV_16U, cv::Scalar(300));
  for (int i = 0; i < size * size / 2500; ++i) {
    cv::ellipse(image, cv::Point(rng.uniform(0, size), rng.uniform(0, size)),
                cv::Size(rng.uniform(6, 16), rng.uniform(6, 16)), rng.uniform(0.0, 180.0), 0, 360,
                cv::Scalar(rng.uniform(1500, 3500)), cv::FILLED);
  }
  cv::GaussianBlur(image, image, cv::Size(0, 0), 1.5);
  return image;
}

const cv::Mat& Image() {
  static const cv::Mat image = Cells(1024);
  return image;
}

// Probability map that is high inside the cells (what a good model returns).
const cv::Mat& Probability() {
  static const cv::Mat probability = [] {
    cv::Mat p;
    Image().convertTo(p, CV_32F, 1.0 / 3000.0);
    return cv::Mat(cv::min(p, 1.0));
  }();
  return probability;
}

void BM_DecodePng16(benchmark::State& state) {
  const auto png = *vision::EncodePng(Image());
  for (auto _ : state) {
    benchmark::DoNotOptimize(vision::DecodeImage(std::as_bytes(std::span(png)), "bench"));
  }
}
BENCHMARK(BM_DecodePng16)->Unit(benchmark::kMillisecond);

void BM_PrepareInput(benchmark::State& state) {
  vision::PreprocessRecipe recipe;
  recipe.pad_to_multiple = 16;
  for (auto _ : state) benchmark::DoNotOptimize(vision::PrepareInput(Image(), recipe));
}
BENCHMARK(BM_PrepareInput)->Unit(benchmark::kMillisecond);

void BM_ThresholdCleanFill(benchmark::State& state) {
  for (auto _ : state) {
    cv::Mat mask = vision::FillHoles(
        vision::RemoveSmallObjects(vision::ThresholdMask(Probability(), 0.5), 15));
    benchmark::DoNotOptimize(mask.data);
  }
}
BENCHMARK(BM_ThresholdCleanFill)->Unit(benchmark::kMillisecond);

void BM_LabelWatershed(benchmark::State& state) {
  const cv::Mat mask = vision::ThresholdMask(Probability(), 0.5);
  for (auto _ : state) benchmark::DoNotOptimize(vision::LabelWatershed(mask, 5).data);
}
BENCHMARK(BM_LabelWatershed)->Unit(benchmark::kMillisecond);

void BM_MeasureObjects(benchmark::State& state) {
  const cv::Mat labels = vision::LabelWatershed(vision::ThresholdMask(Probability(), 0.5), 5);
  for (auto _ : state) benchmark::DoNotOptimize(vision::MeasureObjects(labels, Image()));
}
BENCHMARK(BM_MeasureObjects)->Unit(benchmark::kMillisecond);

void BM_SegmentFromProbability(benchmark::State& state) {
  vision::PostprocessRecipe recipe;
  recipe.min_object_area = 15;
  recipe.min_distance = 5;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        vision::SegmentFromProbability(Probability().clone(), Image(), recipe));
  }
}
BENCHMARK(BM_SegmentFromProbability)->Unit(benchmark::kMillisecond);

// The demo model's path: seeds from a second output channel (here: the eroded foreground).
void BM_SegmentFromProbabilitySeeded(benchmark::State& state) {
  vision::PostprocessRecipe recipe;
  recipe.min_object_area = 15;
  recipe.seed_channel = 1;
  recipe.seed_threshold = 0.7;
  recipe.min_seed_area = 8;
  cv::Mat seed;
  cv::erode(Probability(), seed, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(9, 9)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        vision::SegmentFromProbability(Probability().clone(), Image(), recipe, seed));
  }
}
BENCHMARK(BM_SegmentFromProbabilitySeeded)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  orbit::ConfigureAllocatorForLargeBuffers();  // as the orbit binary does
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
