#include "store/migrations.h"

#include <chrono>

#include "core/sha256.h"

namespace orbit::store {
namespace {

// Any constant: every Orbit process migrating a PostgreSQL database takes this advisory lock.
constexpr std::int64_t kMigrationLockKey = 0x6f72626974;  // "orbit"

constexpr std::string_view kCreateMigrationsTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version BIGINT PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at_ms BIGINT NOT NULL,
  checksum TEXT NOT NULL
))sql";

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status ValidateList(const std::vector<Migration>& migrations) {
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i + 1)) {
      return InvalidArgumentError("migration '" + migrations[i].name + "' has version " +
                                  std::to_string(migrations[i].version) + ", expected " +
                                  std::to_string(i + 1) + " (versions are 1, 2, 3, ...)");
    }
  }
  return Status::Ok();
}

// Serialises migrators: SQLite's BEGIN IMMEDIATE already has; PostgreSQL needs a lock that
// covers a table that may not exist yet.
Status LockForMigration(Sql& sql) {
  if (sql.dialect() != Dialect::kPostgres) return Status::Ok();
  ORBIT_ASSIGN_OR_RETURN(Rows ignored, sql.Query("SELECT pg_advisory_xact_lock(CAST(? AS BIGINT))",
                                                 {kMigrationLockKey}));
  (void)ignored;
  return Status::Ok();
}

// Reads schema_migrations and checks it against `migrations`; returns the applied count.
Result<int> CheckApplied(Sql& sql, const std::vector<Migration>& migrations,
                         const std::string& where) {
  ORBIT_ASSIGN_OR_RETURN(
      Rows rows,
      sql.Query("SELECT version, name, checksum FROM schema_migrations ORDER BY version"));
  int applied = 0;
  for (const Row& row : rows.rows) {
    const std::int64_t version = row[0].AsInt64();
    const std::string& name = row[1].AsText();
    if (version > static_cast<std::int64_t>(migrations.size())) {
      return FailedPreconditionError(where + " has schema version " +
                                     std::to_string(rows.rows.back()[0].AsInt64()) +
                                     " (migration " + std::to_string(version) + " '" + name +
                                     "'), newer than this Orbit, which knows versions up to " +
                                     std::to_string(migrations.size()) +
                                     ": run a newer Orbit, or point --db at another database");
    }
    if (version != applied + 1) {
      return FailedPreconditionError(where + ": schema_migrations is missing version " +
                                     std::to_string(applied + 1) + " before " +
                                     std::to_string(version));
    }
    const Migration& known = migrations[static_cast<std::size_t>(version - 1)];
    const std::string expected = MigrationChecksum(known);
    if (row[2].AsText() != expected) {
      return FailedPreconditionError(
          where + ": migration " + std::to_string(version) + " '" + name +
          "' was changed after it was applied (recorded checksum " + row[2].AsText() +
          ", this Orbit's " + expected +
          "); applied migrations must never be edited, add a new one instead");
    }
    applied = static_cast<int>(version);
  }
  return applied;
}

}  // namespace

std::string MigrationChecksum(const Migration& migration) {
  return Sha256Hex(std::to_string(migration.version) + '\n' + migration.name + '\n' +
                   migration.sql);
}

Result<MigrationReport> ApplyMigrations(Database& db, const std::vector<Migration>& migrations) {
  ORBIT_RETURN_IF_ERROR(ValidateList(migrations));
  const std::string where = "database '" + db.display_url() + "'";
  MigrationReport report;
  ORBIT_RETURN_IF_ERROR(db.InTransaction([&](Sql& sql) -> Status {
    ORBIT_RETURN_IF_ERROR(LockForMigration(sql));
    ORBIT_ASSIGN_OR_RETURN(std::int64_t ignored, sql.Execute(kCreateMigrationsTable));
    (void)ignored;
    ORBIT_ASSIGN_OR_RETURN(report.version_before, CheckApplied(sql, migrations, where));
    return Status::Ok();
  }));
  report.version_after = report.version_before;
  for (const Migration& migration : migrations) {
    if (migration.version <= report.version_after) continue;
    bool applied_here = false;
    Status status = db.InTransaction([&](Sql& sql) -> Status {
      applied_here = false;
      ORBIT_RETURN_IF_ERROR(LockForMigration(sql));
      ORBIT_ASSIGN_OR_RETURN(int applied, CheckApplied(sql, migrations, where));
      if (applied >= migration.version) return Status::Ok();  // another process was first
      ORBIT_RETURN_IF_ERROR(sql.ExecuteScript(migration.sql));
      ORBIT_ASSIGN_OR_RETURN(
          std::int64_t ignored,
          sql.Execute("INSERT INTO schema_migrations (version, name, applied_at_ms, checksum) "
                      "VALUES (?, ?, ?, ?)",
                      {migration.version, migration.name, NowMs(), MigrationChecksum(migration)}));
      (void)ignored;
      applied_here = true;
      return Status::Ok();
    });
    if (!status.ok()) {
      return status.WithContext(where + ": migration " + std::to_string(migration.version) + " '" +
                                migration.name + "'");
    }
    if (applied_here) report.applied.push_back(migration.version);
    report.version_after = migration.version;
  }
  return report;
}

Result<int> SchemaVersion(Database& db) {
  Result<Rows> rows = db.Query("SELECT MAX(version) FROM schema_migrations");
  if (!rows.ok()) {
    // No schema_migrations table yet: a fresh database.
    if (rows.status().code() == StatusCode::kInvalidArgument) return 0;
    return rows.status();
  }
  if (rows->empty() || (*rows)[0][0].is_null()) return 0;
  return static_cast<int>((*rows)[0][0].AsInt64());
}

}  // namespace orbit::store
