#include "vision/pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "vision/preprocess.h"
#include "vision/tiling.h"

namespace orbit::vision {
namespace {

ModelRecipe TestRecipe(int tile = 256, int overlap = 32, int pad = 16) {
  ModelRecipe recipe;
  recipe.name = "fake";
  recipe.preprocess.color = ColorMode::kGray;
  recipe.preprocess.pad_to_multiple = pad;
  recipe.preprocess.normalize = NormalizeMethod::kPercentile;
  recipe.postprocess.activation = Activation::kSigmoid;
  recipe.postprocess.threshold = 0.5;
  recipe.postprocess.min_object_area = 0;
  recipe.postprocess.fill_holes = false;
  recipe.postprocess.instances = InstanceMethod::kConnectedComponents;
  recipe.tile = {tile, overlap};
  return recipe;
}

// A [1, 1, H, W] FP32 output with value f(input channel 0 at (x, y), x, y, H, W) per pixel.
using PixelFn = std::function<float(float value, int x, int y, int height, int width)>;

InferFn FakeModel(PixelFn f, std::vector<Shape>* seen_inputs = nullptr) {
  return [f = std::move(f), seen_inputs](Tensor input) -> Result<Tensor> {
    if (seen_inputs != nullptr) seen_inputs->push_back(input.shape());
    const Shape& shape = input.shape();
    const int height = static_cast<int>(shape[2]), width = static_cast<int>(shape[3]);
    ORBIT_ASSIGN_OR_RETURN(Tensor output, Tensor::Zeros(DType::kFloat32, {1, 1, height, width}));
    const auto in = input.data<float>();
    auto out = output.data<float>();
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        out[y * width + x] = f(in[y * width + x], x, y, height, width);
      }
    }
    return output;
  };
}

// logits = normalised pixel * 10 - 5: a model without any spatial context.
InferFn PointwiseModel(std::vector<Shape>* seen_inputs = nullptr) {
  return FakeModel([](float v, int, int, int, int) { return v * 10 - 5; }, seen_inputs);
}

// A [1, 2, H, W] FP32 output: channel 0 = foreground(...), channel 1 = seed(...).
InferFn TwoChannelModel(PixelFn foreground, PixelFn seed,
                        std::vector<Shape>* seen_inputs = nullptr) {
  return [foreground = std::move(foreground), seed = std::move(seed),
          seen_inputs](Tensor input) -> Result<Tensor> {
    if (seen_inputs != nullptr) seen_inputs->push_back(input.shape());
    const Shape& shape = input.shape();
    const int height = static_cast<int>(shape[2]), width = static_cast<int>(shape[3]);
    ORBIT_ASSIGN_OR_RETURN(Tensor output, Tensor::Zeros(DType::kFloat32, {1, 2, height, width}));
    const auto in = input.data<float>();
    auto out = output.data<float>();
    const std::size_t plane = static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        const std::size_t i = static_cast<std::size_t>(y) * static_cast<std::size_t>(width) +
                              static_cast<std::size_t>(x);
        out[i] = foreground(in[i], x, y, height, width);
        out[plane + i] = seed(in[i], x, y, height, width);
      }
    }
    return output;
  };
}

ModelRecipe SeededRecipe(int tile = 256, int overlap = 32) {
  ModelRecipe recipe = TestRecipe(tile, overlap);
  recipe.postprocess.instances = InstanceMethod::kWatershed;
  recipe.postprocess.seed_channel = 1;
  return recipe;
}

cv::Mat TextureImage(int width, int height) {
  cv::Mat image(height, width, CV_16UC1);
  cv::RNG rng(1234);
  rng.fill(image, cv::RNG::UNIFORM, 0, 4096);
  cv::GaussianBlur(image, image, cv::Size(0, 0), 3);
  return image;
}

bool BitwiseEqual(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != b.type()) return false;
  for (int y = 0; y < a.rows; ++y) {
    if (std::memcmp(a.ptr(y), b.ptr(y), a.cols * a.elemSize()) != 0) return false;
  }
  return true;
}

// ---- tile layout

