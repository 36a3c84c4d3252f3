#include "store/schema.h"

namespace orbit::store {
namespace {

// Times are BIGINT milliseconds since the Unix epoch (UTC) on both back ends; JSON and YAML
// documents are TEXT. Names avoid words reserved in either dialect (user, timestamp).
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
  size_bytes BIGINT NOT NULL CHECK (size_bytes >= 0),
  created_at_ms BIGINT NOT NULL
);

CREATE TABLE experiments (
  id {{id}},
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at_ms BIGINT NOT NULL
);

CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  experiment_id BIGINT NOT NULL REFERENCES experiments (id),
  name TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'killed')),
  user_name TEXT NOT NULL DEFAULT '',
  start_time_ms BIGINT NOT NULL,
  end_time_ms BIGINT
);
CREATE INDEX runs_by_experiment ON runs (experiment_id, start_time_ms);

CREATE TABLE run_params (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);

CREATE TABLE run_tags (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);

CREATE TABLE run_metrics (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  step BIGINT NOT NULL DEFAULT 0,
  timestamp_ms BIGINT NOT NULL
);
CREATE INDEX run_metrics_by_key ON run_metrics (run_id, key, step);

CREATE TABLE run_artifacts (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  blob_sha256 TEXT NOT NULL REFERENCES blobs (sha256),
  PRIMARY KEY (run_id, path)
);
CREATE INDEX run_artifacts_by_blob ON run_artifacts (blob_sha256);

CREATE TABLE registered_models (
  id {{id}},
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  -- The version counter: AllocateModelVersion bumps it in the registering transaction.
  next_version BIGINT NOT NULL DEFAULT 1 CHECK (next_version >= 1),
  created_at_ms BIGINT NOT NULL,
  updated_at_ms BIGINT NOT NULL
);

CREATE TABLE model_versions (
  model_id BIGINT NOT NULL REFERENCES registered_models (id),
  version BIGINT NOT NULL CHECK (version >= 1),
  blob_sha256 TEXT NOT NULL REFERENCES blobs (sha256),
  signature_json TEXT NOT NULL DEFAULT '{}',
  recipe_yaml TEXT NOT NULL DEFAULT '',
  model_card_json TEXT NOT NULL DEFAULT '{}',
  run_id TEXT REFERENCES runs (id),
  parent_version BIGINT,
  datasets_json TEXT NOT NULL DEFAULT '[]',
  code_version TEXT NOT NULL DEFAULT '',
  creator TEXT NOT NULL DEFAULT '',
  created_at_ms BIGINT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  tags_json TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (model_id, version),
  FOREIGN KEY (model_id, parent_version) REFERENCES model_versions (model_id, version)
);
CREATE INDEX model_versions_by_blob ON model_versions (blob_sha256);
CREATE INDEX model_versions_by_run ON model_versions (run_id);

CREATE TABLE model_aliases (
  model_id BIGINT NOT NULL,
  alias TEXT NOT NULL,
  version BIGINT NOT NULL,
  moved_by TEXT NOT NULL DEFAULT '',
  moved_at_ms BIGINT NOT NULL,
  PRIMARY KEY (model_id, alias),
  FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
);

-- Every alias move, append-only: NULL from_version = created, NULL to_version = deleted.
CREATE TABLE alias_history (
  id {{id}},
  model_id BIGINT NOT NULL REFERENCES registered_models (id),
  alias TEXT NOT NULL,
  from_version BIGINT,
  to_version BIGINT,
  moved_by TEXT NOT NULL DEFAULT '',
  moved_at_ms BIGINT NOT NULL,
  reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alias_history_by_alias ON alias_history (model_id, alias, id);
)sql";

}  // namespace

const std::vector<Migration>& OrbitMigrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "registry, experiments and blobs", kSchemaV1},
  };
  return kMigrations;
}

Result<std::int64_t> AllocateModelVersion(Sql& txn, std::int64_t model_id, std::int64_t now_ms) {
  ORBIT_ASSIGN_OR_RETURN(Rows rows,
                         txn.Query("UPDATE registered_models SET next_version = next_version + 1, "
                                   "updated_at_ms = ? WHERE id = ? RETURNING next_version - 1",
                                   {now_ms, model_id}));
  if (rows.empty()) {
    return NotFoundError("registered model " + std::to_string(model_id) + " does not exist");
  }
  return rows[0][0].AsInt64();
}

Result<std::set<std::string>> ReferencedBlobs(Sql& sql) {
  ORBIT_ASSIGN_OR_RETURN(Rows rows, sql.Query("SELECT blob_sha256 FROM model_versions UNION "
                                              "SELECT blob_sha256 FROM run_artifacts"));
  std::set<std::string> digests;
  for (const Row& row : rows.rows) digests.insert(row[0].AsText());
  return digests;
}

}  // namespace orbit::store
