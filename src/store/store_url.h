// Where `orbit server` keeps its state: the --data-dir and --db flags, their defaults
// (~/.orbit and SQLite inside it) and the parsing of database URLs, with errors that say what
// was expected.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/database.h"

namespace orbit::store {

// A parsed --db value.
struct DatabaseUrl {
  Dialect dialect = Dialect::kSqlite;
  // SQLite: an absolute file path or ":memory:". PostgreSQL: the URL or conninfo as given
  // (libpq parses it).
  std::string target;
  // The URL with any password replaced by ***, for messages and logs.
  std::string display;
};

// Accepts sqlite:///abs/path.db, sqlite://:memory:, postgresql://... or postgres://..., and
// libpq key=value conninfo ("host=db dbname=orbit user=orbit").
Result<DatabaseUrl> ParseDatabaseUrl(std::string_view url);

// The resolved locations of a store.
struct StoreLocation {
  std::filesystem::path data_dir;  // absolute
  std::string database_url;        // given, or sqlite:///<data_dir>/orbit.db
  std::filesystem::path blob_dir;  // <data_dir>/blobs (the artifact store's root)
};

// Applies the defaults: an empty `data_dir_flag` means <home>/.orbit, a leading ~ is <home>, a
// relative path is made absolute; an empty `db_flag` means SQLite in the data dir. `home` is
// $HOME, passed in so tests need not touch the environment. Creates nothing.
Result<StoreLocation> ResolveStoreLocation(std::string_view data_dir_flag, std::string_view db_flag,
                                           std::string_view home);

}  // namespace orbit::store
