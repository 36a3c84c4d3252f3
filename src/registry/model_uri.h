// `models:/` URIs, the one way the CLI, `orbit serve` and clients name a registered model:
//   models:/cellseg/3          a version
//   models:/cellseg@production an alias
//   models:/cellseg/latest     the highest version
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "registry/model_registry.h"

namespace orbit::registry {

// A parsed URI; which of version/alias is set follows kind.
struct ModelUri {
  enum class Kind { kVersion, kAlias, kLatest };
  std::string name;
  Kind kind = Kind::kVersion;
  std::int64_t version = 0;
  std::string alias;

  std::string ToString() const;
  bool operator==(const ModelUri&) const = default;
};

// InvalidArgument "model URI '...': <problem>" for anything but the three forms above with a
// valid model name, a version >= 1 without leading zeros, or a valid alias.
Result<ModelUri> ParseModelUri(std::string_view uri);

// What a URI points at now: enough to fetch and serve the model.
struct ResolvedModel {
  std::string name;
  std::int64_t version = 0;
  std::string blob_sha256;
  std::string recipe_yaml;
  OnnxSignature signature;
  bool operator==(const ResolvedModel&) const = default;
};

// Parses and resolves `uri`: NotFound "model 'cellseg' does not exist", "model 'cellseg' has no
// version 7", "alias 'production' of model 'cellseg' does not exist", "model 'cellseg' has no
// versions" (latest).
Result<ResolvedModel> ResolveModelUri(ModelRegistry& registry, std::string_view uri);

}  // namespace orbit::registry
