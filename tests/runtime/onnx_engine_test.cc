// OnnxEngine on the tiny models in tests/runtime/data: introspection, results, input validation,
// session options and concurrent runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime/engine.h"

namespace orbit::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::filesystem::path DataPath(const std::string& file) {
  return std::filesystem::path(ORBIT_SOURCE_DIR) / "tests/runtime/data" / file;
}

std::unique_ptr<Engine> MustLoad(const std::string& file, const EngineOptions& options = {}) {
  auto engine = LoadOnnxEngine(DataPath(file), options);
  if (!engine.ok()) {
    ADD_FAILURE() << engine.status().ToString();
    return nullptr;
  }
  return std::move(engine).value();
}

template <typename T>
Tensor MustMake(Shape shape, const std::vector<T>& values) {
  auto tensor = Tensor::FromVector<T>(std::move(shape), values);
  EXPECT_TRUE(tensor.ok()) << tensor.status().ToString();
  return std::move(tensor).value();
}

template <typename T>
std::vector<T> Values(const Tensor& tensor) {
  const auto data = tensor.data<T>();
  return {data.begin(), data.end()};
}

std::vector<Tensor> MustRun(const Engine& engine, std::span<const Tensor> inputs) {
  auto outputs = engine.Run(inputs);
  if (!outputs.ok()) {
    ADD_FAILURE() << outputs.status().ToString();
    return {};
  }
  return std::move(outputs).value();
}

// The 3x3 box filter of conv_dynamic.onnx with zero padding, computed directly.
std::vector<float> BoxFilter(const std::vector<float>& image, int height, int width) {
  std::vector<float> out(image.size());
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      float sum = 0;
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          if (y + dy < 0 || y + dy >= height || x + dx < 0 || x + dx >= width) continue;
          sum += image[(y + dy) * width + x + dx];
        }
      }
      out[y * width + x] = sum / 9.0f;
    }
  }
  return out;
}

std::vector<float> Ramp(std::size_t count, float start, float step) {
  std::vector<float> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = start + step * static_cast<float>(i);
  return values;
}

// --- introspection ---------------------------------------------------------------------------

TEST(OnnxEngineTest, IntrospectsNamesDtypesAndSymbolicBatchDimension) {
  auto engine = MustLoad("add_one.onnx");
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->name(), "add_one");  // the file stem
  ASSERT_EQ(engine->inputs().size(), 1u);
  EXPECT_EQ(engine->inputs()[0].name, "x");
  EXPECT_EQ(engine->inputs()[0].dtype, DType::kFloat32);
  EXPECT_THAT(engine->inputs()[0].shape, ElementsAre(-1, 3));
  ASSERT_EQ(engine->outputs().size(), 1u);
  EXPECT_EQ(engine->outputs()[0].name, "y");
  EXPECT_EQ(engine->outputs()[0].dtype, DType::kFloat32);
  EXPECT_THAT(engine->outputs()[0].shape, ElementsAre(-1, 3));
  EXPECT_THAT(engine->active_providers(), ElementsAre("cpu"));
}

TEST(OnnxEngineTest, ReportsUnnamedDynamicDimensionsAsMinusOne) {
  auto engine = MustLoad("conv_dynamic.onnx");
  ASSERT_NE(engine, nullptr);
  ASSERT_EQ(engine->inputs().size(), 1u);
  EXPECT_THAT(engine->inputs()[0].shape, ElementsAre(-1, 1, -1, -1));
  ASSERT_EQ(engine->outputs().size(), 1u);
  EXPECT_THAT(engine->outputs()[0].shape, ElementsAre(-1, 1, -1, -1));
}

TEST(OnnxEngineTest, ListsSeveralInputsAndOutputsInDeclarationOrder) {
  auto engine = MustLoad("two_inputs.onnx");
  ASSERT_NE(engine, nullptr);
  ASSERT_EQ(engine->inputs().size(), 2u);
  EXPECT_EQ(engine->inputs()[0].name, "a");
  EXPECT_EQ(engine->inputs()[0].dtype, DType::kInt64);
  EXPECT_THAT(engine->inputs()[0].shape, ElementsAre(2));
  EXPECT_EQ(engine->inputs()[1].name, "b");
  EXPECT_EQ(engine->inputs()[1].dtype, DType::kFloat32);
  EXPECT_THAT(engine->inputs()[1].shape, ElementsAre(2));
  ASSERT_EQ(engine->outputs().size(), 2u);
  EXPECT_EQ(engine->outputs()[0].name, "sum");
  EXPECT_EQ(engine->outputs()[0].dtype, DType::kFloat32);
  EXPECT_EQ(engine->outputs()[1].name, "doubled");
  EXPECT_EQ(engine->outputs()[1].dtype, DType::kInt64);
}