TEST(TileSpansTest, WholeAxisWhenNotLongerThanATile) {
  const auto spans = TileSpans(200, 256, 32);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].begin, 0);
  EXPECT_EQ(spans[0].extent, 200);
  EXPECT_EQ(spans[0].own_begin, 0);
  EXPECT_EQ(spans[0].own_end, 200);
}

TEST(TileSpansTest, StrideIsTileMinusOverlapAndTheLastTileIsAlignedToTheEnd) {
  // 1100 px, tile 256, overlap 32: stride 224 -> begins 0, 224, 448, 672, then 1100 - 256 = 844.
  const auto spans = TileSpans(1100, 256, 32);
  std::vector<int> begins;
  for (const auto& s : spans) begins.push_back(s.begin);
  EXPECT_EQ(begins, (std::vector<int>{0, 224, 448, 672, 844}));
  // Cuts at the midpoints of the shared ranges: (224 + 256) / 2 = 240, ..., (844 + 928) / 2.
  EXPECT_EQ(spans[0].own_end, 240);
  EXPECT_EQ(spans[1].own_end, 464);
  EXPECT_EQ(spans[2].own_end, 688);
  EXPECT_EQ(spans[3].own_end, 886);
  EXPECT_EQ(spans[4].own_end, 1100);
}

TEST(TileSpansTest, OwnedRangesPartitionTheAxisAndStayInsideTheirTiles) {
  for (int length : {1, 2, 255, 256, 257, 480, 481, 700, 1100, 4097}) {
    for (const auto& [tile, overlap] : {std::pair{256, 32}, std::pair{64, 0}, std::pair{16, 7}}) {
      const auto spans = TileSpans(length, tile, overlap);
      ASSERT_FALSE(spans.empty());
      int next = 0;
      for (const auto& s : spans) {
        EXPECT_EQ(s.own_begin, next) << length << "/" << tile;
        EXPECT_LT(s.own_begin, s.own_end) << length << "/" << tile;
        EXPECT_GE(s.own_begin, s.begin);
        EXPECT_LE(s.own_end, s.begin + s.extent);
        EXPECT_GE(s.begin, 0);
        EXPECT_LE(s.begin + s.extent, length);
        next = s.own_end;
      }
      EXPECT_EQ(next, length);
    }
  }
}

// ---- probability maps

TEST(SegmentationPipelineTest, ProbabilityIsCroppedToTheOriginalSize) {
  // 37 x 23 pads to 48 x 32; with activation none and an identity model the probability is the
  // normalised image itself, without the padding.
  ModelRecipe recipe = TestRecipe();
  recipe.postprocess.activation = Activation::kNone;
  const cv::Mat image = TextureImage(37, 23);
  std::vector<Shape> inputs;
  auto probability = SegmentationPipeline(recipe).Probability(
      image, FakeModel([](float v, int, int, int, int) { return v; }, &inputs));
  ASSERT_TRUE(probability.ok()) << probability.status().ToString();
  ASSERT_EQ(inputs.size(), 1u);
  EXPECT_EQ(inputs[0], (Shape{1, 1, 32, 48}));
  EXPECT_EQ(probability->size(), cv::Size(37, 23));
  EXPECT_EQ(probability->type(), CV_32FC1);
  auto normalized = NormalizeImage(image, recipe.preprocess);
  ASSERT_TRUE(normalized.ok());
  EXPECT_TRUE(BitwiseEqual(*probability, *normalized));
}

TEST(SegmentationPipelineTest, TiledAndWholeImageProbabilitiesAreIdenticalForAPointwiseModel) {
  const cv::Mat image = TextureImage(1100, 900);
  std::vector<Shape> tiled_inputs, whole_inputs;
  auto tiled =
      SegmentationPipeline(TestRecipe(256, 32)).Probability(image, PointwiseModel(&tiled_inputs));
  auto whole =
      SegmentationPipeline(TestRecipe(2048, 32)).Probability(image, PointwiseModel(&whole_inputs));
  ASSERT_TRUE(tiled.ok()) << tiled.status().ToString();
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole_inputs.size(), 1u);
  EXPECT_GT(tiled_inputs.size(), 1u);
  EXPECT_EQ(tiled->size(), cv::Size(1100, 900));
  EXPECT_TRUE(BitwiseEqual(*tiled, *whole));
}

