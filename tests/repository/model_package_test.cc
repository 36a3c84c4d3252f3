#include "repository/model_package.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace orbit::repository {
namespace {
namespace fs = std::filesystem;

const fs::path kModel = fs::path(ORBIT_SOURCE_DIR) / "models/cellseg";

class ModelPackageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("orbit_package_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string ReadAll(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  // A package in dir_/name with the demo model and orbit.yaml after replacing `from` by `to`.
  fs::path PackageWithYamlEdit(const std::string& name, const std::string& from,
                               const std::string& to) {
    const fs::path pkg = dir_ / name;
    fs::create_directories(pkg);
    fs::copy_file(kModel / "model.onnx", pkg / "model.onnx");
    std::string yaml = ReadAll(kModel / "orbit.yaml");
    const auto at = yaml.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) yaml.replace(at, from.size(), to);
    std::ofstream(pkg / "orbit.yaml") << yaml;
    return pkg;
  }

  fs::path dir_;
};

TEST_F(ModelPackageTest, LoadsDemoModelDirectory) {
  auto package = LoadModelPackage(kModel);
  ASSERT_TRUE(package.ok()) << package.status().ToString();
  EXPECT_EQ(package->recipe().name, "cellseg");
  EXPECT_EQ(package->model_path, kModel / "model.onnx");
  EXPECT_EQ(package->engine->inputs().at(0).name, "image");
}

TEST_F(ModelPackageTest, PicksHighestNumericVersionDirectory) {
  fs::create_directories(dir_ / "m" / "2");
  fs::create_directories(dir_ / "m" / "10");
  fs::create_directories(dir_ / "m" / "latest");
  fs::copy_file(kModel / "orbit.yaml", dir_ / "m" / "orbit.yaml");
  fs::copy_file(kModel / "model.onnx", dir_ / "m" / "2" / "model.onnx");
  fs::copy_file(kModel / "model.onnx", dir_ / "m" / "10" / "model.onnx");
  fs::copy_file(kModel / "model.onnx", dir_ / "m" / "latest" / "model.onnx");
  auto package = LoadModelPackage(dir_ / "m");
  ASSERT_TRUE(package.ok()) << package.status().ToString();
  EXPECT_EQ(package->model_path, dir_ / "m" / "10" / "model.onnx");
}

TEST_F(ModelPackageTest, BareOnnxFileGetsDefaultRecipeNamedAfterFile) {
  fs::copy_file(kModel / "model.onnx", dir_ / "seg.onnx");
  auto package = LoadModelPackage(dir_ / "seg.onnx");
  ASSERT_TRUE(package.ok()) << package.status().ToString();
  EXPECT_TRUE(package->recipe_path.empty());
  EXPECT_EQ(package->recipe().name, "seg");
  EXPECT_EQ(package->recipe().inputs.at(0).name, "image");
  EXPECT_EQ(package->recipe().preprocess.color, vision::ColorMode::kGray);
}

TEST_F(ModelPackageTest, DirectoryWithoutModelIsNotFound) {
  fs::create_directories(dir_ / "empty");
  auto package = LoadModelPackage(dir_ / "empty");
  ASSERT_FALSE(package.ok());
  EXPECT_EQ(package.status().code(), StatusCode::kNotFound);
  EXPECT_NE(package.status().message().find("has no model.onnx"), std::string::npos);
}

TEST_F(ModelPackageTest, RefusesInputNameThatContradictsModel) {
  auto package = LoadModelPackage(PackageWithYamlEdit("p", "name: image", "name: pixels"));
  ASSERT_FALSE(package.ok());
  EXPECT_EQ(package.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(package.status().message().find("input 0 is named 'pixels'"), std::string::npos)
      << package.status().message();
  EXPECT_NE(package.status().message().find("orbit.yaml"), std::string::npos);
}

TEST_F(ModelPackageTest, RefusesOutputNameThatContradictsModel) {
  auto package = LoadModelPackage(PackageWithYamlEdit("p", "name: logits", "name: scores"));
  ASSERT_FALSE(package.ok());
  EXPECT_NE(package.status().message().find("output 0 is named 'scores' but model 'cellseg' calls "
                                            "it 'logits'"),
            std::string::npos)
      << package.status().message();
}

TEST_F(ModelPackageTest, RefusesStaticDimensionThatContradictsModel) {
  auto package = LoadModelPackage(
      PackageWithYamlEdit("p", "name: logits\n    datatype: FP32\n    shape: [-1, 2, -1, -1]",
                          "name: logits\n    datatype: FP32\n    shape: [-1, 3, -1, -1]"));
  ASSERT_FALSE(package.ok());
  EXPECT_NE(package.status().message().find("declared with shape [-1, 3, -1, -1] but the model has "
                                            "[-1, 2, -1, -1]"),
            std::string::npos)
      << package.status().message();
}

// orbit.yaml's own validation catches a non-FP32 input before the engine is consulted.
TEST_F(ModelPackageTest, RefusesInputDatatypePreprocessingCannotProduce) {
  auto package = LoadModelPackage(PackageWithYamlEdit("p", "datatype: FP32", "datatype: UINT8"));
  ASSERT_FALSE(package.ok());
  EXPECT_NE(package.status().message().find("'inputs[0].datatype' is UINT8"), std::string::npos)
      << package.status().message();
}

TEST_F(ModelPackageTest, RefusesColorModeWithWrongChannelCount) {
  auto package = LoadModelPackage(PackageWithYamlEdit("p", "color: gray", "color: rgb"));
  ASSERT_FALSE(package.ok());
  EXPECT_NE(package.status().message().find("'preprocess.color' gives 3"), std::string::npos)
      << package.status().message();
}

// The engine-side check also catches a colour mode that contradicts a model whose yaml leaves
// the channel dimension dynamic.
TEST_F(ModelPackageTest, EngineCheckRefusesColorModeForStaticChannelModel) {
  auto package = LoadModelPackage(kModel);
  ASSERT_TRUE(package.ok()) << package.status().ToString();
  vision::ModelRecipe recipe = package->recipe();
  recipe.inputs[0].shape = {-1, -1, -1, -1};
  recipe.preprocess.color = vision::ColorMode::kRgb;
  const Status s = CheckRecipeMatchesEngine(recipe, *package->engine, "test.yaml");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("gives 3 channel(s) but input 'image' takes 1"), std::string::npos)
      << s.message();
}

TEST_F(ModelPackageTest, InferFnRunsTheEngine) {
  auto package = LoadModelPackage(kModel);
  ASSERT_TRUE(package.ok()) << package.status().ToString();
  auto input = Tensor::Zeros(DType::kFloat32, {1, 1, 32, 48});
  ASSERT_TRUE(input.ok());
  auto output = package->MakeInferFn()(std::move(*input));
  ASSERT_TRUE(output.ok()) << output.status().ToString();
  EXPECT_EQ(output->shape(), (Shape{1, 2, 32, 48}));
}

}  // namespace
}  // namespace orbit::repository