TEST(OnnxEngineTest, MapsUint8InputType) {
  auto engine = MustLoad("uint8_input.onnx");
  ASSERT_NE(engine, nullptr);
  ASSERT_EQ(engine->inputs().size(), 1u);
  EXPECT_EQ(engine->inputs()[0].name, "pixels");
  EXPECT_EQ(engine->inputs()[0].dtype, DType::kUInt8);
  EXPECT_THAT(engine->inputs()[0].shape, ElementsAre(-1, 4));
  EXPECT_EQ(engine->outputs()[0].dtype, DType::kFloat32);
}

TEST(OnnxEngineTest, ReadsModelMetadata) {
  auto engine = MustLoad("add_one.onnx");
  ASSERT_NE(engine, nullptr);
  const ModelMetadata& metadata = engine->metadata();
  EXPECT_EQ(metadata.producer_name, "orbit-tests");
  EXPECT_EQ(metadata.graph_name, "add_one");
  EXPECT_EQ(metadata.description, "Adds 1 to every element.");
  EXPECT_EQ(metadata.version, 1);
  EXPECT_EQ(metadata.opset, 13);
  EXPECT_EQ(metadata.custom.size(), 2u);
  EXPECT_EQ(metadata.custom.at("purpose"), "runtime tests");
  EXPECT_EQ(metadata.custom.at("task"), "add one");
}

TEST(OnnxEngineTest, RejectsStringInputAsUnimplemented) {
  auto engine = LoadOnnxEngine(DataPath("string_input.onnx"));
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(engine.status().message(),
            "model 'string_input': input 'text' has element type STRING, which Orbit tensors "
            "cannot hold");
}

// --- results ---------------------------------------------------------------------------------

TEST(OnnxEngineTest, AddOneAddsOneToEveryElement) {
  auto engine = MustLoad("add_one.onnx");
  ASSERT_NE(engine, nullptr);
  std::vector<Tensor> inputs;
  inputs.push_back(MustMake<float>({2, 3}, {0.0f, 1.5f, -2.0f, 10.0f, -1.0f, 0.25f}));
  const auto outputs = MustRun(*engine, inputs);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].dtype(), DType::kFloat32);
  EXPECT_THAT(outputs[0].shape(), ElementsAre(2, 3));
  EXPECT_THAT(Values<float>(outputs[0]), ElementsAre(1.0f, 2.5f, -1.0f, 11.0f, 0.0f, 1.25f));
  EXPECT_TRUE(outputs[0].is_owned());
}

TEST(OnnxEngineTest, RunsAnEmptyBatch) {
  auto engine = MustLoad("add_one.onnx");
  ASSERT_NE(engine, nullptr);
  std::vector<Tensor> inputs;
  inputs.push_back(MustMake<float>({0, 3}, {}));
  const auto outputs = MustRun(*engine, inputs);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_THAT(outputs[0].shape(), ElementsAre(0, 3));
  EXPECT_EQ(outputs[0].element_count(), 0);
}

TEST(OnnxEngineTest, ReadsBorrowedInputBuffersInPlace) {
  auto engine = MustLoad("add_one.onnx");
  ASSERT_NE(engine, nullptr);
  std::vector<float> buffer = {1, 2, 3};
  auto borrowed =
      Tensor::Borrow(DType::kFloat32, {1, 3}, std::as_writable_bytes(std::span(buffer)));
  ASSERT_TRUE(borrowed.ok()) << borrowed.status().ToString();
  std::vector<Tensor> inputs;
  inputs.push_back(std::move(borrowed).value());
  EXPECT_THAT(Values<float>(MustRun(*engine, inputs).at(0)), ElementsAre(2, 3, 4));
  // The engine kept no copy of the first input: a changed buffer gives a changed result.
  buffer = {10, 20, 30};
  EXPECT_THAT(Values<float>(MustRun(*engine, inputs).at(0)), ElementsAre(11, 21, 31));
}