TEST(SegmentationPipelineTest, TiledAndWholeImageSeedMapsAreIdenticalForAPointwiseModel) {
  const cv::Mat image = TextureImage(1100, 900);
  const auto model = [](std::vector<Shape>* inputs) {
    return TwoChannelModel([](float v, int, int, int, int) { return v * 10 - 5; },
                           [](float v, int, int, int, int) { return v * 6 - 4; }, inputs);
  };
  std::vector<Shape> tiled_inputs, whole_inputs;
  auto tiled = SegmentationPipeline(SeededRecipe(256, 32)).Maps(image, model(&tiled_inputs));
  auto whole = SegmentationPipeline(SeededRecipe(2048, 32)).Maps(image, model(&whole_inputs));
  ASSERT_TRUE(tiled.ok()) << tiled.status().ToString();
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole_inputs.size(), 1u);
  EXPECT_GT(tiled_inputs.size(), 1u);
  ASSERT_EQ(tiled->seed.size(), cv::Size(1100, 900));
  ASSERT_EQ(tiled->seed.type(), CV_32FC1);
  EXPECT_TRUE(BitwiseEqual(tiled->foreground, whole->foreground));
  EXPECT_TRUE(BitwiseEqual(tiled->seed, whole->seed));
  EXPECT_FALSE(BitwiseEqual(tiled->seed, tiled->foreground));  // really the other channel

  // Without a seed channel there is no seed map.
  auto plain = SegmentationPipeline(TestRecipe(256, 32)).Maps(image, model(nullptr));
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_TRUE(plain->seed.empty());
  EXPECT_TRUE(BitwiseEqual(plain->foreground, tiled->foreground));
}

TEST(SegmentationPipelineTest, StitchedSeedMapKeepsEachTilesCentre) {
  // As StitchedMapKeepsEachTilesCentre, on the seed channel: the same centre-cut rule.
  ModelRecipe recipe = SeededRecipe(64, 16);
  recipe.postprocess.activation = Activation::kNone;
  const auto border_distance = [](float, int x, int y, int h, int w) {
    return static_cast<float>(std::min({x, y, w - 1 - x, h - 1 - y}));
  };
  const cv::Mat image = TextureImage(200, 150);
  auto maps = SegmentationPipeline(recipe).Maps(
      image, TwoChannelModel([](float v, int, int, int, int) { return v; }, border_distance));
  ASSERT_TRUE(maps.ok()) << maps.status().ToString();
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      const int to_image_border = std::min({x, y, image.cols - 1 - x, image.rows - 1 - y});
      EXPECT_GE(maps->seed.at<float>(y, x), std::min(to_image_border, 8))
          << "x=" << x << " y=" << y;
    }
  }
}

TEST(SegmentationPipelineTest, RunSplitsOneForegroundBlobAtPredictedSeeds) {
  // One 60 x 24 bar (intensity 150) with two bright cores (250): the foreground channel sees
  // one blob, the seed channel two cores, so the bar becomes two objects; the distance-transform
  // watershed alone keeps it whole (its ridge is one plateau).
  cv::Mat image(80, 200, CV_8UC1, cv::Scalar(10));
  image(cv::Rect(40, 30, 60, 24)).setTo(150);
  image(cv::Rect(48, 36, 10, 10)).setTo(250);
  image(cv::Rect(80, 36, 10, 10)).setTo(250);
  const auto model = TwoChannelModel([](float v, int, int, int, int) { return v * 10 - 5; },
                                     [](float v, int, int, int, int) { return v * 10 - 8; });
  for (const int tile : {64, 256}) {
    ModelRecipe recipe = SeededRecipe(tile, 16);
    recipe.preprocess.normalize = NormalizeMethod::kScale;
    recipe.preprocess.scale = 1.0 / 255;
    auto seeded = SegmentationPipeline(recipe).Run(image, model);
    ASSERT_TRUE(seeded.ok()) << seeded.status().ToString();
    EXPECT_EQ(seeded->objects.size(), 2u) << "tile " << tile;
    EXPECT_NE(seeded->labels.at<int>(40, 52), seeded->labels.at<int>(40, 84));
    EXPECT_EQ(seeded->labels.at<int>(40, 52), seeded->labels.at<int>(31, 41));
    EXPECT_EQ(seeded->labels.at<int>(40, 84), seeded->labels.at<int>(52, 98));

    recipe.postprocess.seed_channel.reset();
    auto unseeded = SegmentationPipeline(recipe).Run(image, model);
    ASSERT_TRUE(unseeded.ok()) << unseeded.status().ToString();
    EXPECT_EQ(unseeded->objects.size(), 1u) << "tile " << tile;
  }
}

