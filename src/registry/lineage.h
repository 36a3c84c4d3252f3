// Lineage of a model version: the chain version → parent → ... with each one's run, data sets and
// code version, for `orbit models lineage NAME/VERSION` and the REST API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "registry/model_registry.h"
#include "registry/tracking.h"

namespace orbit::registry {

// The run that produced a version, as lineage shows it.
struct LineageRun {
  std::string id;
  std::string experiment;
  std::string name;
  std::string user;
  RunStatus status = RunStatus::kRunning;
  bool operator==(const LineageRun&) const = default;
};

// One link of the chain.
struct LineageEntry {
  ModelVersion version;
  std::optional<LineageRun> run;
};

// [version, its parent, the parent's parent, ...]; NotFound when the version does not exist.
Result<std::vector<LineageEntry>> Lineage(ModelRegistry& registry, std::string_view name,
                                          std::int64_t version);

// Human-readable text of a chain, one block per version (UTC times).
std::string RenderLineage(const std::vector<LineageEntry>& chain);

}  // namespace orbit::registry
