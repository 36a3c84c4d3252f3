#include "vision/preprocess.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "vision/image_io.h"

namespace orbit::vision {
namespace {

// The deterministic test image that the numpy reference values below were computed from:
// v[i] = (i * 7919 + 13) % 4099 for i in 0..64*48-1, uint16, shape (48, 64).
cv::Mat FormulaImage() {
  cv::Mat image(48, 64, CV_16UC1);
  for (int i = 0; i < 64 * 48; ++i) {
    image.at<std::uint16_t>(i / 64, i % 64) =
        static_cast<std::uint16_t>((static_cast<std::int64_t>(i) * 7919 + 13) % 4099);
  }
  return image;
}

PreprocessRecipe GrayPercentile(int pad = 1) {
  PreprocessRecipe recipe;
  recipe.color = ColorMode::kGray;
  recipe.normalize = NormalizeMethod::kPercentile;
  recipe.percentile_low = 1.0;
  recipe.percentile_high = 99.8;
  recipe.pad_to_multiple = pad;
  return recipe;
}

PreprocessRecipe NoNormalization(ColorMode color, int pad = 1) {
  PreprocessRecipe recipe;
  recipe.color = color;
  recipe.normalize = NormalizeMethod::kNone;
  recipe.pad_to_multiple = pad;
  return recipe;
}

// ---- Percentile: expected values from numpy 1.24
// (`/usr/bin/python3 -c 'import numpy as np; print(float(np.percentile(a, p)).hex())'`, default
// method='linear'), written as hex floats so the comparison is exact.

TEST(PercentileTest, MatchesNumpyOnSmallUint16Array) {
  // a = np.array([10, 200, 3, 65535, 7, 7, 1000], np.uint16)
  const std::vector<std::uint16_t> values = {10, 200, 3, 65535, 7, 7, 1000};
  const cv::Mat a(1, 7, CV_16UC1, const_cast<std::uint16_t*>(values.data()));
  EXPECT_EQ(Percentile(a, 0), 0x1.8p+1);                  // 3.0
  EXPECT_EQ(Percentile(a, 1), 0x1.9eb851eb851ecp+1);      // 3.24
  EXPECT_EQ(Percentile(a, 25), 0x1.cp+2);                 // 7.0
  EXPECT_EQ(Percentile(a, 33.3), 0x1.cp+2);               // 7.0
  EXPECT_EQ(Percentile(a, 50), 0x1.4p+3);                 // 10.0
  EXPECT_EQ(Percentile(a, 99.8), 0x1.f9f128f5c28f2p+15);  // 64760.57999999997
  EXPECT_EQ(Percentile(a, 100), 0x1.fffep+15);            // 65535.0
}

TEST(PercentileTest, MatchesNumpyOnSmallFloat32ArrayIncludingFloat32Difference) {
  // f = np.array([0.1, 0.7, 0.3, 1e6, -2.5], np.float32); numpy takes b - a in float32.
  const std::vector<float> values = {0.1f, 0.7f, 0.3f, 1e6f, -2.5f};
  const cv::Mat f(1, 5, CV_32FC1, const_cast<float*>(values.data()));
  EXPECT_EQ(Percentile(f, 1), -0x1.32b020ccccccdp+1);    // -2.3960000038146974
  EXPECT_EQ(Percentile(f, 37.5), 0x1.99999ap-3);         // 0.20000000298023224
  EXPECT_EQ(Percentile(f, 99.8), 0x1.e460002d0e56p+19);  // 992000.0055
}

TEST(PercentileTest, MatchesNumpyOnLargerUint16Image) {
  const cv::Mat g = FormulaImage();
  EXPECT_EQ(Percentile(g, 0.5), 0x1.4b5c28f5c28f6p+4);   // 20.71
  EXPECT_EQ(Percentile(g, 1), 0x1.435c28f5c28f6p+5);     // 40.42
  EXPECT_EQ(Percentile(g, 99.8), 0x1.fefb74bc6a7fp+11);  // 4087.858
}

TEST(PercentileTest, MatchesNumpyOnFloat32ImageViaSelection) {
  // gf = (g.astype(np.float32) / np.float32(7.0))
  cv::Mat gf;
  FormulaImage().convertTo(gf, CV_32F, 1.0 / 7.0);
  // convertTo scales in double; recompute exactly as numpy does (float32 division).
  for (int y = 0; y < gf.rows; ++y) {
    for (int x = 0; x < gf.cols; ++x) {
      gf.at<float>(y, x) = static_cast<float>(FormulaImage().at<std::uint16_t>(y, x)) / 7.0f;
    }
  }
  EXPECT_EQ(Percentile(gf, 1), 0x1.718de61eb851fp+2);     // 5.774285821914673
  EXPECT_EQ(Percentile(gf, 99.8), 0x1.23fd6727ef9dbp+9);  // 583.979710571289
  EXPECT_EQ(Percentile(gf, 63.7), 0x1.74c7765916873p+8);  // 372.779149597168
}

TEST(PercentileTest, PoolsAllChannelsLikeNumpy) {
  // c = ((np.arange(60) * 31) % 256).astype(np.uint8).reshape(5, 4, 3)
  cv::Mat c(5, 4, CV_8UC3);
  for (int i = 0; i < 60; ++i) c.data[i] = static_cast<std::uint8_t>((i * 31) % 256);
  EXPECT_EQ(Percentile(c, 1), 0x1.c51eb851eb852p+1);    // 3.54
  EXPECT_EQ(Percentile(c, 10), 0x1.6e66666666666p+4);   // 22.9
  EXPECT_EQ(Percentile(c, 99.8), 0x1.fc5916872b02p+7);  // 254.17399999999998
}

TEST(PercentileTest, HandlesSingleValueAndNonContiguousImages) {
  const cv::Mat one(1, 1, CV_16UC1, cv::Scalar(42));
  EXPECT_EQ(Percentile(one, 0), 42);
  EXPECT_EQ(Percentile(one, 99.8), 42);
  const cv::Mat big = FormulaImage();
  const cv::Mat roi = big(cv::Rect(3, 2, 10, 7));  // not contiguous
  EXPECT_FALSE(roi.isContinuous());
  EXPECT_EQ(Percentile(roi, 37), Percentile(roi.clone(), 37));
}

// ---- NormalizeImage

TEST(NormalizeImageTest, PercentileNormalizationIsBitExactWithTheTrainingCode) {
  // make_dataset.normalize(g): lo = f32(percentile(x, 1)), hi = f32(percentile(x, 99.8)),
  // (x - lo) / f32(max(float(hi - lo), 1e-6)); values printed with float.hex().
  auto x = NormalizeImage(FormulaImage(), GrayPercentile());
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  ASSERT_EQ(x->type(), CV_32FC1);
  EXPECT_EQ(x->at<float>(0, 0), -0x1.bbfbdcp-8f);  // pixel 13, below lo: not clipped
  EXPECT_EQ(x->at<float>(0, 1), 0x1.dfc2b2p-1f);
  EXPECT_EQ(x->at<float>(5, 7), 0x1.7d98c2p-1f);
  EXPECT_EQ(x->at<float>(47, 63), 0x1.f42082p-1f);
  EXPECT_EQ(x->at<float>(20, 33), 0x1.4347c2p-1f);
  double sum = 0;
  for (int y = 0; y < x->rows; ++y) {
    for (int c = 0; c < x->cols; ++c) sum += x->at<float>(y, c);
  }
  EXPECT_DOUBLE_EQ(sum, 0x1.7d1a20bec38p+10);  // numpy: y.astype(np.float64).sum()
}

TEST(NormalizeImageTest, PercentileMapsLowToZeroAndHighToOneWithoutClipping) {
  const cv::Mat image = (cv::Mat_<std::uint16_t>(2, 3) << 0, 10, 20, 30, 40, 1000);
  PreprocessRecipe recipe = GrayPercentile();
  recipe.percentile_low = 0;
  recipe.percentile_high = 50;  // numpy: 25.0 (index 2.5 between 20 and 30)
  auto x = NormalizeImage(image, recipe);
  ASSERT_TRUE(x.ok());
  EXPECT_FLOAT_EQ(x->at<float>(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(x->at<float>(0, 1), 0.4f);
  EXPECT_FLOAT_EQ(x->at<float>(1, 0), 1.2f);
  EXPECT_FLOAT_EQ(x->at<float>(1, 2), 40.0f);
}

TEST(NormalizeImageTest, ConstantImageDoesNotDivideByZero) {
  auto x = NormalizeImage(cv::Mat(3, 3, CV_8UC1, cv::Scalar(7)), GrayPercentile());
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->at<float>(1, 1), 0.0f);
}

TEST(NormalizeImageTest, ScaleAndMeanStd) {
  const cv::Mat image = (cv::Mat_<std::uint8_t>(1, 2) << 0, 255);
  PreprocessRecipe scale = NoNormalization(ColorMode::kGray);
  scale.normalize = NormalizeMethod::kScale;
  scale.scale = 1.0 / 255;
  auto a = NormalizeImage(image, scale);
  ASSERT_TRUE(a.ok());
  EXPECT_FLOAT_EQ(a->at<float>(0, 1), 1.0f);

  PreprocessRecipe mean_std = scale;
  mean_std.normalize = NormalizeMethod::kMeanStd;
  mean_std.mean = {0.5};
  mean_std.std = {0.25};
  auto b = NormalizeImage(image, mean_std);
  ASSERT_TRUE(b.ok());
  EXPECT_FLOAT_EQ(b->at<float>(0, 0), -2.0f);
  EXPECT_FLOAT_EQ(b->at<float>(0, 1), 2.0f);
}

TEST(NormalizeImageTest, MeanStdIsPerChannelInRecipeOrder) {
  const cv::Mat bgr(1, 1, CV_8UC3, cv::Scalar(30, 20, 10));  // B=30, G=20, R=10
  PreprocessRecipe recipe = NoNormalization(ColorMode::kRgb);
  recipe.normalize = NormalizeMethod::kMeanStd;
  recipe.mean = {10, 20, 30};  // R, G, B
  recipe.std = {1, 2, 5};
  auto x = NormalizeImage(bgr, recipe);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->at<cv::Vec3f>(0, 0), cv::Vec3f(0, 0, 0));
}

TEST(NormalizeImageTest, ConvertsChannelsToTheRecipeColor) {
  const cv::Mat bgr(1, 1, CV_8UC3, cv::Scalar(30, 20, 10));  // B=30, G=20, R=10
  const cv::Mat gray(1, 1, CV_16UC1, cv::Scalar(500));

  auto rgb = NormalizeImage(bgr, NoNormalization(ColorMode::kRgb));
  ASSERT_TRUE(rgb.ok());
  EXPECT_EQ(rgb->at<cv::Vec3f>(0, 0), cv::Vec3f(10, 20, 30));

  auto kept = NormalizeImage(bgr, NoNormalization(ColorMode::kBgr));
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->at<cv::Vec3f>(0, 0), cv::Vec3f(30, 20, 10));