TEST(SegmentationPipelineTest, RunsOneModelCallPerTileOfTheTileSize) {
  // 1100 x 900 with tile 256 / overlap 32: 5 columns (0, 224, 448, 672, 844) x 4 rows
  // (0, 224, 448, 644) = 20 tiles, each exactly 256 x 256 (a multiple of the pad).
  std::vector<Shape> inputs;
  auto probability = SegmentationPipeline(TestRecipe(256, 32))
                         .Probability(TextureImage(1100, 900), PointwiseModel(&inputs));
  ASSERT_TRUE(probability.ok()) << probability.status().ToString();
  EXPECT_EQ(inputs.size(), 20u);
  for (const Shape& shape : inputs) EXPECT_EQ(shape, (Shape{1, 1, 256, 256}));
}

TEST(SegmentationPipelineTest, TilesOnlyTheLongAxisOfAStrip) {
  // 600 x 100: one row of tiles 256 wide and 100 high (padded to 112): begins 0, 224, 344.
  std::vector<Shape> inputs;
  auto probability = SegmentationPipeline(TestRecipe(256, 32))
                         .Probability(TextureImage(600, 100), PointwiseModel(&inputs));
  ASSERT_TRUE(probability.ok()) << probability.status().ToString();
  EXPECT_EQ(probability->size(), cv::Size(600, 100));
  ASSERT_EQ(inputs.size(), 3u);
  for (const Shape& shape : inputs) EXPECT_EQ(shape, (Shape{1, 1, 112, 256}));
}

TEST(SegmentationPipelineTest, StitchedMapKeepsEachTilesCentre) {
  // The fake reports each pixel's distance to its tile's border. Cutting overlaps at their
  // midpoints means no kept pixel is closer than overlap / 2 to a tile border, except where
  // the tile border is the image border.
  ModelRecipe recipe = TestRecipe(64, 16);
  recipe.postprocess.activation = Activation::kNone;
  const auto border_distance = [](float, int x, int y, int h, int w) {
    return static_cast<float>(std::min({x, y, w - 1 - x, h - 1 - y}));
  };
  const cv::Mat image = TextureImage(200, 150);
  auto probability = SegmentationPipeline(recipe).Probability(image, FakeModel(border_distance));
  ASSERT_TRUE(probability.ok()) << probability.status().ToString();
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      const int to_image_border = std::min({x, y, image.cols - 1 - x, image.rows - 1 - y});
      const float kept = probability->at<float>(y, x);
      EXPECT_GE(kept, std::min(to_image_border, 8)) << "x=" << x << " y=" << y;
    }
  }
}

TEST(SegmentationPipelineTest, TinyImagesWork) {
  for (const cv::Size size : {cv::Size(1, 1), cv::Size(1, 5), cv::Size(7, 1), cv::Size(3, 2)}) {
    std::vector<Shape> inputs;
    auto probability =
        SegmentationPipeline(TestRecipe())
            .Probability(TextureImage(size.width, size.height), PointwiseModel(&inputs));
    ASSERT_TRUE(probability.ok()) << size << ": " << probability.status().ToString();
    EXPECT_EQ(probability->size(), size);
    ASSERT_EQ(inputs.size(), 1u);
    EXPECT_EQ(inputs[0], (Shape{1, 1, 16, 16}));
  }
}

