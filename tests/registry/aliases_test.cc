// Aliases with history, models:/ URIs (parsing and resolution) and lineage, on both back ends.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "registry/lineage.h"
#include "registry/model_uri.h"
#include "registry_fixture.h"

namespace orbit::registry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class AliasTest : public testing::RegistryTest {
 protected:
  void RegisterTiny(int count, const std::string& model = "tiny") {
    NewModelVersion request;
    request.model = model;
    request.blob_sha256 = PutSourceFile("tests/runtime/data/conv_dynamic.onnx");
    request.recipe_yaml = "";
    for (int i = 0; i < count; ++i) {
      auto v = registry_->RegisterVersion(request);
      ASSERT_TRUE(v.ok()) << v.status().ToString();
    }
  }
};

TEST_P(AliasTest, SetMoveAndDeleteRecordHistory) {
  RegisterTiny(3);
  ASSERT_TRUE(registry_->SetAlias("tiny", "production", 1, "alice", "first release").ok());
  ASSERT_TRUE(registry_->SetAlias("tiny", "production", 3, "bob").ok());
  ASSERT_TRUE(registry_->SetAlias("tiny", "staging", 2, "bob").ok());
  auto alias = registry_->GetAlias("tiny", "production");
  ASSERT_TRUE(alias.ok());
  EXPECT_EQ(alias->version, 3);
  EXPECT_EQ(alias->moved_by, "bob");
  EXPECT_EQ(registry_->GetModel("tiny")->aliases,
            (std::map<std::string, std::int64_t>{{"production", 3}, {"staging", 2}}));
  ASSERT_TRUE(registry_->DeleteAlias("tiny", "production", "carol", "rollback").ok());
  EXPECT_EQ(registry_->GetAlias("tiny", "production").status().message(),
            "alias 'production' of model 'tiny' does not exist");
  EXPECT_EQ(registry_->DeleteAlias("tiny", "production", "carol").message(),
            "alias 'production' of model 'tiny' does not exist");

  auto history = registry_->AliasHistory("tiny", "production");
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[0].from_version, std::nullopt);
  EXPECT_EQ((*history)[0].to_version, 1);
  EXPECT_EQ((*history)[0].reason, "first release");
  EXPECT_EQ((*history)[1].from_version, 1);
  EXPECT_EQ((*history)[1].to_version, 3);
  EXPECT_EQ((*history)[2].from_version, 3);
  EXPECT_EQ((*history)[2].to_version, std::nullopt);
  EXPECT_EQ((*history)[2].moved_by, "carol");
  EXPECT_LT((*history)[0].moved_at_ms, (*history)[2].moved_at_ms);
  EXPECT_THAT(*registry_->ListAliases("tiny"),
              ElementsAre(::testing::Field(&ModelAlias::alias, "staging")));
}

TEST_P(AliasTest, RejectsMissingVersionsModelsAndBadNames) {
  RegisterTiny(1);
  EXPECT_EQ(registry_->SetAlias("tiny", "production", 7, "a").status().message(),
            "model 'tiny' has no version 7");
  EXPECT_EQ(registry_->SetAlias("nope", "production", 1, "a").status().message(),
            "model 'nope' does not exist");
  EXPECT_EQ(registry_->SetAlias("tiny", "latest", 1, "a").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry_->AliasHistory("tiny", "production")->empty());
}

TEST_P(AliasTest, ParsesModelUris) {
  auto v = ParseModelUri("models:/cellseg/3");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, (ModelUri{"cellseg", ModelUri::Kind::kVersion, 3, ""}));
  EXPECT_EQ(*ParseModelUri("models:/cellseg@production"),
            (ModelUri{"cellseg", ModelUri::Kind::kAlias, 0, "production"}));
  EXPECT_EQ(*ParseModelUri("models:/cell.seg-2/latest"),
            (ModelUri{"cell.seg-2", ModelUri::Kind::kLatest, 0, ""}));
  for (const char* uri :
       {"models:/cellseg/3", "models:/cellseg@production", "models:/cellseg/latest"}) {
    EXPECT_EQ(ParseModelUri(uri)->ToString(), uri);
  }
  const std::pair<const char*, const char*> bad[] = {
      {"cellseg/3", "expected models:/NAME/VERSION"},
      {"models://cellseg/3", "model name ''"},
      {"models:/cellseg", "expected models:/NAME/VERSION"},
      {"models:/cellseg/0", "version '0' is not a number >= 1"},
      {"models:/cellseg/03", "version '03'"},
      {"models:/cellseg/-1", "version '-1'"},
      {"models:/cellseg/3x", "version '3x'"},
      {"models:/cellseg/", "version ''"},
      {"models:/cellseg@", "alias ''"},
      {"models:/cellseg@latest", "alias 'latest' is reserved"},
      {"models:/cell seg/1", "model name 'cell seg'"},
      {"models:/cellseg/3/4", "version '3/4'"},
  };
  for (const auto& [uri, message] : bad) {
    auto parsed = ParseModelUri(uri);
    ASSERT_FALSE(parsed.ok()) << uri;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr("model URI '" + std::string(uri) + "'"));
    EXPECT_THAT(parsed.status().message(), HasSubstr(message)) << uri;
  }
}

