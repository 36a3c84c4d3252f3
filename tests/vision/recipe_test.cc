#include "vision/recipe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "core/file.h"

namespace orbit::vision {
namespace {
namespace fs = std::filesystem;

constexpr char kFullRecipe[] = R"(name: cellseg
description: U-Net for fluorescence nuclei
inputs:  [{name: image, datatype: FP32, shape: [-1, 1, -1, -1]}]
outputs: [{name: logits, datatype: FP32, shape: [-1, 1, -1, -1]}]
preprocess:
  color: gray
  resize: null
  pad_to_multiple: 16
  normalize:
    method: percentile
    low: 2.5
    high: 99.5
  layout: NCHW
postprocess:
  activation: sigmoid
  threshold: 0.4
  background_class: 0
  min_object_area: 15
  fill_holes: false
  instances:
    method: connected_components
    min_distance: 6
  tile:
    size: 256
    overlap: 32
)";

// The minimal recipe plus `extra` lines appended (a section that overrides nothing else).
std::string Minimal(const std::string& extra = "") {
  return "name: m\n"
         "inputs: [{name: x, datatype: FP32, shape: [-1, 1, -1, -1]}]\n"
         "outputs: [{name: y, datatype: FP32, shape: [-1, 1, -1, -1]}]\n" +
         extra;
}

TEST(RecipeTest, ParsesEveryFieldOfAFullRecipe) {
  auto recipe = ParseModelRecipe(kFullRecipe, "orbit.yaml");
  ASSERT_TRUE(recipe.ok()) << recipe.status().ToString();
  EXPECT_EQ(recipe->name, "cellseg");
  EXPECT_EQ(recipe->description, "U-Net for fluorescence nuclei");
  ASSERT_EQ(recipe->inputs.size(), 1u);
  EXPECT_EQ(recipe->inputs[0].name, "image");
  EXPECT_EQ(recipe->inputs[0].dtype, DType::kFloat32);
  EXPECT_EQ(recipe->inputs[0].shape, (Shape{-1, 1, -1, -1}));
  ASSERT_EQ(recipe->outputs.size(), 1u);
  EXPECT_EQ(recipe->outputs[0].name, "logits");

  const PreprocessRecipe& pre = recipe->preprocess;
  EXPECT_EQ(pre.color, ColorMode::kGray);
  EXPECT_FALSE(pre.resize.has_value());
  EXPECT_EQ(pre.pad_to_multiple, 16);
  EXPECT_EQ(pre.normalize, NormalizeMethod::kPercentile);
  EXPECT_EQ(pre.percentile_low, 2.5);
  EXPECT_EQ(pre.percentile_high, 99.5);
  EXPECT_TRUE(pre.channels_first);
  EXPECT_EQ(pre.dtype, DType::kFloat32);

  const PostprocessRecipe& post = recipe->postprocess;
  EXPECT_EQ(post.activation, Activation::kSigmoid);
  EXPECT_EQ(post.threshold, 0.4);
  EXPECT_EQ(post.background_class, 0);
  EXPECT_EQ(post.min_object_area, 15);
  EXPECT_FALSE(post.fill_holes);
  EXPECT_EQ(post.instances, InstanceMethod::kConnectedComponents);
  EXPECT_EQ(post.min_distance, 6);
  EXPECT_EQ(recipe->tile.size, 256);
  EXPECT_EQ(recipe->tile.overlap, 32);
}

// The serving layer owns `serving:`; the vision parser must let it through untouched.
TEST(RecipeTest, AcceptsServingSectionOwnedByTheServingLayer) {
  auto recipe =
      ParseModelRecipe(Minimal("serving: {max_batch_size: 8, anything: [1, 2]}\n"), "orbit.yaml");
  ASSERT_TRUE(recipe.ok()) << recipe.status().ToString();
  EXPECT_EQ(recipe->name, "m");
}

// `orbit optimize` writes `precision:` into each variant's orbit.yaml; fp32 when absent.
TEST(RecipeTest, ParsesPrecisionWithFp32Default) {
  auto absent = ParseModelRecipe(Minimal(), "orbit.yaml");
  ASSERT_TRUE(absent.ok()) << absent.status().ToString();
  EXPECT_EQ(absent->precision, Precision::kFp32);
  for (const auto& [text, expected] :
       {std::pair{"fp32", Precision::kFp32}, std::pair{"fp16", Precision::kFp16},
        std::pair{"int8", Precision::kInt8}}) {
    auto recipe = ParseModelRecipe(Minimal(std::string("precision: ") + text + "\n"), "orbit.yaml");
    ASSERT_TRUE(recipe.ok()) << recipe.status().ToString();
    EXPECT_EQ(recipe->precision, expected);
    EXPECT_EQ(PrecisionName(recipe->precision), text);
  }
}

TEST(RecipeTest, OmittedSectionsKeepTheDocumentedDefaults) {
  auto recipe = ParseModelRecipe(Minimal(), "orbit.yaml");
  ASSERT_TRUE(recipe.ok()) << recipe.status().ToString();
  const PreprocessRecipe pre_defaults;
  const PostprocessRecipe post_defaults;
  EXPECT_EQ(recipe->description, "");
  EXPECT_EQ(recipe->preprocess.color, pre_defaults.color);
  EXPECT_EQ(recipe->preprocess.pad_to_multiple, pre_defaults.pad_to_multiple);
  EXPECT_EQ(recipe->preprocess.normalize, pre_defaults.normalize);
  EXPECT_EQ(recipe->preprocess.percentile_low, pre_defaults.percentile_low);
  EXPECT_EQ(recipe->preprocess.percentile_high, pre_defaults.percentile_high);
  EXPECT_EQ(recipe->postprocess.threshold, post_defaults.threshold);
  EXPECT_EQ(recipe->postprocess.instances, post_defaults.instances);
  EXPECT_EQ(recipe->tile.size, TileRecipe{}.size);
  EXPECT_EQ(recipe->tile.overlap, TileRecipe{}.overlap);
}

TEST(RecipeTest, ParsesRgbMeanStdNhwcWithResizeAndSoftmax) {
  const std::string yaml = R"(name: rgbseg
inputs: [{name: x, datatype: FP32, shape: [1, 256, 256, 3]}]
outputs: [{name: y, datatype: float32, shape: [1, 3, 256, 256]}]
preprocess:
  color: rgb
  resize: [256, 128]
  normalize: {method: mean_std, scale: 0.00392156862745098, mean: [0.485, 0.456, 0.406],
              std: [0.229, 0.224, 0.225]}
  layout: NHWC
postprocess:
  activation: softmax
  background_class: 2
  instances: {method: none}
)";
  auto recipe = ParseModelRecipe(yaml, "orbit.yaml");
  ASSERT_TRUE(recipe.ok()) << recipe.status().ToString();
  const PreprocessRecipe& pre = recipe->preprocess;
  EXPECT_EQ(pre.color, ColorMode::kRgb);
  ASSERT_TRUE(pre.resize.has_value());
  EXPECT_EQ(pre.resize->first, 256);
  EXPECT_EQ(pre.resize->second, 128);
  EXPECT_EQ(pre.normalize, NormalizeMethod::kMeanStd);
  EXPECT_DOUBLE_EQ(pre.scale, 1.0 / 255);
  EXPECT_EQ(pre.mean, (std::vector<double>{0.485, 0.456, 0.406}));
  EXPECT_EQ(pre.std, (std::vector<double>{0.229, 0.224, 0.225}));
  EXPECT_FALSE(pre.channels_first);
  EXPECT_EQ(recipe->postprocess.activation, Activation::kSoftmax);
  EXPECT_EQ(recipe->postprocess.background_class, 2);
  EXPECT_EQ(recipe->postprocess.instances, InstanceMethod::kNone);
}

