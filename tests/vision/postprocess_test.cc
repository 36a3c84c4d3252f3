#include "vision/postprocess.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <vector>

#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>

namespace orbit::vision {
namespace {

Tensor MakeOutput(Shape shape, const std::vector<float>& values) {
  auto tensor = Tensor::FromVector<float>(std::move(shape), values);
  EXPECT_TRUE(tensor.ok()) << tensor.status().ToString();
  return std::move(tensor).value();
}

PostprocessRecipe RecipeWith(Activation activation, int background_class = 0) {
  PostprocessRecipe recipe;
  recipe.activation = activation;
  recipe.background_class = background_class;
  return recipe;
}

// CV_8U mask from rows of '#' (foreground) and '.' (background).
cv::Mat MaskFromText(const std::vector<std::string>& rows) {
  cv::Mat mask =
      cv::Mat::zeros(static_cast<int>(rows.size()), static_cast<int>(rows[0].size()), CV_8U);
  for (int y = 0; y < mask.rows; ++y) {
    for (int x = 0; x < mask.cols; ++x) {
      if (rows[static_cast<std::size_t>(y)][static_cast<std::size_t>(x)] == '#') {
        mask.at<std::uint8_t>(y, x) = 255;
      }
    }
  }
  return mask;
}

int MaxLabel(const cv::Mat& labels) {
  double max_value = 0;
  cv::minMaxLoc(labels, nullptr, &max_value);
  return static_cast<int>(max_value);
}

// Labels are exactly 1..N and first appear in raster order 1, 2, ..., N.
void ExpectConsecutiveRasterOrder(const cv::Mat& labels) {
  ASSERT_EQ(labels.type(), CV_32S);
  int next = 1;
  for (int y = 0; y < labels.rows; ++y) {
    for (int x = 0; x < labels.cols; ++x) {
      const int label = labels.at<int>(y, x);
      ASSERT_GE(label, 0);
      ASSERT_LE(label, next) << "label " << label << " appears before " << next;
      if (label == next) ++next;
    }
  }
  EXPECT_EQ(next - 1, MaxLabel(labels));
}

// Two filled discs of radius 10 whose centres are 18 px apart, so they overlap in a neck.
cv::Mat TouchingDiscs() {
  cv::Mat mask = cv::Mat::zeros(40, 64, CV_8U);
  cv::circle(mask, {22, 20}, 10, cv::Scalar(255), cv::FILLED);
  cv::circle(mask, {40, 20}, 10, cv::Scalar(255), cv::FILLED);
  return mask;
}

// --- ForegroundProbability ----------------------------------------------------------------------

TEST(PostprocessTest, SigmoidOfKnownLogits) {
  const float ln3 = std::log(3.0f);
  Tensor output = MakeOutput({1, 1, 1, 5}, {0.0f, ln3, -ln3, 100.0f, -100.0f});
  auto p = ForegroundProbability(output, 0, RecipeWith(Activation::kSigmoid));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->type(), CV_32F);
  ASSERT_EQ(p->size(), cv::Size(5, 1));
  EXPECT_FLOAT_EQ(p->at<float>(0, 0), 0.5f);
  EXPECT_NEAR(p->at<float>(0, 1), 0.75f, 1e-6);
  EXPECT_NEAR(p->at<float>(0, 2), 0.25f, 1e-6);
  EXPECT_FLOAT_EQ(p->at<float>(0, 3), 1.0f);
  // Stable for large negative logits: tiny but not NaN and not negative.
  EXPECT_GE(p->at<float>(0, 4), 0.0f);
  EXPECT_LT(p->at<float>(0, 4), 1e-30f);
}

TEST(PostprocessTest, SoftmaxOfKnownLogitsIsOneMinusBackground) {
  const float ln3 = std::log(3.0f);
  // Channel 0 (background) then channel 1; a 1×4 image.
  Tensor output = MakeOutput({1, 2, 1, 4}, {0.0f, 0.0f, ln3, 0.0f,  //
                                            0.0f, ln3, 0.0f, 1000.0f});
  auto p = ForegroundProbability(output, 0, RecipeWith(Activation::kSoftmax));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_FLOAT_EQ(p->at<float>(0, 0), 0.5f);
  EXPECT_NEAR(p->at<float>(0, 1), 0.75f, 1e-6);
  EXPECT_NEAR(p->at<float>(0, 2), 0.25f, 1e-6);
  EXPECT_FLOAT_EQ(p->at<float>(0, 3), 1.0f);  // no overflow at logit 1000
}

TEST(PostprocessTest, SoftmaxUsesConfiguredBackgroundClass) {
  // Three classes with logits (ln 2, 0, 0): softmax (0.5, 0.25, 0.25); background is class 1.
  Tensor output = MakeOutput({1, 3, 1, 1}, {std::log(2.0f), 0.0f, 0.0f});
  auto p = ForegroundProbability(output, 0, RecipeWith(Activation::kSoftmax, 1));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_NEAR(p->at<float>(0, 0), 0.75f, 1e-6);
}

TEST(PostprocessTest, NoActivationReturnsRawChannelZeroOfRequestedItem) {
  // Batch of 2, 2 channels, 1×2: item 1 channel 0 is {5, 6}.
  Tensor output = MakeOutput({2, 2, 1, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto p = ForegroundProbability(output, 1, RecipeWith(Activation::kNone));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->at<float>(0, 0), 5.0f);
  EXPECT_EQ(p->at<float>(0, 1), 6.0f);
}

TEST(PostprocessTest, ForegroundProbabilityReadsTheConfiguredChannel) {
  // 2 channels, 1×2: channel 0 = {ln 3, ln 3}, channel 1 = {0, -ln 3}.
  const float ln3 = std::log(3.0f);
  Tensor output = MakeOutput({1, 2, 1, 2}, {ln3, ln3, 0.0f, -ln3});
  PostprocessRecipe recipe = RecipeWith(Activation::kSigmoid);
  recipe.foreground_channel = 1;
  auto p = ForegroundProbability(output, 0, recipe);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_FLOAT_EQ(p->at<float>(0, 0), 0.5f);
  EXPECT_NEAR(p->at<float>(0, 1), 0.25f, 1e-6);

  recipe.foreground_channel = 2;
  auto r = ForegroundProbability(output, 0, recipe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "model output [1, 2, 1, 2]: foreground channel 2 is out of range for 2 channel(s)");
}

TEST(PostprocessTest, SeedProbabilityIsTheSigmoidOfTheSeedChannel) {
  // Batch of 2, 2 channels, 1×2: item 1 channel 1 is {ln 3, -ln 3}.
  const float ln3 = std::log(3.0f);
  Tensor output = MakeOutput({2, 2, 1, 2}, {9, 9, 9, 9, 9, 9, ln3, -ln3});
  PostprocessRecipe recipe = RecipeWith(Activation::kSigmoid);
  recipe.seed_channel = 1;
  auto seed = SeedProbability(output, 1, recipe);
  ASSERT_TRUE(seed.ok()) << seed.status().ToString();
  ASSERT_EQ(seed->type(), CV_32F);
  EXPECT_NEAR(seed->at<float>(0, 0), 0.75f, 1e-6);
  EXPECT_NEAR(seed->at<float>(0, 1), 0.25f, 1e-6);

  recipe.activation = Activation::kNone;
  seed = SeedProbability(output, 1, recipe);
  ASSERT_TRUE(seed.ok()) << seed.status().ToString();
  EXPECT_EQ(seed->at<float>(0, 0), ln3);

  recipe.seed_channel = 2;
  EXPECT_EQ(SeedProbability(output, 0, recipe).status().message(),
            "model output [2, 2, 1, 2]: seed channel 2 is out of range for 2 channel(s)");
  recipe.seed_channel.reset();
  EXPECT_EQ(SeedProbability(output, 0, recipe).status().message(),
            "model output [2, 2, 1, 2]: the recipe declares no seed channel");
}

TEST(PostprocessTest, RejectsOutputsThatCannotHoldAProbability) {
  Tensor rank3 = MakeOutput({1, 2, 2}, {0, 0, 0, 0});
  auto r = ForegroundProbability(rank3, 0, RecipeWith(Activation::kSigmoid));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "model output [1, 2, 2]: expected rank 4 (NCHW), got rank 3");

  auto ints = Tensor::Zeros(DType::kInt32, {1, 1, 2, 2});
  ASSERT_TRUE(ints.ok());
  r = ForegroundProbability(*ints, 0, RecipeWith(Activation::kSigmoid));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "model output [1, 1, 2, 2]: expected FP32, got INT32");

