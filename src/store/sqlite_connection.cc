// The SQLite back end: one sqlite3 handle per Connection, opened without SQLite's own mutex
// because the pool never shares a connection between threads.
#include <sqlite3.h>

#include <filesystem>
#include <memory>

#include "store/connection.h"

namespace orbit::store {
namespace {

bool IsBlankOrSemicolons(const char* s) {
  for (; s != nullptr && *s != '\0'; ++s) {
    if (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r' && *s != ';') return false;
  }
  return true;
}

StatusCode CodeFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return StatusCode::kAborted;
    case SQLITE_CONSTRAINT:
      return (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                 ? StatusCode::kAlreadyExists
                 : StatusCode::kFailedPrecondition;
    case SQLITE_ERROR:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
      return StatusCode::kInvalidArgument;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return StatusCode::kDataLoss;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_FULL:
    case SQLITE_IOERR:
      return StatusCode::kUnavailable;
    default:
      return StatusCode::kInternal;
  }
}

struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

class SqliteConnection : public Connection {
 public:
  SqliteConnection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteConnection() override { sqlite3_close_v2(db_); }

  Dialect dialect() const override { return Dialect::kSqlite; }
  bool is_broken() const override { return false; }

  Status Error(int rc, std::string_view sql) const {
    std::string message = "sqlite '" + path_ + "': " + sqlite3_errmsg(db_);
    if (!sql.empty()) message += " in: " + ShortSql(sql);
    return Status(CodeFor(rc), std::move(message));
  }

  Result<std::int64_t> Execute(std::string_view sql, const std::vector<Value>& params) override {
    ORBIT_ASSIGN_OR_RETURN(Rows ignored, Run(sql, params));
    (void)ignored;
    return static_cast<std::int64_t>(sqlite3_changes64(db_));
  }

  Result<Rows> Query(std::string_view sql, const std::vector<Value>& params) override {
    return Run(sql, params);
  }

  Status ExecuteScript(std::string_view sql) override {
    const std::string script = ReplaceDialectTokens(Dialect::kSqlite, sql);
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, script.c_str(), nullptr, nullptr, &error);
    if (rc == SQLITE_OK) return Status::Ok();
    std::string message = "sqlite '" + path_ + "': " + (error ? error : sqlite3_errstr(rc)) +
                          " in script: " + ShortSql(sql);
    sqlite3_free(error);
    return Status(CodeFor(sqlite3_extended_errcode(db_)), std::move(message));
  }

  Status Begin(TransactionMode mode) override {
    if (mode == TransactionMode::kReadOnly) {
      ORBIT_RETURN_IF_ERROR(Simple("PRAGMA query_only = ON"));
      read_only_ = true;
      return Simple("BEGIN");
    }
    return Simple("BEGIN IMMEDIATE");
  }

  Status Commit() override {
    Status status = Simple("COMMIT");
    if (status.ok()) EndReadOnly();
    return status;
  }

  void Rollback() override {
    if (!sqlite3_get_autocommit(db_)) (void)Simple("ROLLBACK");
    EndReadOnly();
  }

 private:
  Status Simple(const char* sql) {
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::Ok() : Error(sqlite3_extended_errcode(db_), sql);
  }

  void EndReadOnly() {
    if (read_only_) (void)Simple("PRAGMA query_only = OFF");
    read_only_ = false;
  }

