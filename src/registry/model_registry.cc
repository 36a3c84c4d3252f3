#include "registry/model_registry.h"

#include <charconv>
#include <cmath>

#include "core/sha256.h"
#include "registry/names.h"
#include "registry/tracking.h"
#include "store/schema.h"
#include "vision/recipe.h"

namespace orbit::registry {
namespace {

using store::Rows;
using store::Sql;

std::string Quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

Status ModelNotFound(std::string_view name) {
  return NotFoundError("model " + Quoted(name) + " does not exist");
}

Status VersionNotFound(std::string_view name, std::int64_t version) {
  return NotFoundError("model " + Quoted(name) + " has no version " + std::to_string(version));
}

// The model's id; with `lock`, also its row lock until commit (PostgreSQL: FOR UPDATE; SQLite
// write transactions are serial already).
Result<std::int64_t> ModelId(Sql& sql, std::string_view name, bool lock = false) {
  std::string statement = "SELECT id FROM registered_models WHERE name = ?";
  if (lock && sql.dialect() == store::Dialect::kPostgres) statement += " FOR UPDATE";
  ORBIT_ASSIGN_OR_RETURN(Rows rows, sql.Query(statement, {name}));
  if (rows.empty()) return ModelNotFound(name);
  return rows[0][0].AsInt64();
}

constexpr const char* kVersionColumns =
    "SELECT v.model_id, m.name, v.version, v.blob_sha256, v.signature_json, v.recipe_yaml, "
    "v.model_card_json, v.run_id, v.parent_version, v.datasets_json, v.code_version, v.creator, "
    "v.created_at_ms, v.description, v.tags_json FROM model_versions v "
    "JOIN registered_models m ON m.id = v.model_id ";

Result<ModelVersion> VersionFromRow(const store::Row& row) {
  ModelVersion v;
  v.model_id = row[0].AsInt64();
  v.model_name = row[1].AsText();
  v.version = row[2].AsInt64();
  v.blob_sha256 = row[3].AsText();
  try {
    ORBIT_ASSIGN_OR_RETURN(v.signature, SignatureFromJson(nlohmann::json::parse(row[4].AsText())));
    v.recipe_yaml = row[5].AsText();
    ORBIT_ASSIGN_OR_RETURN(v.card, ModelCardFromJson(nlohmann::json::parse(row[6].AsText())));
    if (!row[7].is_null()) v.run_id = row[7].AsText();
    if (!row[8].is_null()) v.parent_version = row[8].AsInt64();
    for (const auto& d : nlohmann::json::parse(row[9].AsText())) {
      v.datasets.push_back({d.at("uri").get<std::string>(), d.at("sha256").get<std::string>()});
    }
    v.code_version = row[10].AsText();
    v.creator = row[11].AsText();
    v.created_at_ms = row[12].AsInt64();
    v.description = row[13].AsText();
    v.tags = nlohmann::json::parse(row[14].AsText()).get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return DataLossError("version " + VersionName(v.model_name, v.version) +
                         ": stored JSON is unreadable: " + e.what());
  }
  return v;
}

Result<ModelVersion> QueryVersion(Sql& sql, std::string_view name, std::int64_t version) {
  ORBIT_ASSIGN_OR_RETURN(
      Rows rows, sql.Query(std::string(kVersionColumns) + "WHERE m.name = ? AND v.version = ?",
                           {name, version}));
  if (rows.empty()) {
    ORBIT_ASSIGN_OR_RETURN(std::int64_t id, ModelId(sql, name));
    (void)id;
    return VersionNotFound(name, version);
  }
  return VersionFromRow(rows[0]);
}

Result<RegisteredModel> QueryModel(Sql& sql, std::string_view name) {
  ORBIT_ASSIGN_OR_RETURN(
      Rows rows, sql.Query("SELECT id, name, description, created_at_ms, updated_at_ms, "
                           "(SELECT MAX(version) FROM model_versions v WHERE v.model_id = m.id) "
                           "FROM registered_models m WHERE name = ?",
                           {name}));
  if (rows.empty()) return ModelNotFound(name);
  const auto& row = rows[0];
  RegisteredModel model{row[0].AsInt64(),
                        row[1].AsText(),
                        row[2].AsText(),
                        row[3].AsInt64(),
                        row[4].AsInt64(),
                        row[5].is_null() ? 0 : row[5].AsInt64(),
                        {}};
  ORBIT_ASSIGN_OR_RETURN(
      Rows aliases,
      sql.Query("SELECT alias, version FROM model_aliases WHERE model_id = ?", {model.id}));
  for (const auto& a : aliases.rows) model.aliases[a[0].AsText()] = a[1].AsInt64();
  return model;
}

// "NAME/VERSION" or "VERSION" → the parent's version number within `model`.
Result<std::int64_t> ParseParent(std::string_view parent, std::string_view model) {
  std::string_view number = parent;
  const std::size_t slash = parent.rfind('/');
  if (slash != std::string_view::npos) {
    const std::string_view name = parent.substr(0, slash);
    if (name != model) {
      return InvalidArgumentError("parent " + Quoted(parent) + " is a version of model " +
                                  Quoted(name) + "; a parent must be an earlier version of " +
                                  Quoted(model));
    }
    number = parent.substr(slash + 1);
  }
  std::int64_t version = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), version);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size() || version < 1) {
    return InvalidArgumentError("parent " + Quoted(parent) +
                                " is not NAME/VERSION with a version number >= 1");
  }
  return version;
}