TEST(RecipeTest, ParsesForegroundAndSeedChannels) {
  const std::string yaml = R"(name: cellseg
inputs:  [{name: image, datatype: FP32, shape: [-1, 1, -1, -1]}]
outputs: [{name: logits, datatype: FP32, shape: [-1, 3, -1, -1]}]
postprocess:
  activation: sigmoid
  foreground_channel: 2
  instances:
    method: watershed
    min_distance: 5
    seed_channel: 0
    seed_threshold: 0.7
    min_seed_area: 4
)";
  auto recipe = ParseModelRecipe(yaml, "orbit.yaml");
  ASSERT_TRUE(recipe.ok()) << recipe.status().ToString();
  const PostprocessRecipe& post = recipe->postprocess;
  EXPECT_EQ(post.foreground_channel, 2);
  ASSERT_TRUE(post.seed_channel.has_value());
  EXPECT_EQ(*post.seed_channel, 0);
  EXPECT_EQ(post.seed_threshold, 0.7);
  EXPECT_EQ(post.min_seed_area, 4);
  EXPECT_EQ(post.min_distance, 5);
}

TEST(RecipeTest, SeedChannelIsOptionalWithDocumentedDefaults) {
  auto plain = ParseModelRecipe(Minimal(), "orbit.yaml");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->postprocess.foreground_channel, 0);
  EXPECT_FALSE(plain->postprocess.seed_channel.has_value());

  // Dynamic channel dimension: any seed channel other than the foreground one is accepted.
  auto seeded = ParseModelRecipe(
      "name: m\n"
      "inputs: [{name: x, datatype: FP32, shape: [-1, 1, -1, -1]}]\n"
      "outputs: [{name: y, datatype: FP32, shape: [-1, -1, -1, -1]}]\n"
      "postprocess: {instances: {seed_channel: 1}}\n",
      "orbit.yaml");
  ASSERT_TRUE(seeded.ok()) << seeded.status().ToString();
  ASSERT_TRUE(seeded->postprocess.seed_channel.has_value());
  EXPECT_EQ(*seeded->postprocess.seed_channel, 1);
  EXPECT_EQ(seeded->postprocess.seed_threshold, PostprocessRecipe{}.seed_threshold);
  EXPECT_EQ(seeded->postprocess.min_seed_area, PostprocessRecipe{}.min_seed_area);
}

