#include "optimize/onnx_model.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "graph_builder.h"

namespace orbit::optimize {
namespace {

using testing::GraphBuilder;

std::filesystem::path TempPath(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("orbit_onnx_model_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

onnx::ModelProto AddModel() {
  GraphBuilder b;
  b.Input("x", {2, 3}).Output("y", {2, 3});
  b.Initializer("k", {2, 3}, {1, 2, 3, 4, 5, 6});
  b.Int64Initializer("unused", {1, 2, 3, 4});
  b.Node("Add", {"x", "k"}, {"y"}, "add");
  return b.Build();
}

TEST(ParseOnnxModel, RejectsBytesThatAreNotAnOnnxModel) {
  for (std::string bytes :
       {std::string("hello, this is a PNG really"), std::string("\x89PNG\r\n")}) {
    auto model = ParseOnnxModel(bytes, "weights.bin");
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(model.status().message().find("'weights.bin': not an ONNX model"), std::string::npos)
        << model.status().message();
  }
  EXPECT_FALSE(ParseOnnxModel("", "empty.onnx").ok());
}

TEST(ParseOnnxModel, RoundTripsThroughSerialize) {
  auto bytes = SerializeOnnxModel(AddModel());
  ASSERT_TRUE(bytes.ok());
  auto model = ParseOnnxModel(*bytes, "add");
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->graph().node(0).name(), "add");
}

TEST(LoadOnnxModel, LoadsTheDemoModel) {
  auto model = LoadOnnxModel(std::filesystem::path(ORBIT_SOURCE_DIR) / "models/cellseg/model.onnx");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(testing::NodesOfType(*model, "Conv").size(), 19u);
  EXPECT_EQ(DefaultOpset(*model), 17);
  EXPECT_TRUE(CheckOnnxModel(*model).ok());
  EXPECT_FALSE(LoadOnnxModel("/nonexistent/model.onnx").ok());
}

TEST(CheckOnnxModel, NamesTheBrokenNode) {
  onnx::ModelProto model = AddModel();
  model.mutable_graph()->mutable_node(0)->set_input(1, "ghost");
  Status status = CheckOnnxModel(model);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("ghost"), std::string::npos) << status.message();
}

TEST(CheckOnnxModel, FullCheckCatchesTypeMismatches) {
  onnx::ModelProto model = AddModel();
  // A float16 constant added to a float input: the structure is valid, the types are not.
  auto* k = model.mutable_graph()->mutable_initializer(0);
  k->set_data_type(onnx::TensorProto::FLOAT16);
  k->set_raw_data(std::string(12, '\0'));
  Status status = CheckOnnxModel(model);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("add"), std::string::npos) << status.message();
}

TEST(SaveOnnxModel, WritesACheckedModelAndNothingOnFailure) {
  const auto good = TempPath("good.onnx");
  ASSERT_TRUE(SaveOnnxModel(AddModel(), good).ok());
  auto loaded = LoadOnnxModel(good);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->graph().node(0).op_type(), "Add");

  onnx::ModelProto broken = AddModel();
  broken.mutable_graph()->mutable_node(0)->set_input(1, "ghost");
  const auto bad = TempPath("bad.onnx");
  Status status = SaveOnnxModel(broken, bad);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("bad.onnx"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(bad));
  std::filesystem::remove_all(good.parent_path());
}

TEST(CountParameters, SumsElementsAndBytesOfAllInitializers) {
  ParameterStats stats = CountParameters(AddModel());
  EXPECT_EQ(stats.parameter_count, 6 + 4);
  EXPECT_EQ(stats.parameter_bytes, 6 * 4 + 4 * 8);
}

TEST(InferElemTypes, KnowsIntermediatesThroughShapeInference) {
  auto types = InferElemTypes(AddModel());
  EXPECT_EQ(types["x"], onnx::TensorProto::FLOAT);
  EXPECT_EQ(types["unused"], onnx::TensorProto::INT64);
  EXPECT_EQ(types["y"], onnx::TensorProto::FLOAT);
}

}  // namespace
}  // namespace orbit::optimize