  Tensor one = MakeOutput({1, 1, 2, 2}, {0, 0, 0, 0});
  r = ForegroundProbability(one, 1, RecipeWith(Activation::kSigmoid));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "model output [1, 1, 2, 2]: batch index 1 is out of range for batch size 1");
  r = ForegroundProbability(one, -1, RecipeWith(Activation::kSigmoid));
  EXPECT_FALSE(r.ok());

  r = ForegroundProbability(one, 0, RecipeWith(Activation::kSoftmax));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "model output [1, 1, 2, 2]: softmax needs at least 2 channels, got 1");

  auto two = Tensor::Zeros(DType::kFloat32, {1, 2, 8, 8});
  ASSERT_TRUE(two.ok());
  r = ForegroundProbability(*two, 0, RecipeWith(Activation::kSoftmax, 3));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "model output [1, 2, 8, 8]: softmax background_class 3 is out of range for 2 "
            "channels");

  auto none = Tensor::Zeros(DType::kFloat32, {1, 0, 8, 8});
  ASSERT_TRUE(none.ok());
  r = ForegroundProbability(*none, 0, RecipeWith(Activation::kSigmoid));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "model output [1, 0, 8, 8]: has no channels");
}

// --- Mask clean-up -------------------------------------------------------------------------------

TEST(PostprocessTest, ThresholdEqualToProbabilityIsBackground) {
  cv::Mat p = (cv::Mat_<float>(1, 4) << 0.25f, 0.5f, 0.5000001f, 1.0f);
  cv::Mat mask = ThresholdMask(p, 0.5);
  ASSERT_EQ(mask.type(), CV_8U);
  EXPECT_EQ(mask.at<std::uint8_t>(0, 0), 0);
  EXPECT_EQ(mask.at<std::uint8_t>(0, 1), 0);
  EXPECT_EQ(mask.at<std::uint8_t>(0, 2), 255);
  EXPECT_EQ(mask.at<std::uint8_t>(0, 3), 255);
}

