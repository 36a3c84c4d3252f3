// The model repository on disk, Triton-style: DIR/<model>/orbit.yaml and
// DIR/<model>/<version>/model.onnx. This file knows what is on disk and which versions a policy
// selects; loading them into schedulers is the serving layer's job.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace orbit::repository {

// Which of a model's versions are served: the newest N (default 1), all, or a fixed list.
struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int latest_count = 1;
  std::vector<std::int64_t> versions;  // kSpecific

  std::string ToString() const;  // "latest 1", "all", "specific [1, 3]"
};

// Parses the policy's text form used by flags and orbit.yaml: "latest:N", "all", "specific:1,3".
Result<VersionPolicy> ParseVersionPolicy(std::string_view text);

// The versions of `available` (ascending) that `policy` selects, ascending. Specific versions
// that are not on disk are skipped (the caller reports them).
std::vector<std::int64_t> SelectVersions(const std::vector<std::int64_t>& available,
                                         const VersionPolicy& policy);

// One model directory as found on disk.
struct ModelOnDisk {
  std::string name;
  std::filesystem::path directory;
  std::vector<std::int64_t> versions;  // numeric sub-directories holding model.onnx, ascending
  bool has_recipe = false;             // orbit.yaml present
};

// Every model directory under `root`, by name. Sub-directories that are not models (no numeric
// version with a model.onnx) are listed with no versions so callers can say why they are skipped.
Result<std::map<std::string, ModelOnDisk>> ScanRepository(const std::filesystem::path& root);

// Model lifecycle: loading → ready → unloading → unavailable (and loading → unavailable on a
// failed load; unavailable → loading to retry). Everything else is a bug.
enum class ModelState { kUnavailable, kLoading, kReady, kUnloading };
std::string_view ModelStateName(ModelState state);
// Ok, or FailedPrecondition naming both states when `from → to` is not a legal transition.
Status ValidateTransition(ModelState from, ModelState to);

}  // namespace orbit::repository
