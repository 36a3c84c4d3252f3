#include "optimize/calibration_inputs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>

#include "vision/image_io.h"

namespace orbit::optimize {
namespace {
namespace fs = std::filesystem;

class CalibrationInputsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("orbit_calibration_inputs_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    recipe_.pad_to_multiple = 16;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path WriteImage(const std::string& name, int width, int height) {
    cv::Mat image(height, width, CV_16U);
    cv::randu(image, 0, 4000);
    const fs::path path = dir_ / name;
    EXPECT_TRUE(vision::WritePng(path, image).ok());
    return path;
  }

  fs::path dir_;
  vision::PreprocessRecipe recipe_;
};

TEST_F(CalibrationInputsTest, SmallImageIsOnePaddedTensor) {
  auto inputs = PrepareCalibrationInputs({WriteImage("a.png", 100, 70)}, recipe_);
  ASSERT_TRUE(inputs.ok()) << inputs.status().ToString();
  ASSERT_EQ(inputs->size(), 1u);
  EXPECT_EQ((*inputs)[0].shape(), (Shape{1, 1, 80, 112}));
  EXPECT_EQ((*inputs)[0].dtype(), DType::kFloat32);
}

TEST_F(CalibrationInputsTest, LargeImageIsCutIntoBoundedTiles) {
  auto inputs = PrepareCalibrationInputs({WriteImage("big.png", 700, 300)}, recipe_, {256, 8});
  ASSERT_TRUE(inputs.ok()) << inputs.status().ToString();
  // 3 x 2 grid of tiles of at most 256: widths 256, 256, 188 (-> 192), heights 256, 44 (-> 48).
  ASSERT_EQ(inputs->size(), 6u);
  for (const Tensor& t : *inputs) {
    EXPECT_LE(t.shape()[2], 256);
    EXPECT_LE(t.shape()[3], 256);
    EXPECT_EQ(t.shape()[2] % 16, 0);
    EXPECT_EQ(t.shape()[3] % 16, 0);
  }
}

TEST_F(CalibrationInputsTest, TilesPerImageAreCapped) {
  auto inputs = PrepareCalibrationInputs({WriteImage("big.png", 1024, 1024)}, recipe_, {256, 3});
  ASSERT_TRUE(inputs.ok()) << inputs.status().ToString();
  EXPECT_EQ(inputs->size(), 3u);
}

TEST_F(CalibrationInputsTest, EmptySetIsInvalidArgument) {
  auto inputs = PrepareCalibrationInputs({}, recipe_);
  ASSERT_FALSE(inputs.ok());
  EXPECT_EQ(inputs.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(inputs.status().message().find("empty"), std::string::npos);
}

TEST_F(CalibrationInputsTest, ListsEveryImageThatFailsToDecode) {
  const fs::path good = WriteImage("good.png", 64, 64);
  const fs::path bad1 = dir_ / "bad1.png";
  const fs::path bad2 = dir_ / "bad2.tif";
  std::ofstream(bad1) << "not a png";
  std::ofstream(bad2) << "not a tiff";
  auto inputs = PrepareCalibrationInputs({good, bad1, bad2}, recipe_);
  ASSERT_FALSE(inputs.ok());
  EXPECT_EQ(inputs.status().code(), StatusCode::kInvalidArgument);
  const std::string& message = inputs.status().message();
  EXPECT_NE(message.find("2 of 3 calibration image(s) failed"), std::string::npos) << message;
  EXPECT_NE(message.find("bad1.png"), std::string::npos) << message;
  EXPECT_NE(message.find("bad2.tif"), std::string::npos) << message;
  EXPECT_EQ(message.find("good.png"), std::string::npos) << message;
}

TEST_F(CalibrationInputsTest, TileSizeMustBeAMultipleOfThePadding) {
  auto inputs = PrepareCalibrationInputs({WriteImage("a.png", 64, 64)}, recipe_, {100, 4});
  ASSERT_FALSE(inputs.ok());
  EXPECT_NE(inputs.status().message().find("multiple"), std::string::npos);
}

TEST_F(CalibrationInputsTest, NormalisesLikeTheRecipe) {
  // Percentile normalisation maps the 1st..99.8th percentile to about 0..1.
  auto inputs = PrepareCalibrationInputs({WriteImage("a.png", 128, 128)}, recipe_);
  ASSERT_TRUE(inputs.ok());
  const auto values = (*inputs)[0].data<float>();
  float lo = values[0], hi = values[0];
  for (float v : values) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_NEAR(lo, 0.0, 0.05);
  EXPECT_NEAR(hi, 1.0, 0.05);
}

}  // namespace
}  // namespace orbit::optimize