TEST(PostprocessTest, RemoveSmallObjectsKeepsObjectsOfExactlyMinArea) {
  cv::Mat mask = MaskFromText({
      "##......",  //
      "##.....#",  // 2×2 square (4 px) kept
      "......#.",  // diagonal line of 4 px is one 8-connected object: kept
      ".....#..",  //
      "#...#...",  // 3-px L in the bottom-left corner: removed
      "##......",
  });
  cv::Mat expected = MaskFromText({
      "##......",  //
      "##.....#",  //
      "......#.",  //
      ".....#..",  //
      "....#...",  //
      "........",
  });
  cv::Mat kept = RemoveSmallObjects(mask, 4);
  EXPECT_EQ(cv::countNonZero(kept != expected), 0);
  EXPECT_EQ(cv::countNonZero(RemoveSmallObjects(mask, 0) != mask), 0);
}

TEST(PostprocessTest, FillHolesFillsRingInterior) {
  cv::Mat ring = MaskFromText({
      ".......",  //
      ".#####.",  //
      ".#...#.",  //
      ".#...#.",  //
      ".#####.",  //
      ".......",
  });
  cv::Mat filled = FillHoles(ring);
  EXPECT_EQ(cv::countNonZero(filled), 20);
  EXPECT_EQ(filled.at<std::uint8_t>(2, 2), 255);
  EXPECT_EQ(filled.at<std::uint8_t>(0, 0), 0);
}

TEST(PostprocessTest, FillHolesKeepsHoleTouchingBorder) {
  cv::Mat open = MaskFromText({
      "######",  //
      "#.....",  // background reaching the right border: not a hole
      "#.....",  //
      "######",
  });
  EXPECT_EQ(cv::countNonZero(FillHoles(open) != open), 0);
}

TEST(PostprocessTest, FillHolesTreatsDiagonalLeakAsClosed) {
  // The centre background pixel meets the border background only at a corner; with
  // 4-connected background it is a hole.
  cv::Mat mask = MaskFromText({
      ".##",  //
      "#.#",  //
      "###",
  });
  cv::Mat filled = FillHoles(mask);
  EXPECT_EQ(filled.at<std::uint8_t>(1, 1), 255);
  EXPECT_EQ(filled.at<std::uint8_t>(0, 0), 0);
}

// --- Instances -----------------------------------------------------------------------------------

TEST(PostprocessTest, ConnectedComponentsAreEightConnectedAndRasterOrdered) {
  cv::Mat mask = MaskFromText({
      "....##",  //
      "#...##",  //
      ".#....",  // touches the pixel above-left diagonally: same object
      "....#.",
  });
  cv::Mat labels = LabelConnectedComponents(mask);
  ExpectConsecutiveRasterOrder(labels);
  EXPECT_EQ(MaxLabel(labels), 3);
  EXPECT_EQ(labels.at<int>(0, 4), 1);
  EXPECT_EQ(labels.at<int>(1, 0), 2);
  EXPECT_EQ(labels.at<int>(2, 1), 2);
  EXPECT_EQ(labels.at<int>(3, 4), 3);
}

TEST(PostprocessTest, WatershedSplitsTouchingDiscsThatConnectedComponentsJoin) {
  const cv::Mat mask = TouchingDiscs();
  EXPECT_EQ(MaxLabel(LabelConnectedComponents(mask)), 1);

  cv::Mat labels = LabelWatershed(mask, 4);
  ASSERT_EQ(labels.type(), CV_32S);
  ASSERT_EQ(MaxLabel(labels), 2);
  ExpectConsecutiveRasterOrder(labels);
  // Every foreground pixel is labelled, nothing else is.
  EXPECT_EQ(cv::countNonZero((labels > 0) != mask), 0);
  // Each disc's centre carries its own label, and the cut runs through the neck (x = 31).
  EXPECT_NE(labels.at<int>(20, 22), labels.at<int>(20, 40));
  for (int y = 0; y < labels.rows; ++y) {
    for (int x = 0; x < labels.cols; ++x) {
      if (labels.at<int>(y, x) == 0) continue;
      if (x <= 29) {
        EXPECT_EQ(labels.at<int>(y, x), labels.at<int>(20, 22)) << x << "," << y;
      }
      if (x >= 33) {
        EXPECT_EQ(labels.at<int>(y, x), labels.at<int>(20, 40)) << x << "," << y;
      }
    }
  }
}