TEST(OnnxEngineTest, ConvComputesBoxFilterWithZeroPadding) {
  auto engine = MustLoad("conv_dynamic.onnx");
  ASSERT_NE(engine, nullptr);
  std::vector<Tensor> inputs;
  inputs.push_back(MustMake<float>({1, 1, 3, 3}, std::vector<float>(9, 1.0f)));
  const auto outputs = MustRun(*engine, inputs);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_THAT(outputs[0].shape(), ElementsAre(1, 1, 3, 3));
  // On a 3x3 image of ones, each output counts the in-bounds neighbours: 4 at the corners, 6 on
  // the edges, 9 in the centre, divided by 9.
  const float corner = 4.0f / 9, edge = 6.0f / 9, centre = 1.0f;
  EXPECT_THAT(Values<float>(outputs[0]),
              testing::Pointwise(testing::FloatNear(1e-6f),
                                 {corner, edge, corner, edge, centre, edge, corner, edge, corner}));
}

TEST(OnnxEngineTest, ConvAcceptsAnyHeightAndWidth) {
  auto engine = MustLoad("conv_dynamic.onnx");
  ASSERT_NE(engine, nullptr);
  for (const auto& [height, width] : {std::pair{1, 1}, {4, 7}, {16, 5}, {33, 64}}) {
    const auto image = Ramp(static_cast<std::size_t>(height * width), -3.0f, 0.5f);
    std::vector<Tensor> inputs;
    inputs.push_back(MustMake<float>({1, 1, height, width}, image));
    const auto outputs = MustRun(*engine, inputs);
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_THAT(outputs[0].shape(), ElementsAre(1, 1, height, width));
    EXPECT_THAT(Values<float>(outputs[0]),
                testing::Pointwise(testing::FloatNear(1e-4f), BoxFilter(image, height, width)))
        << height << "x" << width;
  }
}

TEST(OnnxEngineTest, BatchOfFourEqualsFourSingleRuns) {
  auto engine = MustLoad("conv_dynamic.onnx");
  ASSERT_NE(engine, nullptr);
  constexpr int kHeight = 5, kWidth = 6;
  std::vector<Tensor> singles;
  for (int i = 0; i < 4; ++i) {
    singles.push_back(
        MustMake<float>({1, 1, kHeight, kWidth},
                        Ramp(kHeight * kWidth, static_cast<float>(i * 7), 0.25f * (i + 1))));
  }
  auto batch = ConcatBatch(singles);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  std::vector<Tensor> batch_inputs;
  batch_inputs.push_back(std::move(batch).value());
  const auto batch_outputs = MustRun(*engine, batch_inputs);
  ASSERT_EQ(batch_outputs.size(), 1u);
  EXPECT_THAT(batch_outputs[0].shape(), ElementsAre(4, 1, kHeight, kWidth));
  for (int i = 0; i < 4; ++i) {
    std::vector<Tensor> inputs;
    inputs.push_back(singles[static_cast<std::size_t>(i)].Clone());
    const auto single = MustRun(*engine, inputs);
    ASSERT_EQ(single.size(), 1u);
    auto item = SliceBatch(batch_outputs[0], i, 1);
    ASSERT_TRUE(item.ok()) << item.status().ToString();
    EXPECT_EQ(Values<float>(*item), Values<float>(single[0])) << "item " << i;
  }
}

TEST(OnnxEngineTest, RunsModelWithTwoInputsAndTwoOutputs) {
  auto engine = MustLoad("two_inputs.onnx");
  ASSERT_NE(engine, nullptr);
  std::vector<Tensor> inputs;
  inputs.push_back(MustMake<std::int64_t>({2}, {3, -4}));
  inputs.push_back(MustMake<float>({2}, {0.5f, 1.5f}));
  const auto outputs = MustRun(*engine, inputs);
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_THAT(Values<float>(outputs[0]), ElementsAre(3.5f, -2.5f));
  EXPECT_EQ(outputs[1].dtype(), DType::kInt64);
  EXPECT_THAT(Values<std::int64_t>(outputs[1]), ElementsAre(6, -8));
}

TEST(OnnxEngineTest, CastsUint8PixelsToScaledFloats) {
  auto engine = MustLoad("uint8_input.onnx");
  ASSERT_NE(engine, nullptr);
  std::vector<Tensor> inputs;
  inputs.push_back(MustMake<std::uint8_t>({2, 4}, {0, 51, 102, 255, 255, 0, 153, 204}));
  const auto outputs = MustRun(*engine, inputs);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_THAT(outputs[0].shape(), ElementsAre(2, 4));
  EXPECT_THAT(Values<float>(outputs[0]),
              testing::Pointwise(testing::FloatNear(1e-6f),
                                 {0.0f, 0.2f, 0.4f, 1.0f, 1.0f, 0.0f, 0.6f, 0.8f}));
}

