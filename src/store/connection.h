// Internal: one connection of a back end, as Database's pool holds it. Not thread-safe: the pool
// hands each connection to one thread at a time.
#pragma once

#include <memory>
#include <string>

#include "store/database.h"

namespace orbit::store {

class Connection : public Sql {
 public:
  virtual Status Begin(TransactionMode mode) = 0;
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;
  // True once the connection is unusable (lost server); the pool drops it instead of reusing it.
  virtual bool is_broken() const = 0;
};

// Replaces `{{id}}` and `{{blob}}` with the dialect's column definitions.
std::string ReplaceDialectTokens(Dialect dialect, std::string_view sql);

// `sql` cut to a length that fits in an error message.
std::string ShortSql(std::string_view sql);

// `path` is a file path or ":memory:".
Result<std::unique_ptr<Connection>> OpenSqliteConnection(const std::string& path,
                                                         const DatabaseOptions& options);
// `conninfo` is a libpq URL or key=value string; `display` names it in messages.
Result<std::unique_ptr<Connection>> OpenPostgresConnection(const std::string& conninfo,
                                                           const std::string& display);

}  // namespace orbit::store