// Each recipe tensor must be one the model declares (a recipe written for another model is
// the usual mistake).
Status CheckRecipeAgainstSignature(const vision::ModelRecipe& recipe,
                                   const OnnxSignature& signature, std::string_view what) {
  auto check = [&](const std::vector<vision::TensorSpec>& specs,
                   const std::vector<TensorSignature>& tensors, const char* kind) -> Status {
    for (const auto& spec : specs) {
      bool found = false;
      for (const auto& t : tensors) found = found || t.name == spec.name;
      if (!found) {
        return InvalidArgumentError(std::string(what) + ": orbit.yaml names " + kind + " " +
                                    Quoted(spec.name) + " but the ONNX model has no such " + kind);
      }
    }
    return Status::Ok();
  };
  ORBIT_RETURN_IF_ERROR(check(recipe.inputs, signature.inputs, "input"));
  return check(recipe.outputs, signature.outputs, "output");
}

nlohmann::json DatasetsToJson(const std::vector<DatasetRef>& datasets) {
  nlohmann::json array = nlohmann::json::array();
  for (const auto& d : datasets) array.push_back({{"uri", d.uri}, {"sha256", d.sha256}});
  return array;
}

}  // namespace

std::string VersionName(std::string_view model, std::int64_t version) {
  return std::string(model) + "/" + std::to_string(version);
}

nlohmann::json ModelCardToJson(const ModelCard& card) {
  return {{"metrics", card.metrics},
          {"intended_use", card.intended_use},
          {"training_data", card.training_data},
          {"text", card.text}};
}

Result<ModelCard> ModelCardFromJson(const nlohmann::json& json) {
  if (!json.is_object()) return InvalidArgumentError("model card must be a JSON object");
  ModelCard card;
  for (const auto& [key, value] : json.items()) {
    if (key == "metrics") {
      if (!value.is_object())
        return InvalidArgumentError("model card: 'metrics' must be an object");
      for (const auto& [metric, number] : value.items()) {
        if (!number.is_number() || !std::isfinite(number.get<double>())) {
          return InvalidArgumentError("model card: metric " + Quoted(metric) +
                                      " must be a finite number");
        }
        card.metrics[metric] = number.get<double>();
      }
    } else if (key == "intended_use" || key == "training_data" || key == "text") {
      if (!value.is_string()) {
        return InvalidArgumentError("model card: " + Quoted(key) + " must be a string");
      }
      (key == "intended_use"    ? card.intended_use
       : key == "training_data" ? card.training_data
                                : card.text) = value.get<std::string>();
    } else {
      return InvalidArgumentError("model card: unknown field " + Quoted(key) +
                                  " (expected metrics, intended_use, training_data, text)");
    }
  }
  return card;
}

