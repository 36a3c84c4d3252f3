// Tiled inference with the real demo model: a large image run in overlapping tiles gives the same
// segmentation as the same image run in one piece, with no seam where tiles meet.
#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "repository/model_package.h"
#include "vision/image_io.h"
#include "vision/pipeline.h"

namespace orbit::repository {
namespace {
namespace fs = std::filesystem;

const fs::path kModel = fs::path(ORBIT_SOURCE_DIR) / "models/cellseg";

// 1152 x 768 mosaic of 8-bit fixture images (resized to 384 x 384 each): real cell statistics,
// large enough for several tiles.
cv::Mat Mosaic() {
  std::vector<cv::Mat> rows;
  int index = 0;
  for (int r = 0; r < 2; ++r) {
    std::vector<cv::Mat> row;
    for (int c = 0; c < 3; ++c) {
      char name[32];
      std::snprintf(name, sizeof(name), "img_%03d.png", index++);
      auto image = vision::ReadImageFile(kModel / "fixtures/images" / name);
      EXPECT_TRUE(image.ok()) << image.status().ToString();
      cv::Mat resized;
      cv::resize(*image, resized, cv::Size(384, 384));
      row.push_back(resized);
    }
    cv::Mat joined;
    cv::hconcat(row, joined);
    rows.push_back(joined);
  }
  cv::Mat mosaic;
  cv::vconcat(rows, mosaic);
  return mosaic;
}

TEST(TiledInferenceTest, TiledSegmentationMatchesWholeImageWithoutSeams) {
  auto package = LoadModelPackage(kModel);
  ASSERT_TRUE(package.ok()) << package.status().ToString();
  const cv::Mat image = Mosaic();
  ASSERT_EQ(image.size(), cv::Size(1152, 768));

  vision::ModelRecipe whole = package->recipe();
  whole.tile = {2048, 64};  // larger than the image: one piece
  vision::ModelRecipe tiled = package->recipe();
  tiled.tile = {512, 128};  // 3 x 2 tiles, the last in each direction aligned to the border

  int calls_whole = 0, calls_tiled = 0;
  const vision::InferFn infer = package->MakeInferFn();
  auto counting = [&infer](int* calls) {
    return [&infer, calls](Tensor input) {
      ++*calls;
      return infer(std::move(input));
    };
  };
  auto a = vision::SegmentationPipeline(whole).Run(image, counting(&calls_whole));
  auto b = vision::SegmentationPipeline(tiled).Run(image, counting(&calls_tiled));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(calls_whole, 1);
  EXPECT_EQ(calls_tiled, 6);

  // Foreground agreement over the whole image and along the tile cuts.
  const cv::Mat fg_a = a->labels > 0, fg_b = b->labels > 0;
  const double differing = cv::countNonZero(fg_a != fg_b);
  EXPECT_LT(differing / static_cast<double>(image.total()), 0.002);
  const double max_prob_diff = cv::norm(a->probability, b->probability, cv::NORM_INF);
  EXPECT_LT(max_prob_diff, 0.5) << "a tile seam flips a confident pixel";
  // Object counts agree to within a couple of objects out of several hundred.
  EXPECT_NEAR(a->summary.object_count, b->summary.object_count,
              std::max(2.0, 0.01 * a->summary.object_count));
  EXPECT_GT(a->summary.object_count, 100);
}

}  // namespace
}  // namespace orbit::repository