TEST_P(AliasTest, ResolvesUrisToVersionBlobAndRecipe) {
  RegisterTiny(2);
  ASSERT_TRUE(registry_->SetAlias("tiny", "production", 1, "a").ok());
  auto by_version = ResolveModelUri(*registry_, "models:/tiny/2");
  ASSERT_TRUE(by_version.ok()) << by_version.status().ToString();
  EXPECT_EQ(by_version->version, 2);
  EXPECT_EQ(by_version->blob_sha256, registry_->GetVersion("tiny", 2)->blob_sha256);
  EXPECT_EQ(ResolveModelUri(*registry_, "models:/tiny@production")->version, 1);
  EXPECT_EQ(ResolveModelUri(*registry_, "models:/tiny/latest")->version, 2);
  EXPECT_EQ(ResolveModelUri(*registry_, "models:/tiny/7").status().message(),
            "model 'tiny' has no version 7");
  EXPECT_EQ(ResolveModelUri(*registry_, "models:/tiny@staging").status().message(),
            "alias 'staging' of model 'tiny' does not exist");
  EXPECT_EQ(ResolveModelUri(*registry_, "models:/other/1").status().message(),
            "model 'other' does not exist");
  ASSERT_TRUE(registry_->CreateModel("empty").ok());
  EXPECT_EQ(ResolveModelUri(*registry_, "models:/empty/latest").status().message(),
            "model 'empty' has no versions");
}

TEST_P(AliasTest, LineageFollowsParentsWithRunsDataSetsAndCommits) {
  const std::string sha = PutSourceFile("tests/runtime/data/conv_dynamic.onnx");
  const std::string data1(64, '1');
  const std::string data2(64, '2');
  for (int i = 1; i <= 3; ++i) {
    const std::string run_id = "run-" + std::to_string(i);
    ASSERT_TRUE(
        tracking_->CreateRun({"seg", "train" + std::to_string(i), "alice", run_id, {}}).ok());
    ASSERT_TRUE(tracking_->EndRun(run_id, RunStatus::kFinished).ok());
    NewModelVersion request;
    request.model = "tiny";
    request.blob_sha256 = sha;
    request.run_id = run_id;
    request.code_version = "commit" + std::to_string(i);
    request.datasets = {{"s3://cells/v" + std::to_string(i), i == 1 ? data1 : data2}};
    if (i > 1) request.parent = "tiny/" + std::to_string(i - 1);
    request.user = "alice";
    ASSERT_TRUE(registry_->RegisterVersion(request).ok());
  }
  auto chain = Lineage(*registry_, "tiny", 3);
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  ASSERT_EQ(chain->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const LineageEntry& entry = (*chain)[static_cast<std::size_t>(i)];
    EXPECT_EQ(entry.version.version, 3 - i);
    EXPECT_EQ(entry.version.code_version, "commit" + std::to_string(3 - i));
    ASSERT_TRUE(entry.run);
    EXPECT_EQ(entry.run->id, "run-" + std::to_string(3 - i));
    EXPECT_EQ(entry.run->experiment, "seg");
    EXPECT_EQ(entry.run->status, RunStatus::kFinished);
    ASSERT_EQ(entry.version.datasets.size(), 1u);
    EXPECT_EQ(entry.version.datasets[0].uri, "s3://cells/v" + std::to_string(3 - i));
  }
  EXPECT_EQ((*chain)[2].version.parent_version, std::nullopt);
  const std::string text = RenderLineage(*chain);
  EXPECT_THAT(text, HasSubstr("tiny/3  created 2023-11-14"));
  EXPECT_THAT(text, HasSubstr("by alice"));
  EXPECT_THAT(text, HasSubstr("fine-tuned from\ntiny/2"));
  EXPECT_THAT(text, HasSubstr("code      commit1"));
  EXPECT_THAT(text, HasSubstr("run       run-1 (experiment 'seg', run 'train1', FINISHED"));
  EXPECT_THAT(text, HasSubstr("data set  s3://cells/v1 sha256:" + data1));
  EXPECT_EQ(Lineage(*registry_, "tiny", 4).status().message(), "model 'tiny' has no version 4");
}

ORBIT_INSTANTIATE_BACKENDS(AliasTest);

}  // namespace
}  // namespace orbit::registry