Result<VersionPatch> ParseVersionPatch(const nlohmann::json& json, std::string_view what) {
  if (!json.is_object())
    return InvalidArgumentError(std::string(what) + ": patch must be an object");
  VersionPatch patch;
  for (const auto& [key, value] : json.items()) {
    if (key == "description") {
      if (!value.is_string()) {
        return InvalidArgumentError(std::string(what) + ": 'description' must be a string");
      }
      patch.description = value.get<std::string>();
    } else if (key == "tags") {
      if (!value.is_object()) {
        return InvalidArgumentError(std::string(what) + ": 'tags' must be an object");
      }
      for (const auto& [tag, tag_value] : value.items()) {
        if (tag_value.is_null()) {
          patch.tags[tag] = std::nullopt;
        } else if (tag_value.is_string()) {
          patch.tags[tag] = tag_value.get<std::string>();
        } else {
          return InvalidArgumentError(std::string(what) + ": tag " + Quoted(tag) +
                                      " must be a string or null");
        }
      }
    } else if (key == "blob_sha256" || key == "signature" || key == "recipe" ||
               key == "recipe_yaml" || key == "model_card" || key == "run_id" || key == "parent" ||
               key == "parent_version" || key == "datasets" || key == "code_version" ||
               key == "creator" || key == "created_at_ms" || key == "version" || key == "bytes") {
      return FailedPreconditionError(std::string(what) + ": field " + Quoted(key) +
                                     " is immutable (register a new version instead)");
    } else {
      return InvalidArgumentError(std::string(what) + ": unknown field " + Quoted(key) +
                                  " (editable: description, tags)");
    }
  }
  return patch;
}

ModelRegistry::ModelRegistry(store::Database& db, store::ArtifactStore& artifacts,
                             store::Clock clock)
    : db_(db), artifacts_(artifacts), clock_(std::move(clock)) {}

std::int64_t ModelRegistry::NowMs() const { return registry::NowMs(clock_); }

Result<RegisteredModel> ModelRegistry::CreateModel(std::string_view name,
                                                   std::string_view description) {
  ORBIT_RETURN_IF_ERROR(ValidateModelName(name));
  const std::int64_t now = NowMs();
  auto inserted = db_.Execute(
      "INSERT INTO registered_models (name, description, created_at_ms, updated_at_ms) "
      "VALUES (?, ?, ?, ?)",
      {name, description, now, now});
  if (!inserted.ok()) {
    if (inserted.status().code() == StatusCode::kAlreadyExists) {
      return AlreadyExistsError("model " + Quoted(name) + " already exists");
    }
    return inserted.status();
  }
  return GetModel(name);
}

Result<RegisteredModel> ModelRegistry::GetModel(std::string_view name) {
  RegisteredModel model;
  ORBIT_RETURN_IF_ERROR(db_.InTransaction(
      [&](Sql& sql) -> Status {
        ORBIT_ASSIGN_OR_RETURN(model, QueryModel(sql, name));
        return Status::Ok();
      },
      store::TransactionMode::kReadOnly));
  return model;
}

Result<std::vector<RegisteredModel>> ModelRegistry::ListModels() {
  std::vector<RegisteredModel> models;
  ORBIT_RETURN_IF_ERROR(db_.InTransaction(
      [&](Sql& sql) -> Status {
        models.clear();
        ORBIT_ASSIGN_OR_RETURN(Rows names,
                               sql.Query("SELECT name FROM registered_models ORDER BY name"));
        for (const auto& row : names.rows) {
          ORBIT_ASSIGN_OR_RETURN(RegisteredModel model, QueryModel(sql, row[0].AsText()));
          models.push_back(std::move(model));
        }
        return Status::Ok();
      },
      store::TransactionMode::kReadOnly));
  return models;
}

Status ModelRegistry::SetModelDescription(std::string_view name, std::string_view description) {
  ORBIT_ASSIGN_OR_RETURN(std::int64_t n,
                         db_.Execute("UPDATE registered_models SET description = ?, "
                                     "updated_at_ms = ? WHERE name = ?",
                                     {description, NowMs(), name}));
  return n == 0 ? ModelNotFound(name) : Status::Ok();
}