TEST(OnnxEngineTest, BroadcastsCompatibleDynamicShapes) {
  auto engine = MustLoad("add_pair.onnx");
  ASSERT_NE(engine, nullptr);
  std::vector<Tensor> inputs;
  inputs.push_back(MustMake<float>({3}, {1, 2, 3}));
  inputs.push_back(MustMake<float>({1}, {10}));
  const auto outputs = MustRun(*engine, inputs);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_THAT(Values<float>(outputs[0]), ElementsAre(11, 12, 13));
}

// --- validation ------------------------------------------------------------------------------

TEST(OnnxEngineTest, RejectsWrongNumberOfInputs) {
  auto engine = MustLoad("two_inputs.onnx");
  ASSERT_NE(engine, nullptr);
  std::vector<Tensor> inputs;
  inputs.push_back(MustMake<std::int64_t>({2}, {1, 2}));
  const Status status = engine->ValidateInputs(inputs);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "model 'two_inputs': expects 2 inputs ('a', 'b'), got 1");
  // Run validates first and returns the same error.
  EXPECT_EQ(engine->Run(inputs).status(), status);
}

TEST(OnnxEngineTest, RejectsWrongDtype) {
  auto engine = MustLoad("conv_dynamic.onnx");
  ASSERT_NE(engine, nullptr);
  std::vector<Tensor> inputs;
  inputs.push_back(MustMake<std::uint8_t>({1, 1, 2, 2}, {1, 2, 3, 4}));
  const Status status = engine->ValidateInputs(inputs);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "model 'conv_dynamic': input 'x' expects FP32, got UINT8");
  EXPECT_EQ(engine->Run(inputs).status(), status);
}

TEST(OnnxEngineTest, RejectsWrongRank) {
  auto engine = MustLoad("conv_dynamic.onnx");
  ASSERT_NE(engine, nullptr);
  std::vector<Tensor> inputs;
  inputs.push_back(MustMake<float>({1, 2, 2}, {1, 2, 3, 4}));
  const Status status = engine->ValidateInputs(inputs);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "model 'conv_dynamic': input 'x' expects rank 4 (shape [-1, 1, -1, -1]), got rank 3 "
            "([1, 2, 2])");
}

TEST(OnnxEngineTest, RejectsWrongStaticDimension) {
  auto engine = MustLoad("conv_dynamic.onnx");
  ASSERT_NE(engine, nullptr);
  auto image = Tensor::Zeros(DType::kFloat32, {1, 3, 64, 64});
  ASSERT_TRUE(image.ok());
  std::vector<Tensor> inputs;
  inputs.push_back(std::move(image).value());
  const Status status = engine->ValidateInputs(inputs);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "model 'conv_dynamic': input 'x' dimension 1 is 1, got 3 (expected shape "
            "[-1, 1, -1, -1], got [1, 3, 64, 64])");
  EXPECT_EQ(engine->Run(inputs).status(), status);
}

TEST(OnnxEngineTest, RejectsWrongDimensionOfSecondInput) {
  auto engine = MustLoad("two_inputs.onnx");
  ASSERT_NE(engine, nullptr);
  std::vector<Tensor> inputs;
  inputs.push_back(MustMake<std::int64_t>({2}, {1, 2}));
  inputs.push_back(MustMake<float>({3}, {1, 2, 3}));
  const Status status = engine->ValidateInputs(inputs);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "model 'two_inputs': input 'b' dimension 0 is 2, got 3 (expected shape [2], got [3])");
}

TEST(OnnxEngineTest, AcceptsValidInputs) {
  auto engine = MustLoad("two_inputs.onnx");
  ASSERT_NE(engine, nullptr);
  std::vector<Tensor> inputs;
  inputs.push_back(MustMake<std::int64_t>({2}, {1, 2}));
  inputs.push_back(MustMake<float>({2}, {1, 2}));
  EXPECT_TRUE(engine->ValidateInputs(inputs).ok());
}

