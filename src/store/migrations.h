// Versioned schema migrations, applied in order at open. The database records each applied
// migration (version, name, time, checksum) in schema_migrations, which is what lets Orbit refuse
// a database written by a newer Orbit and notice a migration edited after it shipped.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "store/database.h"

namespace orbit::store {

// One schema change: a script for Sql::ExecuteScript (`;`-separated statements, dialect tokens
// {{id}} and {{blob}}), the same logical schema on both back ends. Once released a migration is
// never edited: a change is a new migration with the next version.
struct Migration {
  int version = 0;  // 1, 2, 3, ... with no gaps
  std::string name;
  std::string sql;
};

// SHA-256 over version, name and sql: what schema_migrations records.
std::string MigrationChecksum(const Migration& migration);

// What ApplyMigrations did.
struct MigrationReport {
  int version_before = 0;  // 0: an empty database
  int version_after = 0;
  std::vector<int> applied;
};

// Brings `db` up to the last of `migrations` (ordered 1..n), each one in its own transaction
// together with its schema_migrations row, so a crash leaves the schema at a migration boundary.
// Safe when several processes start at once (SQLite's write lock, a PostgreSQL advisory lock).
// Fails with FailedPrecondition, changing nothing, when the database has a migration this list
// does not know (a newer Orbit wrote it) or an applied migration whose checksum differs.
Result<MigrationReport> ApplyMigrations(Database& db, const std::vector<Migration>& migrations);

// The highest applied migration version; 0 for a database without schema_migrations.
Result<int> SchemaVersion(Database& db);

}  // namespace orbit::store
