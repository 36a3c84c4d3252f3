// The trained cellseg U-Net (models/cellseg/model.onnx, exported by models/cellseg/train.py) loads
// in the production engine with the interface the serving pipeline relies on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <vector>

#include "runtime/engine.h"

namespace orbit::runtime {
namespace {

using ::testing::ElementsAre;

const std::filesystem::path kModelPath =
    std::filesystem::path(ORBIT_SOURCE_DIR) / "models/cellseg/model.onnx";

TEST(CellsegModelTest, LoadsWithImageInputAndLogitsOutputAndRunsZeros) {
  ASSERT_TRUE(std::filesystem::exists(kModelPath))
      << kModelPath << " is missing: it is produced by `/usr/bin/python3 models/cellseg/train.py` "
      << "and must be committed with the repository";
  auto loaded = LoadOnnxEngine(kModelPath);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const Engine& engine = **loaded;
  EXPECT_EQ(engine.name(), "model");

  ASSERT_EQ(engine.inputs().size(), 1u);
  EXPECT_EQ(engine.inputs()[0].name, "image");
  EXPECT_EQ(engine.inputs()[0].dtype, DType::kFloat32);
  EXPECT_THAT(engine.inputs()[0].shape, ElementsAre(-1, 1, -1, -1));
  ASSERT_EQ(engine.outputs().size(), 1u);
  EXPECT_EQ(engine.outputs()[0].name, "logits");
  EXPECT_EQ(engine.outputs()[0].dtype, DType::kFloat32);

  auto image = Tensor::Zeros(DType::kFloat32, {1, 1, 64, 64});
  ASSERT_TRUE(image.ok());
  std::vector<Tensor> inputs;
  inputs.push_back(std::move(image).value());
  auto outputs = engine.Run(inputs);
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ASSERT_EQ(outputs->size(), 1u);
  const Tensor& logits = (*outputs)[0];
  EXPECT_EQ(logits.dtype(), DType::kFloat32);
  // Channel 0 = foreground logit, channel 1 = cell-core (watershed seed) logit.
  EXPECT_THAT(logits.shape(), ElementsAre(1, 2, 64, 64));
  for (const float value : logits.data<float>()) ASSERT_TRUE(std::isfinite(value));
}

}  // namespace
}  // namespace orbit::runtime
