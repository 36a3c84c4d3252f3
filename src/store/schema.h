// Orbit's metadata schema (the migrations that build it) and the few queries that carry its
// invariants, so the registry and `orbit gc` do not re-derive them: gapless per-model version
// numbers and the set of blobs something still refers to. docs/design/store.md explains both.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/database.h"
#include "store/migrations.h"

namespace orbit::store {

// Migration 1: experiments, runs (params, tags, metrics, artifacts), registered models,
// model versions, aliases and their history, blobs. Later versions append to this list.
const std::vector<Migration>& OrbitMigrations();

// Allocates the next version number of registered model `model_id` inside the caller's write
// transaction and returns it. Versions are 1, 2, 3, ... per model with no gaps and no repeats,
// however many writers race, provided the caller inserts the model_versions row in the same
// transaction: the counter (registered_models.next_version) is bumped with UPDATE ... RETURNING,
// which holds the model's row lock until commit (PostgreSQL) or runs under the database write
// lock (SQLite, BEGIN IMMEDIATE); a rollback undoes the bump, so no number is lost.
// NotFound when the model does not exist.
Result<std::int64_t> AllocateModelVersion(Sql& txn, std::int64_t model_id, std::int64_t now_ms);

// sha256 digests of blobs that model versions or run artifacts refer to: what gc must keep.
Result<std::set<std::string>> ReferencedBlobs(Sql& sql);

}  // namespace orbit::store