  Status Bind(sqlite3_stmt* stmt, const std::vector<Value>& params, std::string_view sql) {
    const int expected = sqlite3_bind_parameter_count(stmt);
    if (expected != static_cast<int>(params.size())) {
      return InvalidArgumentError("sqlite '" + path_ + "': statement has " +
                                  std::to_string(expected) + " placeholders but " +
                                  std::to_string(params.size()) +
                                  " parameters were given, in: " + ShortSql(sql));
    }
    static const char kEmpty[] = "";
    for (int i = 0; i < expected; ++i) {
      const Value& v = params[static_cast<std::size_t>(i)];
      int rc = SQLITE_OK;
      switch (v.type()) {
        case Value::Type::kNull:
          rc = sqlite3_bind_null(stmt, i + 1);
          break;
        case Value::Type::kInt64:
          rc = sqlite3_bind_int64(stmt, i + 1, v.AsInt64());
          break;
        case Value::Type::kDouble:
          rc = sqlite3_bind_double(stmt, i + 1, v.AsDouble());
          break;
        case Value::Type::kText:
          rc = sqlite3_bind_text64(stmt, i + 1, v.AsText().data(), v.AsText().size(), SQLITE_STATIC,
                                   SQLITE_UTF8);
          break;
        case Value::Type::kBlob:  // a non-null pointer even when empty: null would bind NULL
          rc = sqlite3_bind_blob64(stmt, i + 1, v.AsBlob().empty() ? kEmpty : v.AsBlob().data(),
                                   v.AsBlob().size(), SQLITE_STATIC);
          break;
      }
      if (rc != SQLITE_OK) return Error(rc, sql);
    }
    return Status::Ok();
  }

  Result<Rows> Run(std::string_view sql, const std::vector<Value>& params) {
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &raw, &tail);
    Statement stmt(raw);
    if (rc != SQLITE_OK) return Error(sqlite3_extended_errcode(db_), sql);
    if (!stmt) return InvalidArgumentError("sqlite '" + path_ + "': empty statement");
    const std::string rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
    if (!IsBlankOrSemicolons(rest.c_str())) {
      return InvalidArgumentError(
          "sqlite '" + path_ +
          "': more than one statement (use ExecuteScript), in: " + ShortSql(sql));
    }
    ORBIT_RETURN_IF_ERROR(Bind(stmt.get(), params, sql));
    Rows rows;
    const int columns = sqlite3_column_count(stmt.get());
    for (int c = 0; c < columns; ++c) rows.columns.emplace_back(sqlite3_column_name(stmt.get(), c));
    while (true) {
      const int step = sqlite3_step(stmt.get());
      if (step == SQLITE_DONE) break;
      if (step != SQLITE_ROW) return Error(sqlite3_extended_errcode(db_), sql);
      Row row;
      row.reserve(static_cast<std::size_t>(columns));
      for (int c = 0; c < columns; ++c) row.push_back(Column(stmt.get(), c));
      rows.rows.push_back(std::move(row));
    }
    return rows;
  }

  static Value Column(sqlite3_stmt* stmt, int c) {
    switch (sqlite3_column_type(stmt, c)) {
      case SQLITE_INTEGER:
        return Value(static_cast<std::int64_t>(sqlite3_column_int64(stmt, c)));
      case SQLITE_FLOAT:
        return Value(sqlite3_column_double(stmt, c));
      case SQLITE_TEXT: {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
        return Value(std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt, c))));
      }
      case SQLITE_BLOB: {
        const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, c));
        const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt, c));
        return Value(Blob{data == nullptr ? std::string() : std::string(data, size)});
      }
      default:
        return Value();
    }
  }

  sqlite3* db_;
  std::string path_;
  bool read_only_ = false;
};

}  // namespace

Result<std::unique_ptr<Connection>> OpenSqliteConnection(const std::string& path,
                                                         const DatabaseOptions& options) {
  if (path != ":memory:") {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    if (ec) {
      return UnavailableError("sqlite '" + path +
                              "': cannot create its directory: " + ec.message());
    }
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status status = UnavailableError(
        "sqlite '" + path + "': cannot open: " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close_v2(db);
    return status;
  }
  auto connection = std::make_unique<SqliteConnection>(db, path);
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(options.sqlite_busy_timeout.count()));
  // WAL: readers never block the writer and vice versa. synchronous=FULL: a commit that returned
  // is on disk (the registry acknowledges versions; see docs/design/store.md). Foreign keys are
  // off by default in SQLite and per connection.
  for (const char* pragma :
       {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON"}) {
    ORBIT_ASSIGN_OR_RETURN(Rows ignored, connection->Query(pragma, {}));
    (void)ignored;
  }
  return std::unique_ptr<Connection>(std::move(connection));
}

}  // namespace orbit::store