TEST(SegmentationPipelineTest, ResizedInputGivesProbabilityAtTheOriginalSize) {
  ModelRecipe recipe = TestRecipe();
  recipe.preprocess.resize = std::pair{32, 32};
  std::vector<Shape> inputs;
  auto probability =
      SegmentationPipeline(recipe).Probability(TextureImage(50, 40), PointwiseModel(&inputs));
  ASSERT_TRUE(probability.ok()) << probability.status().ToString();
  ASSERT_EQ(inputs.size(), 1u);
  EXPECT_EQ(inputs[0], (Shape{1, 1, 32, 32}));
  EXPECT_EQ(probability->size(), cv::Size(50, 40));
}

TEST(SegmentationPipelineTest, ModelOutputOfTheWrongSizeIsAnError) {
  const InferFn shrinking = [](Tensor) -> Result<Tensor> {
    return Tensor::Zeros(DType::kFloat32, {1, 1, 8, 8});
  };
  auto result = SegmentationPipeline(TestRecipe()).Probability(TextureImage(40, 30), shrinking);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("model output [1, 1, 8, 8]"), std::string::npos)
      << result.status().message();

  // The same in the tiled path, with the tile named.
  auto tiled =
      SegmentationPipeline(TestRecipe(64, 8)).Probability(TextureImage(100, 30), shrinking);
  ASSERT_FALSE(tiled.ok());
  EXPECT_NE(tiled.status().message().find("tile at x=0, y=0"), std::string::npos)
      << tiled.status().message();
}

TEST(SegmentationPipelineTest, ModelOutputOfTheWrongRankOrTypeIsAnError) {
  const InferFn rank3 = [](Tensor input) -> Result<Tensor> {
    return Tensor::Zeros(DType::kFloat32, {1, input.shape()[2], input.shape()[3]});
  };
  const InferFn bytes = [](Tensor input) -> Result<Tensor> {
    return Tensor::Zeros(DType::kUInt8, input.shape());
  };
  EXPECT_FALSE(SegmentationPipeline(TestRecipe()).Probability(TextureImage(20, 20), rank3).ok());
  EXPECT_FALSE(SegmentationPipeline(TestRecipe()).Probability(TextureImage(20, 20), bytes).ok());
}

TEST(SegmentationPipelineTest, ModelErrorsPropagateWithTheirCode) {
  const InferFn unavailable = [](Tensor) -> Result<Tensor> {
    return UnavailableError("engine is reloading");
  };
  auto result =
      SegmentationPipeline(TestRecipe(64, 8)).Probability(TextureImage(100, 100), unavailable);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(result.status().message().find("engine is reloading"), std::string::npos);
}

TEST(SegmentationPipelineTest, RejectsEmptyImageAndMissingModel) {
  EXPECT_EQ(
      SegmentationPipeline(TestRecipe()).Probability(cv::Mat(), PointwiseModel()).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(
      SegmentationPipeline(TestRecipe()).Probability(TextureImage(4, 4), InferFn()).status().code(),
      StatusCode::kFailedPrecondition);
}

// ---- end to end with post-processing

TEST(SegmentationPipelineTest, RunSegmentsObjectsAcrossTileBorders) {
  // Two bright squares on a dark background; the first straddles the tile cut at x = 56
  // (tile 64, overlap 16: begins 0, 48, 96, 136 for a 200 px axis).
  cv::Mat image(120, 200, CV_8UC1, cv::Scalar(10));
  image(cv::Rect(40, 30, 30, 30)).setTo(200);
  image(cv::Rect(140, 70, 20, 25)).setTo(200);
  ModelRecipe recipe = TestRecipe(64, 16);
  recipe.preprocess.normalize = NormalizeMethod::kScale;
  recipe.preprocess.scale = 1.0 / 255;
  auto segmentation = SegmentationPipeline(recipe).Run(image, PointwiseModel());
  ASSERT_TRUE(segmentation.ok()) << segmentation.status().ToString();
  EXPECT_EQ(segmentation->labels.size(), image.size());
  EXPECT_EQ(segmentation->probability.size(), image.size());
  ASSERT_EQ(segmentation->objects.size(), 2u);
  std::vector<double> areas;
  for (const auto& object : segmentation->objects) areas.push_back(object.area);
  std::sort(areas.begin(), areas.end());
  EXPECT_EQ(areas, (std::vector<double>{500, 900}));
}

}  // namespace
}  // namespace orbit::vision
