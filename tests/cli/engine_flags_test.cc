#include "cli/engine_flags.h"

#include <gtest/gtest.h>

namespace orbit::cli {
namespace {

TEST(EngineFlagsTest, SplitsProviderListInOrder) {
  EngineFlags flags;
  flags.providers = "tensorrt,cuda,cpu";
  flags.intra_op_threads = 3;
  auto options = ToEngineOptions(flags);
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->execution_providers, (std::vector<std::string>{"tensorrt", "cuda", "cpu"}));
  EXPECT_EQ(options->intra_op_threads, 3);
  EXPECT_TRUE(options->allow_provider_fallback);
}

TEST(EngineFlagsTest, RequireProviderDisablesFallback) {
  EngineFlags flags;
  flags.require_provider = true;
  EXPECT_FALSE(ToEngineOptions(flags)->allow_provider_fallback);
}

TEST(EngineFlagsTest, MapsEveryOptimizationLevel) {
  EngineFlags flags;
  const std::pair<const char*, runtime::GraphOptimization> levels[] = {
      {"disabled", runtime::GraphOptimization::kDisabled},
      {"basic", runtime::GraphOptimization::kBasic},
      {"extended", runtime::GraphOptimization::kExtended},
      {"all", runtime::GraphOptimization::kAll}};
  for (const auto& [name, level] : levels) {
    flags.optimization = name;
    EXPECT_EQ(ToEngineOptions(flags)->optimization, level) << name;
  }
}

TEST(EngineFlagsTest, RejectsUnknownOptimizationAndEmptyProviders) {
  EngineFlags flags;
  flags.optimization = "max";
  EXPECT_EQ(ToEngineOptions(flags).status().message(),
            "--optimization 'max' is not one of disabled, basic, extended, all");
  flags.optimization = "all";
  flags.providers = ",";
  EXPECT_EQ(ToEngineOptions(flags).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace orbit::cli