TEST(PostprocessTest, WatershedKeepsSingleDiscWhole) {
  cv::Mat mask = cv::Mat::zeros(48, 48, CV_8U);
  cv::circle(mask, {24, 24}, 15, cv::Scalar(255), cv::FILLED);
  for (int min_distance : {1, 2, 4, 8}) {
    cv::Mat labels = LabelWatershed(mask, min_distance);
    EXPECT_EQ(MaxLabel(labels), 1) << "min_distance " << min_distance;
    EXPECT_EQ(cv::countNonZero((labels > 0) != mask), 0);
  }
}

TEST(PostprocessTest, WatershedLabelsOnePixelObjectsAndBorderObjects) {
  cv::Mat mask = cv::Mat::zeros(32, 32, CV_8U);
  mask.at<std::uint8_t>(2, 2) = 255;                                         // one pixel
  cv::circle(mask, {20, 20}, 6, cv::Scalar(255), cv::FILLED);                // a disc
  cv::rectangle(mask, cv::Rect(0, 28, 32, 4), cv::Scalar(255), cv::FILLED);  // a border strip
  cv::Mat labels = LabelWatershed(mask, 4);
  ExpectConsecutiveRasterOrder(labels);
  EXPECT_EQ(labels.at<int>(2, 2), 1);
  EXPECT_EQ(MaxLabel(labels), 3);
  EXPECT_EQ(cv::countNonZero((labels > 0) != mask), 0);
}

TEST(PostprocessTest, WatershedDropsSeedsCloserThanMinDistance) {
  // The two disc centres are 18 px apart: separate seeds at min_distance 4, one at 20.
  EXPECT_EQ(MaxLabel(LabelWatershed(TouchingDiscs(), 4)), 2);
  EXPECT_EQ(MaxLabel(LabelWatershed(TouchingDiscs(), 20)), 1);
  // A long bar's distance ridge is one plateau, so it is one seed and one object.
  cv::Mat bar = cv::Mat::zeros(20, 60, CV_8U);
  bar(cv::Rect(5, 5, 50, 9)).setTo(255);
  EXPECT_EQ(MaxLabel(LabelWatershed(bar, 2)), 1);
}

TEST(PostprocessTest, WatershedSeedsObjectOutshoneByNeighbour) {
  // The speck's distance (1) is below the disc's within its 9×9 window, so it is no local
  // maximum; it still becomes an object of its own.
  cv::Mat mask = cv::Mat::zeros(40, 40, CV_8U);
  cv::circle(mask, {20, 20}, 12, cv::Scalar(255), cv::FILLED);
  mask.at<std::uint8_t>(20, 34) = 255;
  cv::Mat labels = LabelWatershed(mask, 4);
  EXPECT_EQ(MaxLabel(labels), 2);
  EXPECT_NE(labels.at<int>(20, 34), 0);
  EXPECT_NE(labels.at<int>(20, 34), labels.at<int>(20, 20));
}

TEST(PostprocessTest, WatershedOfFullAndEmptyMasks) {
  cv::Mat full(16, 16, CV_8U, cv::Scalar(255));
  cv::Mat labels = LabelWatershed(full, 4);
  EXPECT_EQ(cv::countNonZero(labels != 1), 0);

  cv::Mat empty = cv::Mat::zeros(16, 16, CV_8U);
  labels = LabelWatershed(empty, 4);
  ASSERT_EQ(labels.type(), CV_32S);
  EXPECT_EQ(cv::countNonZero(labels), 0);
}

TEST(PostprocessTest, WatershedIsDeterministic) {
  cv::Mat mask = cv::Mat::zeros(96, 96, CV_8U);
  cv::RNG rng(3);
  for (int i = 0; i < 25; ++i) {
    cv::circle(mask, {rng.uniform(8, 88), rng.uniform(8, 88)}, rng.uniform(4, 10), cv::Scalar(255),
               cv::FILLED);
  }
  cv::Mat first = LabelWatershed(mask, 3), second = LabelWatershed(mask, 3);
  EXPECT_EQ(cv::countNonZero(first != second), 0);
  ExpectConsecutiveRasterOrder(first);
  EXPECT_EQ(cv::countNonZero((first > 0) != mask), 0);
  EXPECT_GE(MaxLabel(first), MaxLabel(LabelConnectedComponents(mask)));
}

TEST(PostprocessTest, RemoveSmallLabelsDropsAndRenumbers) {
  cv::Mat labels = (cv::Mat_<std::uint16_t>(2, 6) << 7, 7, 0, 3, 0, 900,  //
                    7, 7, 0, 3, 0, 900);
  cv::Mat kept = RemoveSmallLabels(labels, 3);
  cv::Mat expected = (cv::Mat_<int>(2, 6) << 1, 1, 0, 0, 0, 0,  //
                      1, 1, 0, 0, 0, 0);
  ASSERT_EQ(kept.type(), CV_32S);
  EXPECT_EQ(cv::countNonZero(kept != expected), 0);
  cv::Mat all = RemoveSmallLabels(labels, 0);
  EXPECT_EQ(all.at<int>(0, 0), 1);
  EXPECT_EQ(all.at<int>(0, 3), 2);
  EXPECT_EQ(all.at<int>(0, 5), 3);
}

// --- Seeded watershed ---------------------------------------------------------------------------

