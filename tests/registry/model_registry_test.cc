// Registered models and versions on both back ends: registration from an upload and from a run
// artifact, the cellseg signature, recipe and card validation, immutability and edits.
#include "registry/model_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "registry/names.h"
#include "registry_fixture.h"

namespace orbit::registry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kCellsegOnnx = "models/cellseg/model.onnx";
constexpr const char* kCellsegRecipe = "models/cellseg/orbit.yaml";
constexpr const char* kTinyOnnx = "tests/runtime/data/conv_dynamic.onnx";

class ModelRegistryTest : public testing::RegistryTest {};

TEST_P(ModelRegistryTest, RegistersCellsegFromUploadWithItsSignatureRecipeAndCard) {
  NewModelVersion request;
  request.model = "cellseg";
  request.blob_sha256 = PutSourceFile(kCellsegOnnx);
  request.recipe_yaml = ReadSourceFile(kCellsegRecipe);
  request.card.metrics = {{"semantic_iou", 0.9547}};
  request.card.intended_use = "fluorescent cell segmentation";
  request.user = "alice";
  auto version = registry_->RegisterVersion(request);
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(version->version, 1);
  EXPECT_EQ(version->model_name, "cellseg");
  EXPECT_EQ(version->creator, "alice");
  EXPECT_EQ(version->blob_sha256, request.blob_sha256);
  EXPECT_EQ(version->recipe_yaml, request.recipe_yaml);
  EXPECT_EQ(version->card, request.card);

  const OnnxSignature& signature = version->signature;
  ASSERT_EQ(signature.inputs.size(), 1u);
  EXPECT_EQ(signature.inputs[0], (TensorSignature{"image", "FP32", {-1, 1, -1, -1}}));
  ASSERT_EQ(signature.outputs.size(), 1u);
  EXPECT_EQ(signature.outputs[0], (TensorSignature{"logits", "FP32", {-1, 2, -1, -1}}));
  EXPECT_EQ(signature.opset, 17);
  EXPECT_EQ(signature.producer, "pytorch");
  EXPECT_EQ(signature.file_size_bytes, 2084281u);
  EXPECT_EQ(signature.parameter_count, 518818);  // onnx.load + sum of initializer sizes

  auto model = registry_->GetModel("cellseg");
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->latest_version, 1);
  auto referenced = store::ReferencedBlobs(*db_);
  EXPECT_TRUE(referenced->contains(request.blob_sha256));
}

TEST_P(ModelRegistryTest, RegistersFromRunArtifactAndRecordsTheRun) {
  auto run = tracking_->CreateRun({"seg", "train", "bob", "run-a", {}});
  ASSERT_TRUE(run.ok());
  const std::string sha = PutSourceFile(kTinyOnnx);
  ASSERT_TRUE(tracking_->LogArtifact("run-a", "model/model.onnx", sha).ok());
  NewModelVersion request;
  request.model = "tiny";
  request.source_run_id = "run-a";
  request.source_artifact_path = "model/model.onnx";
  auto version = registry_->RegisterVersion(request);
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(version->blob_sha256, sha);
  EXPECT_EQ(version->run_id, "run-a");
  EXPECT_EQ(version->signature.parameter_count, 10);  // 3x3 weights + 1 bias
  EXPECT_EQ(version->signature.opset, 13);

  request.source_artifact_path = "missing.onnx";
  EXPECT_EQ(registry_->RegisterVersion(request).status().message(),
            "run 'run-a' has no artifact 'missing.onnx'");
}

TEST_P(ModelRegistryTest, RejectsBadRegistrations) {
  NewModelVersion request;
  request.model = "tiny";
  EXPECT_THAT(registry_->RegisterVersion(request).status().message(), HasSubstr("not neither"));
  request.blob_sha256 = std::string(64, 'a');
  EXPECT_EQ(registry_->RegisterVersion(request).status().code(), StatusCode::kNotFound);
  request.blob_sha256 = artifacts_->PutBytes("not an onnx model")->sha256;
  EXPECT_THAT(registry_->RegisterVersion(request).status().message(),
              HasSubstr("is not a loadable ONNX model"));
  request.blob_sha256 = PutSourceFile(kTinyOnnx);
  request.recipe_yaml = ReadSourceFile(kCellsegRecipe);  // names 'image', the model has 'x'
  EXPECT_THAT(registry_->RegisterVersion(request).status().message(),
              HasSubstr("orbit.yaml names input 'image' but the ONNX model has no such input"));
  request.recipe_yaml = "name: tiny\nbogus_key: 1\n";
  EXPECT_EQ(registry_->RegisterVersion(request).status().code(), StatusCode::kInvalidArgument);
  request.recipe_yaml.clear();
  request.datasets = {{"s3://cells", "abc"}};
  EXPECT_THAT(registry_->RegisterVersion(request).status().message(),
              HasSubstr("data set 's3://cells' needs a sha256"));
  request.datasets.clear();
  request.parent = "other/1";
  EXPECT_THAT(registry_->RegisterVersion(request).status().message(),
              HasSubstr("a parent must be an earlier version of 'tiny'"));
  request.parent = "tiny/4";
  EXPECT_THAT(registry_->RegisterVersion(request).status().message(),
              HasSubstr("parent 'tiny/4' does not exist"));
  request.parent.clear();
  request.run_id = "no-such-run";
  EXPECT_EQ(registry_->RegisterVersion(request).status().message(),
            "run 'no-such-run' does not exist");
  request.run_id.clear();
  request.model = "bad/name";
  EXPECT_EQ(registry_->RegisterVersion(request).status().code(), StatusCode::kInvalidArgument);
  request.model = "fresh";
  request.create_model_if_missing = false;
  EXPECT_EQ(registry_->RegisterVersion(request).status().message(), "model 'fresh' does not exist");
  // Nothing half-registered: not even the model the failed registrations would have created,
  // and numbering starts at 1.
  EXPECT_EQ(registry_->GetModel("tiny").status().message(), "model 'tiny' does not exist");
  request.model = "tiny";
  request.create_model_if_missing = true;
  auto first = registry_->RegisterVersion(request);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->version, 1);
}