TEST(OnnxEngineTest, ReportsShapeConflictFoundDuringRunAsInvalidArgument) {
  auto engine = MustLoad("add_pair.onnx");
  ASSERT_NE(engine, nullptr);
  std::vector<Tensor> inputs;
  inputs.push_back(MustMake<float>({2}, {1, 2}));
  inputs.push_back(MustMake<float>({3}, {1, 2, 3}));
  ASSERT_TRUE(engine->ValidateInputs(inputs).ok());  // each dimension is dynamic
  const auto outputs = engine->Run(inputs);
  ASSERT_FALSE(outputs.ok());
  EXPECT_EQ(outputs.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(outputs.status().message(), testing::StartsWith("model 'add_pair': run failed: "));
  EXPECT_THAT(outputs.status().message(), HasSubstr("broadcast"));
  EXPECT_THAT(outputs.status().message(), Not(HasSubstr("onnxruntime_src")));
  EXPECT_THAT(outputs.status().message(), Not(HasSubstr("\n")));
}

// --- options and threads ---------------------------------------------------------------------

TEST(OnnxEngineTest, ThreadAndOptimisationSettingsGiveIdenticalResults) {
  const auto image = Ramp(2 * 9 * 11, -5.0f, 0.125f);
  auto run = [&](const EngineOptions& options) -> std::vector<float> {
    auto engine = MustLoad("conv_dynamic.onnx", options);
    if (engine == nullptr) return {};
    std::vector<Tensor> inputs;
    inputs.push_back(MustMake<float>({2, 1, 9, 11}, image));
    const auto outputs = MustRun(*engine, inputs);
    return outputs.empty() ? std::vector<float>{} : Values<float>(outputs[0]);
  };
  const std::vector<float> reference = run({});
  ASSERT_EQ(reference.size(), image.size());
  for (const int threads : {1, 2}) {
    for (const bool parallel : {false, true}) {
      for (const auto level : {GraphOptimization::kDisabled, GraphOptimization::kBasic,
                               GraphOptimization::kExtended, GraphOptimization::kAll}) {
        EngineOptions options;
        options.intra_op_threads = threads;
        options.inter_op_threads = threads;
        options.parallel_execution = parallel;
        options.optimization = level;
        EXPECT_THAT(run(options), testing::Pointwise(testing::FloatNear(1e-5f), reference))
            << "threads " << threads << " parallel " << parallel << " level "
            << static_cast<int>(level);
      }
    }
  }
}

TEST(OnnxEngineTest, RejectsNegativeThreadCounts) {
  EngineOptions options;
  options.intra_op_threads = -1;
  auto engine = LoadOnnxEngine(DataPath("add_one.onnx"), options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(engine.status().message(), HasSubstr("intra_op_threads must be >= 0"));

  options.intra_op_threads = 0;
  options.inter_op_threads = -2;
  engine = LoadOnnxEngine(DataPath("add_one.onnx"), options);
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(engine.status().message(), HasSubstr("inter_op_threads must be >= 0"));
}

TEST(OnnxEngineTest, ConcurrentRunsMatchSerialResults) {
  auto engine = MustLoad("conv_dynamic.onnx");
  ASSERT_NE(engine, nullptr);
  constexpr int kThreads = 4, kRunsPerThread = 25, kSize = 24;
  std::vector<std::vector<float>> images;
  std::vector<std::vector<float>> expected;
  for (int t = 0; t < kThreads; ++t) {
    images.push_back(Ramp(kSize * kSize, static_cast<float>(t * 100), static_cast<float>(t + 1)));
    std::vector<Tensor> inputs;
    inputs.push_back(MustMake<float>({1, 1, kSize, kSize}, images.back()));
    const auto outputs = MustRun(*engine, inputs);
    ASSERT_EQ(outputs.size(), 1u);
    expected.push_back(Values<float>(outputs[0]));
  }
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::string> errors(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const auto index = static_cast<std::size_t>(t);
        for (int i = 0; i < kRunsPerThread; ++i) {
          auto input = Tensor::FromVector<float>({1, 1, kSize, kSize}, images[index]);
          std::vector<Tensor> inputs;
          inputs.push_back(std::move(input).value());
          auto outputs = engine->Run(inputs);
          if (!outputs.ok()) {
            errors[index] = outputs.status().ToString();
            return;
          }
          if (Values<float>((*outputs)[0]) != expected[index]) ++mismatches[index];
        }
      });
    }
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[static_cast<std::size_t>(t)], "") << "thread " << t;
    EXPECT_EQ(mismatches[static_cast<std::size_t>(t)], 0) << "thread " << t;
  }
}

}  // namespace
}  // namespace orbit::runtime