cv::Mat ProbabilityFromMask(const cv::Mat& mask) {
  cv::Mat probability(mask.size(), CV_32F, cv::Scalar(0.1f));
  probability.setTo(0.9f, mask);
  return probability;
}

// A seed probability map: 0.9 inside the given filled discs ({x, y, radius}), 0.1 elsewhere.
cv::Mat SeedMap(cv::Size size, const std::vector<cv::Vec3i>& discs) {
  cv::Mat seed(size, CV_32F, cv::Scalar(0.1f));
  for (const cv::Vec3i& d : discs) {
    cv::circle(seed, {d[0], d[1]}, d[2], cv::Scalar(0.9f), cv::FILLED);
  }
  return seed;
}

PostprocessRecipe SeededRecipe() {
  PostprocessRecipe recipe;
  recipe.instances = InstanceMethod::kWatershed;
  recipe.seed_channel = 1;
  recipe.seed_threshold = 0.5;
  recipe.min_seed_area = 3;
  return recipe;
}

TEST(PostprocessTest, SeedMarkersAreSeedBlobsInsideTheMaskWithEnoughPixels) {
  const cv::Mat mask = MaskFromText({
      "######..",
      "######..",
      "######..",
  });
  cv::Mat seed(mask.size(), CV_32F, cv::Scalar(0.0f));
  seed(cv::Rect(0, 0, 2, 2)).setTo(0.8f);  // 4 px inside: seed 1
  seed.at<float>(2, 3) = 0.8f;             // 1 px inside: too small
  seed(cv::Rect(5, 0, 3, 1)).setTo(0.8f);  // 1 px inside, 2 outside: too small once masked
  seed.at<float>(2, 7) = 0.8f;             // outside only
  const cv::Mat markers = SeedMarkers(seed, mask, 0.5, 2);
  ASSERT_EQ(markers.type(), CV_32S);
  const cv::Mat expected = (cv::Mat_<int>(3, 8) << 1, 1, 0, 0, 0, 0, 0, 0,  //
                            1, 1, 0, 0, 0, 0, 0, 0,                         //
                            0, 0, 0, 0, 0, 0, 0, 0);
  EXPECT_EQ(cv::countNonZero(markers != expected), 0);
  EXPECT_EQ(MaxLabel(SeedMarkers(seed, mask, 0.5, 1)), 3);
}

TEST(PostprocessTest, SeededWatershedSplitsTouchingDiscsWithTwoSeedBlobs) {
  const cv::Mat mask = TouchingDiscs();
  cv::Mat image(mask.size(), CV_8U, cv::Scalar(50));
  const cv::Mat seed = SeedMap(mask.size(), {{22, 20, 4}, {40, 20, 4}});
  auto result = SegmentFromProbability(ProbabilityFromMask(mask), image, SeededRecipe(), seed);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const cv::Mat& labels = result->labels;
  ASSERT_EQ(result->summary.object_count, 2);
  ExpectConsecutiveRasterOrder(labels);
  EXPECT_EQ(cv::countNonZero((labels > 0) != mask), 0);
  EXPECT_NE(labels.at<int>(20, 22), labels.at<int>(20, 40));
  for (int y = 0; y < labels.rows; ++y) {
    for (int x = 0; x < labels.cols; ++x) {
      if (labels.at<int>(y, x) == 0) continue;
      if (x <= 29) {
        EXPECT_EQ(labels.at<int>(y, x), labels.at<int>(20, 22)) << x << "," << y;
      }
      if (x >= 33) {
        EXPECT_EQ(labels.at<int>(y, x), labels.at<int>(20, 40)) << x << "," << y;
      }
    }
  }
}

TEST(PostprocessTest, SeededWatershedKeepsTouchingDiscsWholeWithOneMergedSeedBlob) {
  // The distance-transform watershed splits these discs; one seed blob spanning both centres
  // says they are one object.
  const cv::Mat mask = TouchingDiscs();
  cv::Mat image(mask.size(), CV_8U, cv::Scalar(50));
  cv::Mat seed = SeedMap(mask.size(), {});
  seed(cv::Rect(20, 18, 23, 5)).setTo(0.9f);
  auto result = SegmentFromProbability(ProbabilityFromMask(mask), image, SeededRecipe(), seed);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->summary.object_count, 1);
  EXPECT_EQ(cv::countNonZero((result->labels > 0) != mask), 0);
}

TEST(PostprocessTest, SeededWatershedIgnoresSeedsOutsideTheForegroundAndTinySeeds) {
  const cv::Mat mask = TouchingDiscs();
  cv::Mat image(mask.size(), CV_8U, cv::Scalar(50));
  // One real seed in the left disc; a blob in the background; a 1-px speck in the right disc
  // (below min_seed_area 3).
  cv::Mat seed = SeedMap(mask.size(), {{22, 20, 4}, {55, 5, 3}});
  seed.at<float>(20, 40) = 0.9f;
  auto result = SegmentFromProbability(ProbabilityFromMask(mask), image, SeededRecipe(), seed);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->summary.object_count, 1);
  EXPECT_EQ(result->labels.at<int>(5, 55), 0);
  EXPECT_EQ(cv::countNonZero((result->labels > 0) != mask), 0);
}

