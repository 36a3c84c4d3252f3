// The SQL interface the control plane's metadata lives behind. One small API, two back ends:
// SQLite (embedded, the default) and PostgreSQL (libpqxx, for teams and replicas). Callers write
// one SQL text with `?` placeholders; the few dialect differences are listed on Dialect.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"

namespace orbit::store {

// Which SQL dialect a database speaks. Portable SQL (both back ends accept it as written):
// `?` placeholders (translated to $1..$n for PostgreSQL), `INSERT ... ON CONFLICT (cols) DO
// UPDATE SET c = excluded.c` (upsert), `... RETURNING cols`, BIGINT, TEXT, DOUBLE PRECISION,
// CAST(? AS BIGINT). Not portable, so written as tokens in migration scripts (ExecuteScript):
// `{{id}}` (auto-increment BIGINT primary key) and `{{blob}}` (BLOB / BYTEA). Anything else that
// differs is written as two strings chosen on Sql::dialect().
enum class Dialect { kSqlite, kPostgres };

std::string_view DialectName(Dialect dialect);

// Bytes stored as BLOB/BYTEA, kept apart from TEXT so both back ends store the right type.
struct Blob {
  std::string bytes;
  bool operator==(const Blob&) const = default;
};

// A parameter or a result cell: NULL, a 64-bit integer, a double, text (UTF-8, no NUL) or a
// blob. Integer-valued columns (INTEGER, BIGINT, SMALLINT, BOOLEAN) read back as int64, floating
// ones (REAL, DOUBLE PRECISION, NUMERIC) as double. PostgreSQL types a parameter from where it
// is used; where nothing says (`SELECT ?`), write CAST(? AS BIGINT).
class Value {
 public:
  enum class Type { kNull, kInt64, kDouble, kText, kBlob };

  Value() = default;                                 // NULL
  Value(std::nullptr_t) {}                           // NOLINT(google-explicit-constructor)
  Value(std::int64_t v) : v_(v) {}                   // NOLINT(google-explicit-constructor)
  Value(int v) : v_(std::int64_t{v}) {}              // NOLINT(google-explicit-constructor)
  Value(double v) : v_(v) {}                         // NOLINT(google-explicit-constructor)
  Value(std::string v) : v_(std::move(v)) {}         // NOLINT(google-explicit-constructor)
  Value(std::string_view v) : v_(std::string(v)) {}  // NOLINT(google-explicit-constructor)
  Value(const char* v) : v_(std::string(v)) {}       // NOLINT(google-explicit-constructor)
  Value(Blob v) : v_(std::move(v)) {}                // NOLINT(google-explicit-constructor)
  template <typename T>
  Value(const std::optional<T>& v) {  // NOLINT(google-explicit-constructor): nullopt is NULL
    if (v) *this = Value(*v);
  }

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::kNull; }
  // Typed access; asking for the wrong type is a bug (asserted). AsDouble also reads an int64.
  std::int64_t AsInt64() const;
  double AsDouble() const;
  const std::string& AsText() const;
  const std::string& AsBlob() const;

  // For messages and test output: NULL, 42, 1.5, 'text', x'00ff'.
  std::string ToString() const;
  bool operator==(const Value&) const = default;

 private:
  std::variant<std::monostate, std::int64_t, double, std::string, Blob> v_;
};

using Row = std::vector<Value>;

// What a query returns: column names and rows of values.
struct Rows {
  std::vector<std::string> columns;
  std::vector<Row> rows;

  bool empty() const { return rows.empty(); }
  std::size_t size() const { return rows.size(); }
  const Row& operator[](std::size_t i) const { return rows[i]; }
};

