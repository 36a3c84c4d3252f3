// The PostgreSQL back end (libpqxx 6): one pqxx::connection per Connection. Parameters travel in
// text format and PostgreSQL types them from context; blobs are sent as bytea hex ("\x...").
#include <pqxx/pqxx>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include "store/connection.h"

namespace orbit::store {
namespace {

// One statement parameter in libpq's text format; nullopt is SQL NULL.
struct PgParam {
  std::optional<std::string> text;
};

}  // namespace
}  // namespace orbit::store

namespace pqxx {
// Lets pqxx's dynamic parameter lists carry NULLs and text side by side.
template <>
struct string_traits<orbit::store::PgParam> {
  static constexpr const char* name() noexcept { return "orbit::store::PgParam"; }
  static constexpr bool has_null() noexcept { return true; }
  static bool is_null(const orbit::store::PgParam& p) { return !p.text.has_value(); }
  static orbit::store::PgParam null() { return {}; }
  static void from_string(const char s[], orbit::store::PgParam& p) { p.text = s; }
  static std::string to_string(const orbit::store::PgParam& p) { return p.text.value_or(""); }
};
}  // namespace pqxx

namespace orbit::store {
namespace {

// Type OIDs from PostgreSQL's catalog (pg_type.dat); stable across versions.
constexpr pqxx::oid kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26,
                    kFloat4 = 700, kFloat8 = 701, kNumeric = 1700;

std::string HexBytea(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xF];
  }
  return out;
}