TEST(PostprocessTest, SeededWatershedStillLabelsForegroundWithoutASeed) {
  cv::Mat mask = cv::Mat::zeros(40, 64, CV_8U);
  cv::circle(mask, {12, 20}, 8, cv::Scalar(255), cv::FILLED);
  cv::circle(mask, {48, 20}, 8, cv::Scalar(255), cv::FILLED);
  cv::Mat image(mask.size(), CV_8U, cv::Scalar(50));
  const cv::Mat seed = SeedMap(mask.size(), {{12, 20, 3}});  // only the left disc has a seed
  auto result = SegmentFromProbability(ProbabilityFromMask(mask), image, SeededRecipe(), seed);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->summary.object_count, 2);
  EXPECT_NE(result->labels.at<int>(20, 48), 0);
  EXPECT_NE(result->labels.at<int>(20, 48), result->labels.at<int>(20, 12));
  EXPECT_EQ(cv::countNonZero((result->labels > 0) != mask), 0);

  // No seeds at all: every component is still one object.
  const cv::Mat nothing = SeedMap(mask.size(), {});
  EXPECT_EQ(MaxLabel(LabelWatershedFromMarkers(mask, SeedMarkers(nothing, mask, 0.5, 1))), 2);
}

TEST(PostprocessTest, SeededWatershedFloodsTheReliefMostProbableFirst) {
  // Seeds at both disc centres. On the distance transform the cut runs through the neck
  // (x = 31); a relief that is high everywhere left of x = 36 lets the left seed claim those
  // pixels before the right seed grows into them.
  const cv::Mat mask = TouchingDiscs();
  const cv::Mat seed = SeedMap(mask.size(), {{22, 20, 4}, {40, 20, 4}});
  const cv::Mat markers = SeedMarkers(seed, mask, 0.5, 1);
  ASSERT_EQ(MaxLabel(markers), 2);

  const cv::Mat by_distance = LabelWatershedFromMarkers(mask, markers);
  EXPECT_EQ(by_distance.at<int>(20, 34), by_distance.at<int>(20, 40));

  cv::Mat relief(mask.size(), CV_32F, cv::Scalar(0.1f));
  relief(cv::Rect(0, 0, 36, mask.rows)).setTo(0.9f);
  const cv::Mat by_relief = LabelWatershedFromMarkers(mask, markers, relief);
  ASSERT_EQ(MaxLabel(by_relief), 2);
  EXPECT_EQ(by_relief.at<int>(20, 34), by_relief.at<int>(20, 22));
  EXPECT_EQ(by_relief.at<int>(20, 35), by_relief.at<int>(20, 22));
  EXPECT_EQ(by_relief.at<int>(20, 36), by_relief.at<int>(20, 40));  // the right seed itself
  EXPECT_EQ(cv::countNonZero((by_relief > 0) != mask), 0);
}

TEST(PostprocessTest, SegmentFromProbabilityNeedsAMatchingSeedMapWithASeedChannel) {
  const cv::Mat mask = TouchingDiscs();
  cv::Mat image(mask.size(), CV_8U, cv::Scalar(50));
  const cv::Mat probability = ProbabilityFromMask(mask);
  auto r = SegmentFromProbability(probability, image, SeededRecipe());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "postprocess seed_channel 1 is set, but no seed probability map was given");
  r = SegmentFromProbability(probability, image, SeededRecipe(), cv::Mat(4, 4, CV_32F));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "seed probability map 4x4 does not match probability map 64x40");

  // Without a seed channel a seed map is ignored: the distance-transform watershed decides.
  PostprocessRecipe plain = SeededRecipe();
  plain.seed_channel.reset();
  cv::Mat merged = SeedMap(mask.size(), {});
  merged(cv::Rect(20, 18, 23, 5)).setTo(0.9f);
  auto unseeded = SegmentFromProbability(probability, image, plain, merged);
  ASSERT_TRUE(unseeded.ok()) << unseeded.status().ToString();
  EXPECT_EQ(unseeded->summary.object_count, 2);
}

// --- The whole chain -----------------------------------------------------------------------------