  auto to_gray = NormalizeImage(bgr, NoNormalization(ColorMode::kGray));
  ASSERT_TRUE(to_gray.ok());
  ASSERT_EQ(to_gray->type(), CV_32FC1);
  EXPECT_NEAR(to_gray->at<float>(0, 0), 0.299 * 10 + 0.587 * 20 + 0.114 * 30, 1e-4);

  auto replicated = NormalizeImage(gray, NoNormalization(ColorMode::kRgb));
  ASSERT_TRUE(replicated.ok());
  EXPECT_EQ(replicated->at<cv::Vec3f>(0, 0), cv::Vec3f(500, 500, 500));

  EXPECT_EQ(bgr.at<cv::Vec3b>(0, 0), cv::Vec3b(30, 20, 10)) << "the input must not change";
}

TEST(NormalizeImageTest, ResizesBilinearlyBeforeNormalizing) {
  const cv::Mat image = (cv::Mat_<std::uint8_t>(1, 2) << 0, 10);
  PreprocessRecipe recipe = NoNormalization(ColorMode::kGray);
  recipe.resize = std::pair{4, 1};
  auto x = NormalizeImage(image, recipe);
  ASSERT_TRUE(x.ok());
  ASSERT_EQ(x->size(), cv::Size(4, 1));
  // Half-pixel centres: source x = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
  EXPECT_FLOAT_EQ(x->at<float>(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(x->at<float>(0, 1), 2.5f);
  EXPECT_FLOAT_EQ(x->at<float>(0, 2), 7.5f);
  EXPECT_FLOAT_EQ(x->at<float>(0, 3), 10.0f);
}

TEST(NormalizeImageTest, RejectsEmptyAndFourChannelImages) {
  EXPECT_EQ(NormalizeImage(cv::Mat(), GrayPercentile()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(NormalizeImage(cv::Mat(2, 2, CV_8UC4), GrayPercentile()).status().code(),
            StatusCode::kInvalidArgument);
}

// ---- PrepareNormalized: padding and layout

std::vector<float> TensorValues(const Tensor& tensor) {
  const auto data = tensor.data<float>();
  return {data.begin(), data.end()};
}

TEST(PrepareNormalizedTest, PadsBottomRightWithReflect101) {
  // numpy: np.pad([[1, 2, 3], [4, 5, 6]], ((0, 2), (0, 1)), mode='reflect')
  const cv::Mat x = (cv::Mat_<float>(2, 3) << 1, 2, 3, 4, 5, 6);
  auto prepared = PrepareNormalized(x, NoNormalization(ColorMode::kGray, 4));
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_EQ(prepared->tensor.shape(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(prepared->width, 3);
  EXPECT_EQ(prepared->height, 2);
  EXPECT_EQ(prepared->padded_width, 4);
  EXPECT_EQ(prepared->padded_height, 4);
  EXPECT_EQ(TensorValues(prepared->tensor),
            (std::vector<float>{1, 2, 3, 2, 4, 5, 6, 5, 1, 2, 3, 2, 4, 5, 6, 5}));
}

TEST(PrepareNormalizedTest, ReflectsPeriodicallyWhenThePadExceedsTheImage) {
  // numpy: np.pad([[1, 2, 3]], ((0, 0), (0, 13)), mode='reflect') and rows replicated
  // (a 1-pixel dimension has nothing to reflect).
  const cv::Mat x = (cv::Mat_<float>(1, 3) << 1, 2, 3);
  auto prepared = PrepareNormalized(x, NoNormalization(ColorMode::kGray, 16));
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_EQ(prepared->tensor.shape(), (Shape{1, 1, 16, 16}));
  const std::vector<float> row = {1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2};
  const std::vector<float> values = TensorValues(prepared->tensor);
  for (int y = 0; y < 16; ++y) {
    EXPECT_EQ(std::vector<float>(values.begin() + y * 16, values.begin() + (y + 1) * 16), row)
        << "row " << y;
  }
}

TEST(PrepareNormalizedTest, OnePixelImageIsReplicated) {
  const cv::Mat x(1, 1, CV_32FC1, cv::Scalar(7));
  auto prepared = PrepareNormalized(x, NoNormalization(ColorMode::kGray, 8));
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_EQ(prepared->tensor.shape(), (Shape{1, 1, 8, 8}));
  EXPECT_EQ(TensorValues(prepared->tensor), std::vector<float>(64, 7.0f));
}

TEST(PrepareNormalizedTest, LaysOutThreeChannelsAsNchwOrNhwc) {
  cv::Mat x(1, 2, CV_32FC3);
  x.at<cv::Vec3f>(0, 0) = {1, 2, 3};
  x.at<cv::Vec3f>(0, 1) = {4, 5, 6};
  auto nchw = PrepareNormalized(x, NoNormalization(ColorMode::kRgb));
  ASSERT_TRUE(nchw.ok()) << nchw.status().ToString();
  EXPECT_EQ(nchw->tensor.shape(), (Shape{1, 3, 1, 2}));
  EXPECT_EQ(TensorValues(nchw->tensor), (std::vector<float>{1, 4, 2, 5, 3, 6}));

  PreprocessRecipe nhwc_recipe = NoNormalization(ColorMode::kRgb);
  nhwc_recipe.channels_first = false;
  auto nhwc = PrepareNormalized(x, nhwc_recipe);
  ASSERT_TRUE(nhwc.ok()) << nhwc.status().ToString();
  EXPECT_EQ(nhwc->tensor.shape(), (Shape{1, 1, 2, 3}));
  EXPECT_EQ(TensorValues(nhwc->tensor), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(PrepareNormalizedTest, PadsThreeChannelNchwPerPlane) {
  cv::Mat x(2, 1, CV_32FC3);
  x.at<cv::Vec3f>(0, 0) = {1, 2, 3};
  x.at<cv::Vec3f>(1, 0) = {4, 5, 6};
  auto prepared = PrepareNormalized(x, NoNormalization(ColorMode::kBgr, 3));
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_EQ(prepared->tensor.shape(), (Shape{1, 3, 3, 3}));
  // Plane 0: rows 1, 4, 1 (reflect-101), each replicated across the 1-pixel width.
  EXPECT_EQ(TensorValues(prepared->tensor),
            (std::vector<float>{1, 1, 1, 4, 4, 4, 1, 1, 1, 2, 2, 2, 5, 5,
                                5, 2, 2, 2, 3, 3, 3, 6, 6, 6, 3, 3, 3}));
}

TEST(PrepareNormalizedTest, RejectsAnImageThatIsNotNormalizedForTheRecipe) {
  EXPECT_EQ(PrepareNormalized(cv::Mat(2, 2, CV_8UC1), GrayPercentile()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PrepareNormalized(cv::Mat(2, 2, CV_32FC3), GrayPercentile()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PrepareNormalized(cv::Mat(), GrayPercentile()).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(PrepareInputTest, NormalizesThenPads) {
  const cv::Mat image = FormulaImage()(cv::Rect(0, 0, 20, 10)).clone();
  auto prepared = PrepareInput(image, GrayPercentile(16));
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_EQ(prepared->tensor.shape(), (Shape{1, 1, 16, 32}));
  auto normalized = NormalizeImage(image, GrayPercentile(16));
  ASSERT_TRUE(normalized.ok());
  const auto values = prepared->tensor.data<float>();
  EXPECT_EQ(values[0], normalized->at<float>(0, 0));
  EXPECT_EQ(values[9 * 32 + 19], normalized->at<float>(9, 19));
  EXPECT_EQ(values[10 * 32 + 20], normalized->at<float>(8, 18));  // reflected corner
}

TEST(PrepareInputTest, MatchesTheTrainingCodeOnACellsegFixture) {
  // Reference: models/cellseg/make_dataset.py, pad_to_multiple(normalize(img), 16) on
  // fixtures/images/img_001.png (PIL decode), float64 sum and elements printed with float.hex().
  const std::filesystem::path path =
      std::filesystem::path(ORBIT_SOURCE_DIR) / "models/cellseg/fixtures/images/img_001.png";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing";
  auto image = ReadImageFile(path);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  auto prepared = PrepareInput(*image, GrayPercentile(16));
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  ASSERT_EQ(prepared->tensor.shape(), (Shape{1, 1, 208, 304}));
  const auto x = prepared->tensor.data<float>();
  EXPECT_EQ(x[0], 0x1.13e578p-2f);
  EXPECT_EQ(x[100 * 304 + 150], 0x1.a874bap-6f);
  EXPECT_EQ(x[199 * 304 + 299], 0x1.7e02a8p-5f);
  EXPECT_EQ(x[207 * 304 + 303], 0x1.291e82p-5f);  // in the reflected padding
  double sum = 0;
  for (const float v : x) sum += v;
  EXPECT_EQ(sum, 0x1.0fcb46440aap+13);
}

TEST(PrepareInputTest, MegapixelUint16ImageIsFast) {
  cv::Mat image(1024, 1024, CV_16UC1);
  cv::randu(image, 0, 65535);
  const auto start = std::chrono::steady_clock::now();
  constexpr int kRuns = 5;
  for (int i = 0; i < kRuns; ++i) {
    auto prepared = PrepareInput(image, GrayPercentile(16));
    ASSERT_TRUE(prepared.ok());
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
      kRuns;
  RecordProperty("ms_per_image", std::to_string(ms));
  std::printf("PrepareInput 1024x1024 uint16: %.2f ms\n", ms);
  EXPECT_LT(ms, 100.0);  // a few ms in release builds; generous for debug/sanitizer builds
}

}  // namespace
}  // namespace orbit::vision