std::string DoubleText(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

Value FieldValue(const pqxx::field& f) {
  if (f.is_null()) return Value();
  switch (f.type()) {
    case kBool:
      return Value(std::int64_t{f.c_str()[0] == 't' ? 1 : 0});
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid:
      return Value(static_cast<std::int64_t>(std::strtoll(f.c_str(), nullptr, 10)));
    case kFloat4:
    case kFloat8:
    case kNumeric:
      return Value(std::strtod(f.c_str(), nullptr));  // strtod reads NaN and Infinity too
    case kBytea: {
      const pqxx::binarystring bytes(f);
      return Value(Blob{bytes.str()});
    }
    default:
      return Value(std::string(f.c_str(), f.size()));
  }
}

StatusCode CodeForSqlState(const std::string& state) {
  if (state == "23505") return StatusCode::kAlreadyExists;                // unique_violation
  if (state.rfind("23", 0) == 0) return StatusCode::kFailedPrecondition;  // FK, NOT NULL, CHECK
  if (state == "40001" || state == "40P01" || state == "55P03") {
    return StatusCode::kAborted;  // serialization failure, deadlock, lock not available
  }
  if (state.rfind("42", 0) == 0 || state.rfind("22", 0) == 0) {
    return StatusCode::kInvalidArgument;  // syntax, undefined table/column; bad data
  }
  if (state == "25006") return StatusCode::kFailedPrecondition;  // read-only transaction
  if (state.rfind("08", 0) == 0 || state.rfind("57", 0) == 0 || state.rfind("53", 0) == 0) {
    return StatusCode::kUnavailable;  // connection, shutdown, resources
  }
  return StatusCode::kInternal;
}

class PostgresConnection : public Connection {
 public:
  PostgresConnection(std::unique_ptr<pqxx::connection> c, std::string display)
      : c_(std::move(c)), display_(std::move(display)) {}
  ~PostgresConnection() override {
    txn_.reset();  // aborts an open transaction before the connection closes
  }

  Dialect dialect() const override { return Dialect::kPostgres; }
  bool is_broken() const override { return broken_ || !c_->is_open(); }

  Result<std::int64_t> Execute(std::string_view sql, const std::vector<Value>& params) override {
    ORBIT_ASSIGN_OR_RETURN(pqxx::result r, Run(sql, params));
    return static_cast<std::int64_t>(r.affected_rows());
  }

  Result<Rows> Query(std::string_view sql, const std::vector<Value>& params) override {
    ORBIT_ASSIGN_OR_RETURN(pqxx::result r, Run(sql, params));
    Rows rows;
    for (pqxx::row::size_type c = 0; c < r.columns(); ++c)
      rows.columns.emplace_back(r.column_name(c));
    rows.rows.reserve(r.size());
    for (const pqxx::row& pr : r) {
      Row row;
      row.reserve(pr.size());
      for (const pqxx::field& f : pr) row.push_back(FieldValue(f));
      rows.rows.push_back(std::move(row));
    }
    return rows;
  }

  Status ExecuteScript(std::string_view sql) override {
    const std::string script = ReplaceDialectTokens(Dialect::kPostgres, sql);
    return Guard(sql, [&] {
      if (txn_) {
        txn_->exec(script);
      } else {
        pqxx::nontransaction n(*c_);
        n.exec(script);
      }
    });
  }

  Status Begin(TransactionMode mode) override {
    return Guard("BEGIN", [&] {
      if (mode == TransactionMode::kReadOnly) {
        txn_ = std::make_unique<pqxx::read_transaction>(*c_);
      } else {
        txn_ = std::make_unique<pqxx::work>(*c_);
      }
    });
  }

  Status Commit() override {
    if (!txn_) return FailedPreconditionError("postgresql '" + display_ + "': no transaction");
    Status status = Guard("COMMIT", [&] { txn_->commit(); });
    txn_.reset();
    return status;
  }

  void Rollback() override {
    if (!txn_) return;
    (void)Guard("ROLLBACK", [&] { txn_->abort(); });
    txn_.reset();
  }

 private:
  // Runs `body`, turning libpqxx's exceptions into a Status that names the statement.
  template <typename F>
  Status Guard(std::string_view sql, F&& body) {
    try {
      body();
      return Status::Ok();
    } catch (const pqxx::broken_connection& e) {
      broken_ = true;
      return UnavailableError("postgresql '" + display_ + "': connection lost: " + e.what());
    } catch (const pqxx::in_doubt_error& e) {
      broken_ = true;
      return UnavailableError("postgresql '" + display_ +
                              "': connection lost during COMMIT, outcome unknown: " + e.what());
    } catch (const pqxx::sql_error& e) {
      std::string what = e.what();
      while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
      return Status(CodeForSqlState(e.sqlstate()), "postgresql '" + display_ + "': " + what +
                                                       " (SQLSTATE " + e.sqlstate() +
                                                       ") in: " + ShortSql(sql));
    } catch (const std::exception& e) {
      if (!c_->is_open()) broken_ = true;
      return InternalError("postgresql '" + display_ + "': " + e.what() + " in: " + ShortSql(sql));
    }
  }

  Result<pqxx::result> Run(std::string_view sql, const std::vector<Value>& params) {
    int placeholders = 0;
    const std::string numbered = NumberPlaceholders(sql, &placeholders);
    if (placeholders != static_cast<int>(params.size())) {
      return InvalidArgumentError("postgresql '" + display_ + "': statement has " +
                                  std::to_string(placeholders) + " placeholders but " +
                                  std::to_string(params.size()) +
                                  " parameters were given, in: " + ShortSql(sql));
    }
    std::vector<PgParam> text;
    text.reserve(params.size());
    for (const Value& v : params) {
      switch (v.type()) {
        case Value::Type::kNull:
          text.push_back({});
          break;
        case Value::Type::kInt64:
          text.push_back({std::to_string(v.AsInt64())});
          break;
        case Value::Type::kDouble:
          text.push_back({DoubleText(v.AsDouble())});
          break;
        case Value::Type::kText:
          if (v.AsText().find('\0') != std::string::npos) {
            return InvalidArgumentError(
                "postgresql '" + display_ +
                "': text parameter contains a NUL byte (use a Blob), in: " + ShortSql(sql));
          }
          text.push_back({v.AsText()});
          break;
        case Value::Type::kBlob:
          text.push_back({HexBytea(v.AsBlob())});
          break;
      }
    }
    pqxx::result result;
    ORBIT_RETURN_IF_ERROR(Guard(sql, [&] {
      if (txn_) {
        result = txn_->exec_params(numbered, pqxx::prepare::make_dynamic_params(text));
      } else {
        pqxx::nontransaction n(*c_);
        result = n.exec_params(numbered, pqxx::prepare::make_dynamic_params(text));
      }
    }));
    return result;
  }

  std::unique_ptr<pqxx::connection> c_;
  std::string display_;
  std::unique_ptr<pqxx::transaction_base> txn_;
  bool broken_ = false;
};

}  // namespace

Result<std::unique_ptr<Connection>> OpenPostgresConnection(const std::string& conninfo,
                                                           const std::string& display) {
  try {
    auto c = std::make_unique<pqxx::connection>(conninfo);
    return std::unique_ptr<Connection>(std::make_unique<PostgresConnection>(std::move(c), display));
  } catch (const std::exception& e) {
    std::string what = e.what();
    while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
    return UnavailableError("postgresql '" + display + "': cannot connect: " + what);
  }
}

}  // namespace orbit::store