TEST(PostprocessTest, SegmentFromProbabilityFollowsInstanceMethod) {
  cv::Mat mask = TouchingDiscs();
  mask.at<std::uint8_t>(0, 0) = 255;  // a 1-px speck, below min_object_area
  cv::Mat image(mask.size(), CV_16U, cv::Scalar(1000));
  const cv::Mat probability = ProbabilityFromMask(mask);

  PostprocessRecipe recipe;
  recipe.min_object_area = 5;
  recipe.instances = InstanceMethod::kWatershed;
  auto watershed = SegmentFromProbability(probability, image, recipe);
  ASSERT_TRUE(watershed.ok()) << watershed.status().ToString();
  EXPECT_EQ(watershed->summary.object_count, 2);
  EXPECT_EQ(watershed->labels.at<int>(0, 0), 0);
  ASSERT_EQ(watershed->objects.size(), 2u);
  EXPECT_DOUBLE_EQ(watershed->objects[0].mean_intensity, 1000.0);
  EXPECT_EQ(watershed->probability.data, probability.data);  // kept, not copied

  recipe.instances = InstanceMethod::kConnectedComponents;
  auto components = SegmentFromProbability(probability, image, recipe);
  ASSERT_TRUE(components.ok());
  EXPECT_EQ(components->summary.object_count, 1);

  recipe.instances = InstanceMethod::kNone;
  mask.at<std::uint8_t>(39, 63) = 255;  // two separate regions, still one semantic object
  mask.at<std::uint8_t>(39, 62) = 255;
  mask.at<std::uint8_t>(38, 63) = 255;
  mask.at<std::uint8_t>(38, 62) = 255;
  mask.at<std::uint8_t>(37, 63) = 255;
  auto semantic = SegmentFromProbability(ProbabilityFromMask(mask), image, recipe);
  ASSERT_TRUE(semantic.ok());
  EXPECT_EQ(semantic->summary.object_count, 1);
  EXPECT_EQ(semantic->labels.at<int>(39, 63), 1);
  EXPECT_EQ(semantic->labels.at<int>(0, 0), 0);
}

TEST(PostprocessTest, SegmentFromProbabilityFillsHolesWhenAsked) {
  cv::Mat mask = cv::Mat::zeros(32, 32, CV_8U);
  cv::rectangle(mask, cv::Rect(8, 8, 16, 16), cv::Scalar(255), 3);
  cv::Mat image(mask.size(), CV_8U, cv::Scalar(7));
  PostprocessRecipe recipe;
  recipe.instances = InstanceMethod::kConnectedComponents;
  recipe.fill_holes = true;
  auto filled = SegmentFromProbability(ProbabilityFromMask(mask), image, recipe);
  ASSERT_TRUE(filled.ok());
  EXPECT_EQ(filled->labels.at<int>(16, 16), 1);
  recipe.fill_holes = false;
  auto hollow = SegmentFromProbability(ProbabilityFromMask(mask), image, recipe);
  ASSERT_TRUE(hollow.ok());
  EXPECT_EQ(hollow->labels.at<int>(16, 16), 0);
}

TEST(PostprocessTest, SegmentFromProbabilityRejectsMismatchedInputs) {
  cv::Mat image(8, 8, CV_8U, cv::Scalar(0));
  PostprocessRecipe recipe;
  auto r = SegmentFromProbability(cv::Mat(8, 8, CV_64F, cv::Scalar(0)), image, recipe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "probability map: expected CV_32FC1, got CV_64FC1");

  r = SegmentFromProbability(cv::Mat(4, 8, CV_32F, cv::Scalar(0)), image, recipe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "probability map 8x4 does not match image 8x8");

  r = SegmentFromProbability(cv::Mat(), image, recipe);
  EXPECT_FALSE(r.ok());

  recipe.min_distance = 0;
  r = SegmentFromProbability(cv::Mat(8, 8, CV_32F, cv::Scalar(0)), image, recipe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "postprocess min_distance 0 must be at least 1 for watershed");
}

// --- Measurements --------------------------------------------------------------------------------

TEST(MeasureObjectsTest, MeasuresRectangleExactly) {
  cv::Mat labels = cv::Mat::zeros(12, 20, CV_32S);
  labels(cv::Rect(3, 2, 10, 5)).setTo(1);  // 10 wide, 5 tall
  cv::Mat intensity(12, 20, CV_16U);
  for (int y = 0; y < 12; ++y) {
    for (int x = 0; x < 20; ++x)
      intensity.at<std::uint16_t>(y, x) = static_cast<std::uint16_t>(x + 100 * y);
  }
  auto objects = MeasureObjects(labels, intensity);
  ASSERT_EQ(objects.size(), 1u);
  const ObjectMeasurement& m = objects[0];
  EXPECT_EQ(m.label, 1);
  EXPECT_EQ(m.area, 50);
  EXPECT_DOUBLE_EQ(m.centroid_x, 7.5);
  EXPECT_DOUBLE_EQ(m.centroid_y, 4.0);
  EXPECT_EQ(m.bbox_x, 3);
  EXPECT_EQ(m.bbox_y, 2);
  EXPECT_EQ(m.bbox_width, 10);
  EXPECT_EQ(m.bbox_height, 5);
  EXPECT_DOUBLE_EQ(m.perimeter, 26.0);  // 2 * (9 + 4) through the boundary pixel centres
  // Variances (n² - 1) / 12: 99/12 along x, 24/12 along y.
  EXPECT_NEAR(m.eccentricity, std::sqrt(1.0 - 2.0 / 8.25), 1e-12);
  EXPECT_DOUBLE_EQ(m.mean_intensity, 7.5 + 100 * 4.0);
}

