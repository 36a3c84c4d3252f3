// The model registry: registered models, their immutable numbered versions (ONNX bytes as a blob,
// signature, orbit.yaml recipe, model card, lineage), editable descriptions and tags, and
// aliases (`production`, `staging`, ...) that move atomically with an audit history. The REST
// API, `orbit models ...`, the Python client and `orbit serve models:/...` are thin layers over
// this class. docs/design/registry.md states the invariants.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "registry/onnx_signature.h"
#include "store/artifact_store.h"
#include "store/database.h"

namespace orbit::registry {

// A model name with its description, newest version and current aliases.
struct RegisteredModel {
  std::int64_t id = 0;
  std::string name;
  std::string description;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int64_t latest_version = 0;  // 0: no versions yet
  std::map<std::string, std::int64_t> aliases;
};

// A data set a version was trained or evaluated on: where it is and what its content was.
struct DatasetRef {
  std::string uri;     // e.g. s3://bucket/cells/v3 or /data/cells
  std::string sha256;  // content hash, 64 lower-case hex digits
  bool operator==(const DatasetRef&) const = default;
};

// The model card stored with a version (model_card_json).
struct ModelCard {
  std::map<std::string, double> metrics;  // e.g. {"iou": 0.95}
  std::string intended_use;
  std::string training_data;
  std::string text;  // free text (Markdown)
  bool operator==(const ModelCard&) const = default;
};
nlohmann::json ModelCardToJson(const ModelCard& card);
// InvalidArgument naming the bad field (unknown fields are errors).
Result<ModelCard> ModelCardFromJson(const nlohmann::json& json);

// One registered version. Everything but description and tags is immutable.
struct ModelVersion {
  std::int64_t model_id = 0;
  std::string model_name;
  std::int64_t version = 0;
  std::string blob_sha256;
  OnnxSignature signature;
  std::string recipe_yaml;  // orbit.yaml text, validated at registration; may be empty
  ModelCard card;
  // Lineage.
  std::optional<std::string> run_id;
  std::optional<std::int64_t> parent_version;  // an earlier version of the same model
  std::vector<DatasetRef> datasets;
  std::string code_version;  // e.g. a git commit
  std::string creator;
  std::int64_t created_at_ms = 0;
  // Editable.
  std::string description;
  std::map<std::string, std::string> tags;
};

// What RegisterVersion needs. The bytes come from exactly one source: `blob_sha256` (a direct
// upload already in the artifact store) or `source_run_id` + `source_artifact_path` (a run's
// logged artifact).
struct NewModelVersion {
  std::string model;  // created when missing (create_model_if_missing)
  bool create_model_if_missing = true;
  std::string blob_sha256;
  std::string source_run_id;
  std::string source_artifact_path;
  std::string recipe_yaml;
  ModelCard card;
  std::string run_id;  // lineage; defaults to source_run_id
  std::vector<DatasetRef> datasets;
  std::string code_version;
  std::string parent;  // "NAME/VERSION" (NAME must be `model`) or "VERSION"; empty = none
  std::string description;
  std::map<std::string, std::string> tags;
  std::string user;  // recorded as creator
};

// An edit of a version's mutable fields; a tag mapped to nullopt is deleted.
struct VersionPatch {
  std::optional<std::string> description;
  std::map<std::string, std::optional<std::string>> tags;
};
// For the REST layer: {"description": "...", "tags": {"k": "v", "old": null}}. A field of the
// immutable part (blob_sha256, signature, recipe, ...) is FailedPrecondition "... is immutable".
Result<VersionPatch> ParseVersionPatch(const nlohmann::json& json, std::string_view what);

// Where an alias points now.
struct ModelAlias {
  std::string alias;
  std::int64_t version = 0;
  std::string moved_by;
  std::int64_t moved_at_ms = 0;
  bool operator==(const ModelAlias&) const = default;
};

// One row of an alias's history: created (no from), moved, or deleted (no to).
struct AliasMove {
  std::string alias;
  std::optional<std::int64_t> from_version;
  std::optional<std::int64_t> to_version;
  std::string moved_by;
  std::int64_t moved_at_ms = 0;
  std::string reason;
  bool operator==(const AliasMove&) const = default;
};

// Thread-safe (as the Database is); any number of registries (processes) may share a database.
class ModelRegistry {
 public:
  ModelRegistry(store::Database& db, store::ArtifactStore& artifacts, store::Clock clock = {});

  Result<RegisteredModel> CreateModel(std::string_view name, std::string_view description = "");
  Result<RegisteredModel> GetModel(std::string_view name);
  Result<std::vector<RegisteredModel>> ListModels();
  Status SetModelDescription(std::string_view name, std::string_view description);

  // Reads the ONNX signature and validates recipe, card and lineage before the transaction; then
  // in one transaction allocates the next version number and inserts the version row and its
  // blob reference, so a version is visible complete or not at all, and numbers are gapless.
  Result<ModelVersion> RegisterVersion(const NewModelVersion& request);
  Result<ModelVersion> GetVersion(std::string_view name, std::int64_t version);
  // The highest version; NotFound when the model has none.
  Result<ModelVersion> LatestVersion(std::string_view name);
  Result<std::vector<ModelVersion>> ListVersions(std::string_view name);
  Result<ModelVersion> UpdateVersion(std::string_view name, std::int64_t version,
                                     const VersionPatch& patch);

  // Points `alias` at `version` (creating or moving it) and appends a history row, in one
  // transaction holding the model's row lock, so concurrent moves serialise.
  Result<ModelAlias> SetAlias(std::string_view name, std::string_view alias, std::int64_t version,
                              std::string_view user, std::string_view reason = "");
  Status DeleteAlias(std::string_view name, std::string_view alias, std::string_view user,
                     std::string_view reason = "");
  Result<ModelAlias> GetAlias(std::string_view name, std::string_view alias);
  Result<std::vector<ModelAlias>> ListAliases(std::string_view name);
  // Oldest first.
  Result<std::vector<AliasMove>> AliasHistory(std::string_view name, std::string_view alias);

  store::Database& database() { return db_; }

 private:
  std::int64_t NowMs() const;

  store::Database& db_;
  store::ArtifactStore& artifacts_;
  store::Clock clock_;
};

// "cellseg/3" for messages.
std::string VersionName(std::string_view model, std::int64_t version);

}  // namespace orbit::registry