TEST_P(ModelRegistryTest, ValidatesModelAndAliasNames) {
  EXPECT_TRUE(ValidateModelName("cell-seg_v2.1").ok());
  EXPECT_FALSE(ValidateModelName("").ok());
  EXPECT_FALSE(ValidateModelName(std::string(129, 'a')).ok());
  EXPECT_FALSE(ValidateModelName("a b").ok());
  EXPECT_FALSE(ValidateModelName(".hidden").ok());
  EXPECT_TRUE(ValidateAliasName("production").ok());
  EXPECT_FALSE(ValidateAliasName("latest").ok());
  EXPECT_FALSE(ValidateAliasName("1st").ok());
  EXPECT_EQ(registry_->CreateModel("cellseg").status().code(), StatusCode::kOk);
  EXPECT_EQ(registry_->CreateModel("cellseg").status().message(), "model 'cellseg' already exists");
}

TEST_P(ModelRegistryTest, VersionsAreImmutableButDescriptionAndTagsAreEditable) {
  NewModelVersion request;
  request.model = "tiny";
  request.blob_sha256 = PutSourceFile(kTinyOnnx);
  request.tags = {{"stage", "dev"}};
  ASSERT_TRUE(registry_->RegisterVersion(request).ok());

  const Status immutable =
      ParseVersionPatch(nlohmann::json{{"blob_sha256", std::string(64, 'b')}}, "tiny/1").status();
  EXPECT_EQ(immutable.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(immutable.message(), HasSubstr("field 'blob_sha256' is immutable"));
  EXPECT_EQ(ParseVersionPatch(nlohmann::json{{"recipe_yaml", ""}}, "tiny/1").status().code(),
            StatusCode::kFailedPrecondition);

  auto patch = ParseVersionPatch(
      nlohmann::json::parse(R"({"description": "first cut", "tags": {"stage": null, "qa": "ok"}})"),
      "tiny/1");
  ASSERT_TRUE(patch.ok()) << patch.status().ToString();
  auto updated = registry_->UpdateVersion("tiny", 1, *patch);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  auto stored = registry_->GetVersion("tiny", 1);
  EXPECT_EQ(stored->description, "first cut");
  EXPECT_EQ(stored->tags, (std::map<std::string, std::string>{{"qa", "ok"}}));
  EXPECT_EQ(stored->blob_sha256, request.blob_sha256);
  EXPECT_EQ(registry_->UpdateVersion("tiny", 9, *patch).status().message(),
            "model 'tiny' has no version 9");
  ASSERT_TRUE(registry_->SetModelDescription("tiny", "a box filter").ok());
  EXPECT_EQ(registry_->GetModel("tiny")->description, "a box filter");
}

TEST_P(ModelRegistryTest, ModelCardJsonRoundTripsAndRejectsUnknownFields) {
  ModelCard card{{{"iou", 0.9}}, "cells", "synthetic", "# Card"};
  EXPECT_EQ(*ModelCardFromJson(ModelCardToJson(card)), card);
  EXPECT_THAT(ModelCardFromJson(nlohmann::json{{"author", "x"}}).status().message(),
              HasSubstr("unknown field 'author'"));
  EXPECT_THAT(ModelCardFromJson(nlohmann::json{{"metrics", {{"iou", "high"}}}}).status().message(),
              HasSubstr("metric 'iou' must be a finite number"));
}

TEST_P(ModelRegistryTest, ListsVersionsInOrder) {
  NewModelVersion request;
  request.model = "tiny";
  request.blob_sha256 = PutSourceFile(kTinyOnnx);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(registry_->RegisterVersion(request).ok());
  std::vector<std::int64_t> numbers;
  auto versions = registry_->ListVersions("tiny");
  ASSERT_TRUE(versions.ok());
  for (const auto& v : *versions) numbers.push_back(v.version);
  EXPECT_THAT(numbers, ElementsAre(1, 2, 3));
  EXPECT_EQ(registry_->LatestVersion("tiny")->version, 3);
  EXPECT_EQ(registry_->ListModels()->size(), 1u);
}

ORBIT_INSTANTIATE_BACKENDS(ModelRegistryTest);

}  // namespace
}  // namespace orbit::registry