TEST(MeasureObjectsTest, EccentricityOfSquareLineAndPixel) {
  cv::Mat labels = cv::Mat::zeros(30, 30, CV_32S);
  labels(cv::Rect(2, 2, 6, 6)).setTo(1);    // square
  labels(cv::Rect(5, 12, 20, 1)).setTo(2);  // 1×20 line
  labels.at<int>(20, 20) = 3;               // single pixel
  auto objects = MeasureObjects(labels, cv::Mat());
  ASSERT_EQ(objects.size(), 3u);
  EXPECT_NEAR(objects[0].eccentricity, 0.0, 1e-12);
  EXPECT_GT(objects[1].eccentricity, 0.99);
  EXPECT_LE(objects[1].eccentricity, 1.0);
  EXPECT_EQ(objects[2].eccentricity, 0.0);
  EXPECT_EQ(objects[2].area, 1);
  EXPECT_EQ(objects[2].perimeter, 0.0);
  EXPECT_EQ(objects[0].mean_intensity, 0.0);  // no intensity image given
}

TEST(MeasureObjectsTest, UsesFirstChannelAndSortsSparseLabels) {
  cv::Mat labels = cv::Mat::zeros(4, 4, CV_32S);
  labels.at<int>(0, 0) = 1'000'000;
  labels.at<int>(3, 3) = 7;
  cv::Mat bgr(4, 4, CV_8UC3, cv::Scalar(10, 20, 30));
  bgr.at<cv::Vec3b>(0, 0) = {50, 0, 0};
  auto objects = MeasureObjects(labels, bgr);
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(objects[0].label, 7);
  EXPECT_EQ(objects[0].mean_intensity, 10.0);
  EXPECT_EQ(objects[1].label, 1'000'000);
  EXPECT_EQ(objects[1].mean_intensity, 50.0);
}

TEST(MeasureObjectsTest, SummaryCountsConfluenceAndMeanArea) {
  cv::Mat labels = cv::Mat::zeros(12, 20, CV_32S);
  labels(cv::Rect(3, 2, 10, 5)).setTo(1);   // 50 px
  labels(cv::Rect(0, 10, 10, 1)).setTo(2);  // 10 px
  auto objects = MeasureObjects(labels, cv::Mat());
  ImageSummary summary = Summarize(labels, objects);
  EXPECT_EQ(summary.width, 20);
  EXPECT_EQ(summary.height, 12);
  EXPECT_EQ(summary.object_count, 2);
  EXPECT_DOUBLE_EQ(summary.confluence_percent, 60.0 / 240.0 * 100.0);
  EXPECT_DOUBLE_EQ(summary.mean_object_area, 30.0);

  ImageSummary empty = Summarize(cv::Mat::zeros(5, 5, CV_32S), {});
  EXPECT_EQ(empty.object_count, 0);
  EXPECT_EQ(empty.confluence_percent, 0.0);
  EXPECT_EQ(empty.mean_object_area, 0.0);
}

// --- Timing (prints only; no timed assertions) ---------------------------------------------------

TEST(PostprocessTimingTest, PrintsMegapixelLabelAndMeasureTimes) {
  // ~500 cells of radius 10–18 scattered over 1024×1024, many of them touching.
  cv::Mat mask = cv::Mat::zeros(1024, 1024, CV_8U);
  cv::RNG rng(12345);
  for (int i = 0; i < 500; ++i) {
    cv::circle(mask, {rng.uniform(0, 1024), rng.uniform(0, 1024)}, rng.uniform(10, 18),
               cv::Scalar(255), cv::FILLED);
  }
  cv::Mat intensity(1024, 1024, CV_16U);
  rng.fill(intensity, cv::RNG::UNIFORM, 0, 4096);

  const int threads = cv::getNumThreads();
  cv::setNumThreads(1);  // one core, as the budget is stated
  auto best_ms = [](auto&& fn) {
    double best = 1e9;
    for (int run = 0; run < 5; ++run) {
      const auto start = std::chrono::steady_clock::now();
      fn();
      const std::chrono::duration<double, std::milli> took =
          std::chrono::steady_clock::now() - start;
      best = std::min(best, took.count());
    }
    return best;
  };
  cv::Mat watershed, components;
  std::vector<ObjectMeasurement> objects;
  const double watershed_ms = best_ms([&] { watershed = LabelWatershed(mask, 4); });
  const double components_ms = best_ms([&] { components = LabelConnectedComponents(mask); });
  const double measure_ms = best_ms([&] { objects = MeasureObjects(watershed, intensity); });
  PostprocessRecipe recipe;
  recipe.min_object_area = 20;
  const cv::Mat probability = ProbabilityFromMask(mask);
  const double segment_ms =
      best_ms([&] { (void)SegmentFromProbability(probability, intensity, recipe); });
  cv::setNumThreads(threads);

  std::printf(
      "[timing] 1024x1024, %d components, %d watershed objects (1 thread, best of 5):\n"
      "  LabelWatershed %.1f ms, LabelConnectedComponents %.1f ms, MeasureObjects %.1f ms, "
      "SegmentFromProbability (watershed) %.1f ms\n",
      MaxLabel(components), MaxLabel(watershed), watershed_ms, components_ms, measure_ms,
      segment_ms);
  EXPECT_EQ(static_cast<int>(objects.size()), MaxLabel(watershed));
}

}  // namespace
}  // namespace orbit::vision
