#include "store/store_url.h"

#include <regex>

namespace orbit::store {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kExpected =
    "expected sqlite:///absolute/path.db, sqlite://:memory:, postgresql://user@host:port/db or "
    "a key=value conninfo";

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// postgresql://user:secret@host/db -> postgresql://user:***@host/db; password=x -> password=***.
std::string RedactPassword(std::string_view url) {
  static const std::regex kUrlPassword(R"(^([a-z]+://[^:/@]*:)[^@]*@)");
  static const std::regex kConninfoPassword(R"((password\s*=\s*)('[^']*'|\S+))");
  std::string s = std::regex_replace(std::string(url), kUrlPassword, "$1***@");
  return std::regex_replace(s, kConninfoPassword, "$1***");
}

}  // namespace

Result<DatabaseUrl> ParseDatabaseUrl(std::string_view url) {
  if (url.empty()) return InvalidArgumentError("database URL is empty: " + std::string(kExpected));
  DatabaseUrl parsed;
  if (StartsWith(url, "sqlite:")) {
    parsed.dialect = Dialect::kSqlite;
    parsed.display = std::string(url);
    if (url == "sqlite://:memory:") {
      parsed.target = ":memory:";
      return parsed;
    }
    if (!StartsWith(url, "sqlite:///") || url.size() == 10) {
      return InvalidArgumentError("database URL '" + std::string(url) +
                                  "': a SQLite URL needs an absolute path (sqlite:///abs/path.db) "
                                  "or sqlite://:memory:");
    }
    parsed.target = std::string(url.substr(9));  // keeps the leading '/'
    if (fs::path(parsed.target).filename().empty()) {
      return InvalidArgumentError("database URL '" + std::string(url) +
                                  "': names a directory, expected a file such as orbit.db");
    }
    return parsed;
  }
  if (StartsWith(url, "postgresql://") || StartsWith(url, "postgres://")) {
    parsed.dialect = Dialect::kPostgres;
    parsed.target = std::string(url);
    parsed.display = RedactPassword(url);
    return parsed;
  }
  if (url.find("://") == std::string_view::npos && url.find('=') != std::string_view::npos) {
    parsed.dialect = Dialect::kPostgres;
    parsed.target = std::string(url);
    parsed.display = RedactPassword(url);
    return parsed;
  }
  const auto scheme_end = url.find("://");
  if (scheme_end != std::string_view::npos) {
    return InvalidArgumentError("database URL '" + RedactPassword(url) + "': scheme '" +
                                std::string(url.substr(0, scheme_end)) + "' is not supported; " +
                                std::string(kExpected));
  }
  return InvalidArgumentError("database URL '" + std::string(url) + "' is not a URL; " +
                              std::string(kExpected));
}

Result<StoreLocation> ResolveStoreLocation(std::string_view data_dir_flag, std::string_view db_flag,
                                           std::string_view home) {
  StoreLocation location;
  std::string dir(data_dir_flag);
  if (dir.empty()) dir = "~/.orbit";
  if (dir == "~" || StartsWith(dir, "~/")) {
    if (home.empty()) {
      return InvalidArgumentError("data dir '" + dir +
                                  "': HOME is not set, so ~ cannot be expanded; pass --data-dir");
    }
    dir = std::string(home) + dir.substr(1);
  }
  fs::path path(dir);
  if (path.is_relative()) {
    std::error_code ec;
    path = fs::absolute(path, ec);
    if (ec) return InvalidArgumentError("data dir '" + dir + "': " + ec.message());
  }
  location.data_dir = path.lexically_normal();
  if (location.data_dir.filename().empty()) location.data_dir = location.data_dir.parent_path();
  location.blob_dir = location.data_dir / "blobs";
  if (db_flag.empty()) {
    location.database_url = "sqlite://" + (location.data_dir / "orbit.db").string();
  } else {
    ORBIT_ASSIGN_OR_RETURN(DatabaseUrl parsed, ParseDatabaseUrl(db_flag));
    (void)parsed;
    location.database_url = std::string(db_flag);
  }
  return location;
}

}  // namespace orbit::store