// Runs statements: a connection inside a transaction (InTransaction's argument). Errors name the
// statement and map to codes: UNIQUE/PRIMARY KEY → AlreadyExists, other constraints (foreign
// key, NOT NULL, CHECK) → FailedPrecondition, lock conflict / serialization failure / deadlock →
// Aborted (InTransaction retries those), lost connection → Unavailable, bad SQL →
// InvalidArgument. After a failed statement the transaction is doomed on both back ends (as
// PostgreSQL requires): later statements fail and InTransaction rolls back.
class Sql {
 public:
  virtual ~Sql() = default;
  virtual Dialect dialect() const = 0;
  // Runs one statement; returns the number of rows it changed.
  virtual Result<std::int64_t> Execute(std::string_view sql,
                                       const std::vector<Value>& params = {}) = 0;
  // Runs one statement and returns its rows (SELECT, or INSERT/UPDATE ... RETURNING).
  virtual Result<Rows> Query(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  // Runs several `;`-separated statements without parameters, after replacing the dialect
  // tokens `{{id}}` and `{{blob}}` (see Dialect). For migrations.
  virtual Status ExecuteScript(std::string_view sql) = 0;
};

// How a database is opened.
struct DatabaseOptions {
  // Connections kept by the pool; callers beyond it wait. `sqlite://:memory:` always uses one
  // (each SQLite connection to :memory: would be a different database).
  int max_connections = 8;
  // InTransaction runs the function at most this often when it fails with Aborted.
  int max_transaction_attempts = 10;
  // SQLite: how long a statement waits for another process's lock before failing with Aborted.
  std::chrono::milliseconds sqlite_busy_timeout{10000};
};

// Whether a transaction may write. SQLite takes the write lock at BEGIN for kReadWrite (BEGIN
// IMMEDIATE), so writers queue up front instead of failing on lock upgrade; kReadOnly sees a
// snapshot and never blocks writers. PostgreSQL runs both at READ COMMITTED (kReadOnly adds READ
// ONLY); writers that must not interleave lock a row (UPDATE ... or SELECT ... FOR UPDATE).
enum class TransactionMode { kReadWrite, kReadOnly };

// An open database: a pool of connections to one SQLite file or PostgreSQL database. As an Sql
// it runs each statement on its own (autocommit); InTransaction groups statements.
// Thread-safe: any thread may call any method; each call borrows a connection for its duration,
// so no connection is ever used by two threads at once. SQLite write transactions of one
// Database also take a process-wide mutex, so threads queue on it instead of polling the file
// lock (other processes still meet busy_timeout). InTransaction must not be nested, and inside it
// the Sql& argument is the only way to the database (calling the Database again from the same
// thread is refused with FailedPrecondition, as it would deadlock on SQLite).
class Database : public Sql {
 public:
  // `url`: sqlite:///abs/path.db, sqlite://:memory:, postgresql://user@host:port/db (or
  // postgres://...), or a libpq key=value conninfo ("host=... dbname=..."). SQLite files are
  // opened in WAL mode with foreign keys on and synchronous=FULL (see docs/design/store.md).
  static Result<std::unique_ptr<Database>> Open(std::string_view url, DatabaseOptions options = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Dialect dialect() const override;
  // The URL it was opened with, password removed: for messages and logs.
  const std::string& display_url() const;

  // Sql, each call on a pooled connection in its own transaction (autocommit).
  Result<std::int64_t> Execute(std::string_view sql,
                               const std::vector<Value>& params = {}) override;
  Result<Rows> Query(std::string_view sql, const std::vector<Value>& params = {}) override;
  Status ExecuteScript(std::string_view sql) override;

  // Runs `fn` in a transaction: commits when it returns Ok, rolls back when it returns an error
  // (or a statement in it failed). When it fails with Aborted (lock conflict, serialization
  // failure, deadlock, busy database), rolls back and runs `fn` again, up to
  // max_transaction_attempts times, so `fn` must have no effects outside the database.
  Status InTransaction(const std::function<Status(Sql&)>& fn,
                       TransactionMode mode = TransactionMode::kReadWrite);

  class Impl;

 private:
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `sql` with each `?` outside quotes and comments replaced by $1, $2, ...; also returns how many
// there were. Exposed for tests.
std::string NumberPlaceholders(std::string_view sql, int* count);

}  // namespace orbit::store