TEST(RecipeTest, UnknownKeyNamesItsFullPathAndLine) {
  const std::string yaml = Minimal("preprocess:\n  normalise: {method: none}\n");
  auto recipe = ParseModelRecipe(yaml, "orbit.yaml");
  ASSERT_FALSE(recipe.ok());
  EXPECT_EQ(recipe.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(recipe.status().message(), "orbit.yaml: unknown key 'preprocess.normalise' (line 5)");
}

TEST(RecipeTest, SyntaxErrorReportsTheLine) {
  const std::string yaml = Minimal("preprocess:\n  color: [gray\n  layout: NCHW\n");
  auto recipe = ParseModelRecipe(yaml, "models/a/orbit.yaml");
  ASSERT_FALSE(recipe.ok());
  EXPECT_EQ(recipe.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(recipe.status().message().rfind("models/a/orbit.yaml: invalid YAML at line ", 0), 0u)
      << recipe.status().message();
}

struct BadRecipe {
  std::string label;
  std::string yaml;
  std::string expected;  // substring of the message
};

// Printed by gtest (and so by ctest) in place of the struct's raw bytes.
void PrintTo(const BadRecipe& recipe, std::ostream* os) { *os << recipe.label; }

class RecipeValidationTest : public ::testing::TestWithParam<BadRecipe> {};

TEST_P(RecipeValidationTest, IsInvalidArgumentNamingTheProblem) {
  const BadRecipe& c = GetParam();
  auto recipe = ParseModelRecipe(c.yaml, "orbit.yaml");
  ASSERT_FALSE(recipe.ok()) << c.label;
  EXPECT_EQ(recipe.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(recipe.status().message().rfind("orbit.yaml: ", 0), 0u) << recipe.status().message();
  EXPECT_NE(recipe.status().message().find(c.expected), std::string::npos)
      << c.label << ": " << recipe.status().message();
}

std::string Tensors(const std::string& in_dtype, const std::string& in_shape,
                    const std::string& out_shape = "[-1, 1, -1, -1]") {
  return "name: m\ninputs: [{name: x, datatype: " + in_dtype + ", shape: " + in_shape +
         "}]\noutputs: [{name: y, datatype: FP32, shape: " + out_shape + "}]\n";
}

INSTANTIATE_TEST_SUITE_P(
    EveryRule, RecipeValidationTest,
    ::testing::Values(
        BadRecipe{"EmptyDocument", "", "the document must be a mapping"},
        BadRecipe{"ListDocument", "- a\n- b\n", "the document must be a mapping"},
        BadRecipe{"UnknownTopLevelKey", Minimal("postproces: {}\n"), "unknown key 'postproces'"},
        BadRecipe{"UnknownNestedKey",
                  Minimal("postprocess:\n  instances: {method: none, sep: 1}\n"),
                  "unknown key 'postprocess.instances.sep'"},
        BadRecipe{"DuplicateKey", Minimal("preprocess: {color: gray, color: rgb}\n"),
                  "duplicate key 'preprocess.color'"},
        BadRecipe{"MissingName",
                  "inputs: [{name: x, datatype: FP32, shape: [1]}]\n"
                  "outputs: [{name: y, datatype: FP32, shape: [1]}]\n",
                  "'name' is required"},
        BadRecipe{"MissingInputs", "name: m\noutputs: [{name: y, datatype: FP32, shape: [1]}]\n",
                  "'inputs' is required"},
        BadRecipe{"MissingOutputs",
                  "name: m\ninputs: [{name: x, datatype: FP32, shape: [-1, 1, -1, -1]}]\n",
                  "'outputs' is required"},
        BadRecipe{"EmptyInputs",
                  "name: m\ninputs: []\noutputs: [{name: y, datatype: FP32, shape: "
                  "[1]}]\n",
                  "'inputs' must be a non-empty list of tensors"},
        BadRecipe{"NameWithSpace",
                  "name: my model\n" + Tensors("FP32", "[-1, 1, -1, -1]").substr(8),
                  "'name' is 'my model'; use only letters"},
        BadRecipe{"TensorWithoutDatatype",
                  "name: m\ninputs: [{name: x, shape: [1]}]\noutputs: [{name: y, datatype: FP32, "
                  "shape: [1]}]\n",
                  "'inputs[0].datatype' is required"},
        BadRecipe{"UnparsableDatatype", Tensors("FP33", "[-1, 1, -1, -1]"),
                  "'inputs[0].datatype' is 'FP33', not a tensor datatype"},
        BadRecipe{"NegativeShape", Tensors("FP32", "[-1, 1, -2, -1]"),
                  "'inputs[0].shape[2]' must be -1 (dynamic) or a size >= 0"},
        BadRecipe{
            "DuplicateTensorNames",
            "name: m\ninputs: [{name: x, datatype: FP32, shape: [-1, 1, -1, -1]}, {name: x, "
            "datatype: FP32, shape: [1]}]\noutputs: [{name: y, datatype: FP32, shape: [1]}]\n",
            "'inputs' has two tensors named 'x'"},
        BadRecipe{"NonFloatInput", Tensors("FP16", "[-1, 1, -1, -1]"),
                  "'inputs[0].datatype' is FP16, but pre-processing produces FP32 only"},
        BadRecipe{"InputNotRank4", Tensors("FP32", "[-1, -1, -1]"),
                  "'inputs[0].shape' has 3 dimensions, expected 4 (NCHW)"},
        BadRecipe{"InputChannelsDisagreeWithColor", Tensors("FP32", "[-1, 3, -1, -1]"),
                  "declares 3 channels (NCHW), but 'preprocess.color' gives 1"},
        BadRecipe{"OutputNotRank4", Tensors("FP32", "[-1, 1, -1, -1]", "[-1, -1, -1]"),
                  "'outputs[0].shape' has 3 dimensions, expected 4 (NCHW)"},
        BadRecipe{"SoftmaxWithOneClass",
                  Tensors("FP32", "[-1, 1, -1, -1]") + "postprocess: {activation: softmax}\n",
                  "softmax needs at least 2 classes"},
        BadRecipe{"BackgroundClassOutOfRange",
                  Tensors("FP32", "[-1, 1, -1, -1]", "[-1, 2, -1, -1]") +
                      "postprocess: {activation: softmax, background_class: 2}\n",
                  "'postprocess.background_class' (2) is not one of the output's 2 classes"},
        BadRecipe{"BadPrecision", Minimal("precision: bf16\n"),
                  "'precision' is 'bf16', expected one of fp32 | fp16 | int8"},
        BadRecipe{"BadColor", Minimal("preprocess: {color: purple}\n"),
                  "'preprocess.color' is 'purple', expected one of gray | rgb | bgr"},
        BadRecipe{"LowercaseLayout", Minimal("preprocess: {layout: nchw}\n"),
                  "'preprocess.layout' is 'nchw', expected one of NCHW | NHWC"},
        BadRecipe{"ResizeNotAPair", Minimal("preprocess: {resize: 256}\n"),
                  "'preprocess.resize' must be null or [width, height]"},
        BadRecipe{"ResizeZero", Minimal("preprocess: {resize: [0, 10]}\n"),
                  "'preprocess.resize' sizes must be >= 1"},
        BadRecipe{"PadZero", Minimal("preprocess: {pad_to_multiple: 0}\n"),
                  "'preprocess.pad_to_multiple' must be >= 1"},
        BadRecipe{"PadNotAnInteger", Minimal("preprocess: {pad_to_multiple: 1.5}\n"),
                  "'preprocess.pad_to_multiple' must be an integer"},
        BadRecipe{"BadNormalizeMethod", Minimal("preprocess: {normalize: {method: minmax}}\n"),
                  "'preprocess.normalize.method' is 'minmax', expected one of none | scale | "
                  "mean_std | percentile"},
        BadRecipe{"PercentilesReversed",
                  Minimal("preprocess: {normalize: {method: percentile, low: 99, high: 1}}\n"),
                  "percentiles must satisfy 0 <= low < high <= 100"},
        BadRecipe{"PercentilesEqual",
                  Minimal("preprocess: {normalize: {method: percentile, low: 5, high: 5}}\n"),
                  "percentiles must satisfy 0 <= low < high <= 100"},
        BadRecipe{"PercentileAbove100", Minimal("preprocess: {normalize: {high: 100.5}}\n"),
                  "percentiles must satisfy 0 <= low < high <= 100"},
        BadRecipe{"PercentileBelow0", Minimal("preprocess: {normalize: {low: -1}}\n"),
                  "percentiles must satisfy 0 <= low < high <= 100"},
        BadRecipe{"PercentileNotANumber", Minimal("preprocess: {normalize: {low: one}}\n"),
                  "'preprocess.normalize.low' must be a number"},
        BadRecipe{"ParameterOfAnotherMethod",
                  Minimal("preprocess: {normalize: {method: scale, scale: 0.5, low: 1}}\n"),
                  "'preprocess.normalize.low' does not apply to method 'scale'"},
        BadRecipe{"ZeroScale", Minimal("preprocess: {normalize: {method: scale, scale: 0}}\n"),
                  "'preprocess.normalize.scale' must not be 0"},
        BadRecipe{"MeanStdWithoutStd",
                  Minimal("preprocess: {normalize: {method: mean_std, mean: [0.5]}}\n"),
                  "'preprocess.normalize.std' is required for method 'mean_std'"},
        BadRecipe{"MeanSizeMismatch",
                  Minimal("preprocess: {normalize: {method: mean_std, mean: [0.5, 0.5, 0.5], std: "
                          "[0.2]}}\n"),
                  "'preprocess.normalize.mean' has 3 values, expected 1 (one per channel)"},
        BadRecipe{"StdSizeMismatchForRgb",
                  Tensors("FP32", "[-1, 3, -1, -1]") +
                      "preprocess: {color: rgb, normalize: {method: mean_std, mean: [0, 0, 0], "
                      "std: [1, 1]}}\n",
                  "'preprocess.normalize.std' has 2 values, expected 3 (one per channel)"},
        BadRecipe{"ZeroStd",
                  Minimal("preprocess: {normalize: {method: mean_std, mean: [0.5], std: [0]}}\n"),
                  "'preprocess.normalize.std' values must be > 0"},
        BadRecipe{"BadActivation", Minimal("postprocess: {activation: relu}\n"),
                  "'postprocess.activation' is 'relu', expected one of none | sigmoid | softmax"},
        BadRecipe{"ThresholdAboveOne", Minimal("postprocess: {threshold: 1.5}\n"),
                  "'postprocess.threshold' must be in [0, 1]"},
        BadRecipe{"ThresholdNegative", Minimal("postprocess: {threshold: -0.1}\n"),
                  "'postprocess.threshold' must be in [0, 1]"},
        BadRecipe{"ThresholdNotANumber", Minimal("postprocess: {threshold: high}\n"),
                  "'postprocess.threshold' must be a number"},
        BadRecipe{"NegativeBackgroundClass", Minimal("postprocess: {background_class: -1}\n"),
                  "'postprocess.background_class' must be >= 0"},
        BadRecipe{"NegativeMinArea", Minimal("postprocess: {min_object_area: -1}\n"),
                  "'postprocess.min_object_area' must be >= 0"},
        BadRecipe{"FillHolesNotBoolean", Minimal("postprocess: {fill_holes: maybe}\n"),
                  "'postprocess.fill_holes' must be true or false"},
        BadRecipe{"BadInstanceMethod", Minimal("postprocess: {instances: {method: kmeans}}\n"),
                  "'postprocess.instances.method' is 'kmeans'"},
        BadRecipe{"ZeroMinDistance", Minimal("postprocess: {instances: {min_distance: 0}}\n"),
                  "'postprocess.instances.min_distance' must be >= 1"},
        BadRecipe{"NegativeForegroundChannel", Minimal("postprocess: {foreground_channel: -1}\n"),
                  "'postprocess.foreground_channel' must be >= 0"},
        BadRecipe{"ForegroundChannelBeyondStaticChannels",
                  Tensors("FP32", "[-1, 1, -1, -1]", "[-1, 2, -1, -1]") +
                      "postprocess: {foreground_channel: 2}\n",
                  "'postprocess.foreground_channel' (2) is not one of the output's 2 channel(s)"},
        BadRecipe{"ForegroundChannelWithSoftmax",
                  Minimal("postprocess: {activation: softmax, foreground_channel: 1}\n"),
                  "'postprocess.foreground_channel' does not apply to activation 'softmax'"},
        BadRecipe{"SeedChannelEqualsForegroundChannel",
                  Minimal("postprocess: {foreground_channel: 1, instances: {seed_channel: 1}}\n"),
                  "'postprocess.instances.seed_channel' (1) must differ from "
                  "'postprocess.foreground_channel'"},
        BadRecipe{"SeedChannelBeyondStaticChannels",
                  Minimal("postprocess: {instances: {seed_channel: 1}}\n"),
                  "'postprocess.instances.seed_channel' (1) is not one of the output's 1 "
                  "channel(s)"},
        BadRecipe{"NegativeSeedChannel", Minimal("postprocess: {instances: {seed_channel: -2}}\n"),
                  "'postprocess.instances.seed_channel' must be >= 0"},
        BadRecipe{"SeedChannelWithoutWatershed",
                  Minimal("postprocess: {instances: {method: connected_components, "
                          "seed_channel: 1}}\n"),
                  "'postprocess.instances.seed_channel' needs method 'watershed'"},
        BadRecipe{"SeedChannelWithSoftmax",
                  Minimal("postprocess: {activation: softmax, instances: {seed_channel: 1}}\n"),
                  "'postprocess.instances.seed_channel' needs activation 'sigmoid' or 'none'"},
        BadRecipe{"SeedThresholdWithoutSeedChannel",
                  Minimal("postprocess: {instances: {seed_threshold: 0.5}}\n"),
                  "'postprocess.instances.seed_threshold' needs "
                  "'postprocess.instances.seed_channel'"},
        BadRecipe{"MinSeedAreaWithoutSeedChannel",
                  Minimal("postprocess: {instances: {min_seed_area: 3}}\n"),
                  "'postprocess.instances.min_seed_area' needs "
                  "'postprocess.instances.seed_channel'"},
        BadRecipe{"SeedThresholdOutOfRange",
                  Tensors("FP32", "[-1, 1, -1, -1]", "[-1, 2, -1, -1]") +
                      "postprocess: {instances: {seed_channel: 1, seed_threshold: 1.5}}\n",
                  "'postprocess.instances.seed_threshold' must be in [0, 1]"},
        BadRecipe{"ZeroMinSeedArea",
                  Tensors("FP32", "[-1, 1, -1, -1]", "[-1, 2, -1, -1]") +
                      "postprocess: {instances: {seed_channel: 1, min_seed_area: 0}}\n",
                  "'postprocess.instances.min_seed_area' must be >= 1"},
        BadRecipe{"UnknownSeedKey", Minimal("postprocess: {instances: {seed_chanel: 1}}\n"),
                  "unknown key 'postprocess.instances.seed_chanel'"},
        BadRecipe{"TileNotLargerThanTwiceOverlap",
                  Minimal("postprocess: {tile: {size: 128, overlap: 64}}\n"),
                  "'postprocess.tile.size' (128) must be greater than twice the overlap (64)"},
        BadRecipe{"NegativeOverlap", Minimal("postprocess: {tile: {overlap: -1}}\n"),
                  "'postprocess.tile.overlap' must be >= 0"},
        BadRecipe{"TileNotMultipleOfPad",
                  Minimal("preprocess: {pad_to_multiple: 16}\npostprocess: {tile: {size: 200, "
                          "overlap: 8}}\n"),
                  "'postprocess.tile.size' (200) must be a multiple of "
                  "'preprocess.pad_to_multiple' (16)"},
        BadRecipe{"SectionNotAMapping", Minimal("preprocess: gray\n"),
                  "'preprocess' must be a mapping"}),
    [](const ::testing::TestParamInfo<BadRecipe>& info) { return info.param.label; });

TEST(RecipeTest, LoadModelRecipeNamesTheFileInErrors) {
  const fs::path dir =
      fs::temp_directory_path() / ("orbit_recipe_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / "orbit.yaml";
  ASSERT_TRUE(WriteFileAtomic(path, Minimal("postprocess: {threshold: 2}\n")).ok());
  auto bad = LoadModelRecipe(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind(path.string() + ": ", 0), 0u) << bad.status().message();

  ASSERT_TRUE(WriteFileAtomic(path, kFullRecipe).ok());
  auto good = LoadModelRecipe(path);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->name, "cellseg");

  EXPECT_EQ(LoadModelRecipe(dir / "missing.yaml").status().code(), StatusCode::kNotFound);
  fs::remove_all(dir);
}

TEST(RecipeTest, ShippedCellsegRecipeIsValid) {
  const fs::path path = fs::path(ORBIT_SOURCE_DIR) / "models/cellseg/orbit.yaml";
  if (!fs::exists(path)) GTEST_SKIP() << path << " has not been written yet";
  auto recipe = LoadModelRecipe(path);
  ASSERT_TRUE(recipe.ok()) << recipe.status().ToString();
  EXPECT_EQ(recipe->name, "cellseg");
  // The shipped model predicts cell cores as watershed seeds on channel 1.
  ASSERT_TRUE(recipe->postprocess.seed_channel.has_value());
  EXPECT_EQ(*recipe->postprocess.seed_channel, 1);
  EXPECT_EQ(recipe->outputs.front().shape, (Shape{-1, 2, -1, -1}));
}

}  // namespace
}  // namespace orbit::vision