Result<ModelVersion> ModelRegistry::RegisterVersion(const NewModelVersion& request) {
  const std::string& model = request.model;
  ORBIT_RETURN_IF_ERROR(ValidateModelName(model));
  const bool from_blob = !request.blob_sha256.empty();
  const bool from_run = !request.source_run_id.empty() || !request.source_artifact_path.empty();
  if (from_blob == from_run) {
    return InvalidArgumentError("new version of model " + Quoted(model) +
                                ": give either blob_sha256 (an uploaded file) or source_run_id "
                                "and source_artifact_path (a run's artifact), not " +
                                (from_blob ? "both" : "neither"));
  }
  std::string sha = request.blob_sha256;
  if (from_run) {
    ORBIT_ASSIGN_OR_RETURN(
        Rows rows, db_.Query("SELECT blob_sha256 FROM run_artifacts WHERE run_id = ? AND path = ?",
                             {request.source_run_id, request.source_artifact_path}));
    if (rows.empty()) {
      return NotFoundError("run " + Quoted(request.source_run_id) + " has no artifact " +
                           Quoted(request.source_artifact_path));
    }
    sha = rows[0][0].AsText();
  }
  const std::string what = "new version of model " + Quoted(model);
  if (!IsSha256Hex(sha)) {
    return InvalidArgumentError(what + ": blob " + Quoted(sha) + " is not a sha256 digest");
  }
  auto bytes = artifacts_.ReadAll(sha);
  if (!bytes.ok()) return bytes.status().WithContext(what + ": blob " + sha);
  ORBIT_ASSIGN_OR_RETURN(OnnxSignature signature,
                         ReadOnnxSignature(*bytes, what + " (blob " + sha.substr(0, 12) + ")"));
  if (!request.recipe_yaml.empty()) {
    auto recipe = vision::ParseModelRecipe(request.recipe_yaml, "orbit.yaml");
    if (!recipe.ok()) return recipe.status().WithContext(what);
    ORBIT_RETURN_IF_ERROR(CheckRecipeAgainstSignature(*recipe, signature, what));
  }
  std::optional<std::int64_t> parent;
  if (!request.parent.empty()) {
    auto parsed = ParseParent(request.parent, model);
    if (!parsed.ok()) return parsed.status().WithContext(what);
    parent = *parsed;
  }
  for (const DatasetRef& d : request.datasets) {
    if (d.uri.empty()) return InvalidArgumentError(what + ": a data set has an empty URI");
    if (!IsSha256Hex(d.sha256)) {
      return InvalidArgumentError(what + ": data set " + Quoted(d.uri) + " needs a sha256 " +
                                  "content hash (64 lower-case hex digits), got " +
                                  Quoted(d.sha256));
    }
  }
  for (const auto& [key, value] : request.tags) ORBIT_RETURN_IF_ERROR(ValidateKey("tag", key));
  const std::string run_id = request.run_id.empty() ? request.source_run_id : request.run_id;
  const std::string signature_json = SignatureToJson(signature).dump();
  const std::string card_json = ModelCardToJson(request.card).dump();
  const std::string datasets_json = DatasetsToJson(request.datasets).dump();
  const std::string tags_json = nlohmann::json(request.tags).dump();
  const std::int64_t now = NowMs();

  std::int64_t version = 0;
  ORBIT_RETURN_IF_ERROR(db_.InTransaction([&](Sql& sql) -> Status {
    if (request.create_model_if_missing) {
      ORBIT_RETURN_IF_ERROR(
          sql.Execute("INSERT INTO registered_models (name, created_at_ms, updated_at_ms) "
                      "VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                      {model, now, now})
              .status());
    }
    ORBIT_ASSIGN_OR_RETURN(std::int64_t model_id, ModelId(sql, model));
    if (!run_id.empty()) {
      ORBIT_ASSIGN_OR_RETURN(RunStatus status, ReadRunStatus(sql, run_id));
      (void)status;
    }
    if (parent) {
      ORBIT_ASSIGN_OR_RETURN(
          Rows rows, sql.Query("SELECT 1 FROM model_versions WHERE model_id = ? AND version = ?",
                               {model_id, *parent}));
      if (rows.empty()) {
        return NotFoundError(what + ": parent " + Quoted(VersionName(model, *parent)) +
                             " does not exist");
      }
    }
    ORBIT_RETURN_IF_ERROR(sql.Execute("INSERT INTO blobs (sha256, size_bytes, created_at_ms) "
                                      "VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                                      {sha, static_cast<std::int64_t>(bytes->size()), now})
                              .status());
    ORBIT_ASSIGN_OR_RETURN(version, store::AllocateModelVersion(sql, model_id, now));
    return sql
        .Execute(
            "INSERT INTO model_versions (model_id, version, blob_sha256, signature_json, "
            "recipe_yaml, model_card_json, run_id, parent_version, datasets_json, code_version, "
            "creator, created_at_ms, description, tags_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            {model_id, version, sha, signature_json, request.recipe_yaml, card_json,
             run_id.empty() ? store::Value() : store::Value(run_id), parent, datasets_json,
             request.code_version, request.user, now, request.description, tags_json})
        .status();
  }));
  return GetVersion(model, version);
}

Result<ModelVersion> ModelRegistry::GetVersion(std::string_view name, std::int64_t version) {
  ModelVersion out;
  ORBIT_RETURN_IF_ERROR(db_.InTransaction(
      [&](Sql& sql) -> Status {
        ORBIT_ASSIGN_OR_RETURN(out, QueryVersion(sql, name, version));
        return Status::Ok();
      },
      store::TransactionMode::kReadOnly));
  return out;
}

Result<ModelVersion> ModelRegistry::LatestVersion(std::string_view name) {
  ORBIT_ASSIGN_OR_RETURN(RegisteredModel model, GetModel(name));
  if (model.latest_version == 0) {
    return NotFoundError("model " + Quoted(name) + " has no versions");
  }
  return GetVersion(name, model.latest_version);
}

Result<std::vector<ModelVersion>> ModelRegistry::ListVersions(std::string_view name) {
  std::vector<ModelVersion> versions;
  ORBIT_RETURN_IF_ERROR(db_.InTransaction(
      [&](Sql& sql) -> Status {
        versions.clear();
        ORBIT_ASSIGN_OR_RETURN(std::int64_t id, ModelId(sql, name));
        (void)id;
        ORBIT_ASSIGN_OR_RETURN(Rows rows, sql.Query(std::string(kVersionColumns) +
                                                        "WHERE m.name = ? ORDER BY v.version",
                                                    {name}));
        for (const auto& row : rows.rows) {
          ORBIT_ASSIGN_OR_RETURN(ModelVersion v, VersionFromRow(row));
          versions.push_back(std::move(v));
        }
        return Status::Ok();
      },
      store::TransactionMode::kReadOnly));
  return versions;
}

Result<ModelVersion> ModelRegistry::UpdateVersion(std::string_view name, std::int64_t version,
                                                  const VersionPatch& patch) {
  for (const auto& [key, value] : patch.tags) ORBIT_RETURN_IF_ERROR(ValidateKey("tag", key));
  ModelVersion out;
  ORBIT_RETURN_IF_ERROR(db_.InTransaction([&](Sql& sql) -> Status {
    // Lock the model row first (as alias moves do) so two edits of one version's tags serialise
    // instead of losing one another's keys.
    ORBIT_ASSIGN_OR_RETURN(std::int64_t model_id, ModelId(sql, name, /*lock=*/true));
    (void)model_id;
    ORBIT_ASSIGN_OR_RETURN(out, QueryVersion(sql, name, version));
    if (patch.description) out.description = *patch.description;
    for (const auto& [key, value] : patch.tags) {
      if (value) {
        out.tags[key] = *value;
      } else {
        out.tags.erase(key);
      }
    }
    return sql
        .Execute(
            "UPDATE model_versions SET description = ?, tags_json = ? "
            "WHERE model_id = ? AND version = ?",
            {out.description, nlohmann::json(out.tags).dump(), out.model_id, version})
        .status();
  }));
  return out;
}

Result<ModelAlias> ModelRegistry::SetAlias(std::string_view name, std::string_view alias,
                                           std::int64_t version, std::string_view user,
                                           std::string_view reason) {
  ORBIT_RETURN_IF_ERROR(ValidateAliasName(alias));
  const std::int64_t now = NowMs();
  ORBIT_RETURN_IF_ERROR(db_.InTransaction([&](Sql& sql) -> Status {
    ORBIT_ASSIGN_OR_RETURN(std::int64_t model_id, ModelId(sql, name, /*lock=*/true));
    ORBIT_ASSIGN_OR_RETURN(
        Rows exists, sql.Query("SELECT 1 FROM model_versions WHERE model_id = ? AND version = ?",
                               {model_id, version}));
    if (exists.empty()) return VersionNotFound(name, version);
    ORBIT_ASSIGN_OR_RETURN(
        Rows current,
        sql.Query("SELECT version FROM model_aliases WHERE model_id = ? AND alias = ?",
                  {model_id, alias}));
    const store::Value from = current.empty() ? store::Value() : current[0][0];
    ORBIT_RETURN_IF_ERROR(
        sql.Execute("INSERT INTO model_aliases (model_id, alias, version, moved_by, moved_at_ms) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (model_id, alias) DO UPDATE SET "
                    "version = excluded.version, moved_by = excluded.moved_by, "
                    "moved_at_ms = excluded.moved_at_ms",
                    {model_id, alias, version, user, now})
            .status());
    return sql
        .Execute(
            "INSERT INTO alias_history (model_id, alias, from_version, to_version, moved_by, "
            "moved_at_ms, reason) VALUES (?, ?, CAST(? AS BIGINT), ?, ?, ?, ?)",
            {model_id, alias, from, version, user, now, reason})
        .status();
  }));
  return ModelAlias{std::string(alias), version, std::string(user), now};
}

Status ModelRegistry::DeleteAlias(std::string_view name, std::string_view alias,
                                  std::string_view user, std::string_view reason) {
  const std::int64_t now = NowMs();
  return db_.InTransaction([&](Sql& sql) -> Status {
    ORBIT_ASSIGN_OR_RETURN(std::int64_t model_id, ModelId(sql, name, /*lock=*/true));
    ORBIT_ASSIGN_OR_RETURN(
        Rows current,
        sql.Query("SELECT version FROM model_aliases WHERE model_id = ? AND alias = ?",
                  {model_id, alias}));
    if (current.empty()) {
      return NotFoundError("alias " + Quoted(alias) + " of model " + Quoted(name) +
                           " does not exist");
    }
    ORBIT_RETURN_IF_ERROR(
        sql.Execute("DELETE FROM model_aliases WHERE model_id = ? AND alias = ?", {model_id, alias})
            .status());
    return sql
        .Execute(
            "INSERT INTO alias_history (model_id, alias, from_version, to_version, moved_by, "
            "moved_at_ms, reason) VALUES (?, ?, ?, NULL, ?, ?, ?)",
            {model_id, alias, current[0][0], user, now, reason})
        .status();
  });
}

Result<ModelAlias> ModelRegistry::GetAlias(std::string_view name, std::string_view alias) {
  ModelAlias out;
  ORBIT_RETURN_IF_ERROR(db_.InTransaction(
      [&](Sql& sql) -> Status {
        ORBIT_ASSIGN_OR_RETURN(std::int64_t model_id, ModelId(sql, name));
        ORBIT_ASSIGN_OR_RETURN(Rows rows,
                               sql.Query("SELECT version, moved_by, moved_at_ms FROM model_aliases "
                                         "WHERE model_id = ? AND alias = ?",
                                         {model_id, alias}));
        if (rows.empty()) {
          return NotFoundError("alias " + Quoted(alias) + " of model " + Quoted(name) +
                               " does not exist");
        }
        out = {std::string(alias), rows[0][0].AsInt64(), rows[0][1].AsText(), rows[0][2].AsInt64()};
        return Status::Ok();
      },
      store::TransactionMode::kReadOnly));
  return out;
}

Result<std::vector<ModelAlias>> ModelRegistry::ListAliases(std::string_view name) {
  std::vector<ModelAlias> out;
  ORBIT_RETURN_IF_ERROR(db_.InTransaction(
      [&](Sql& sql) -> Status {
        out.clear();
        ORBIT_ASSIGN_OR_RETURN(std::int64_t model_id, ModelId(sql, name));
        ORBIT_ASSIGN_OR_RETURN(
            Rows rows, sql.Query("SELECT alias, version, moved_by, moved_at_ms FROM model_aliases "
                                 "WHERE model_id = ? ORDER BY alias",
                                 {model_id}));
        for (const auto& r : rows.rows) {
          out.push_back({r[0].AsText(), r[1].AsInt64(), r[2].AsText(), r[3].AsInt64()});
        }
        return Status::Ok();
      },
      store::TransactionMode::kReadOnly));
  return out;
}

Result<std::vector<AliasMove>> ModelRegistry::AliasHistory(std::string_view name,
                                                           std::string_view alias) {
  std::vector<AliasMove> out;
  ORBIT_RETURN_IF_ERROR(db_.InTransaction(
      [&](Sql& sql) -> Status {
        out.clear();
        ORBIT_ASSIGN_OR_RETURN(std::int64_t model_id, ModelId(sql, name));
        ORBIT_ASSIGN_OR_RETURN(
            Rows rows, sql.Query("SELECT from_version, to_version, moved_by, moved_at_ms, reason "
                                 "FROM alias_history WHERE model_id = ? AND alias = ? ORDER BY id",
                                 {model_id, alias}));
        for (const auto& r : rows.rows) {
          AliasMove move;
          move.alias = std::string(alias);
          if (!r[0].is_null()) move.from_version = r[0].AsInt64();
          if (!r[1].is_null()) move.to_version = r[1].AsInt64();
          move.moved_by = r[2].AsText();
          move.moved_at_ms = r[3].AsInt64();
          move.reason = r[4].AsText();
          out.push_back(std::move(move));
        }
        return Status::Ok();
      },
      store::TransactionMode::kReadOnly));
  return out;
}

}  // namespace orbit::registry
