#include "store/database.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "test_backends.h"

namespace orbit::store {
namespace {

using testing::BackendTest;

class DatabaseTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (HasFatalFailure()) return;
    auto db = OpenDb();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    ASSERT_TRUE(db_->ExecuteScript(R"sql(
      CREATE TABLE items (
        id {{id}},
        name TEXT NOT NULL UNIQUE,
        count BIGINT,
        score DOUBLE PRECISION,
        payload {{blob}}
      );
      CREATE TABLE tags (item_id BIGINT NOT NULL REFERENCES items (id), tag TEXT NOT NULL);
    )sql")
                    .ok());
  }

  std::int64_t CountItems() {
    auto rows = db_->Query("SELECT COUNT(*) FROM items");
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? (*rows)[0][0].AsInt64() : -1;
  }

  std::unique_ptr<Database> db_;
};

TEST_P(DatabaseTest, RoundTripsEveryValueType) {
  const std::string binary("\x00\x01\xff\x7f\x80 'quote' \\x", 15);
  const std::vector<Value> inserted = {Value("alpha"), Value(std::int64_t{1} << 40),
                                       Value(-2.5e-300), Value(Blob{binary})};
  auto n =
      db_->Execute("INSERT INTO items (name, count, score, payload) VALUES (?, ?, ?, ?)", inserted);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1);
  ASSERT_TRUE(db_->Execute("INSERT INTO items (name, count, score, payload) VALUES (?, ?, ?, ?)",
                           {"nulls", nullptr, Value(), std::optional<std::string>()})
                  .ok());
  ASSERT_TRUE(db_->Execute("INSERT INTO items (name, score, payload) VALUES (?, ?, ?)",
                           {"edge", std::numeric_limits<double>::max(), Blob{}})
                  .ok());

  auto rows = db_->Query("SELECT name, count, score, payload FROM items ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ(rows->columns, (std::vector<std::string>{"name", "count", "score", "payload"}));
  EXPECT_EQ((*rows)[0], inserted);
  EXPECT_EQ((*rows)[0][3].AsBlob().size(), binary.size());
  EXPECT_EQ((*rows)[1], (Row{Value("nulls"), Value(), Value(), Value()}));
  EXPECT_EQ((*rows)[2][2], Value(std::numeric_limits<double>::max()));
  EXPECT_EQ((*rows)[2][3], Value(Blob{}));  // an empty blob is not NULL
}

TEST_P(DatabaseTest, TextKeepsUnicodeAndQuotes) {
  const std::string text = "naïve — 'single' \"double\" ? $1 -- not a comment";
  ASSERT_TRUE(db_->Execute("INSERT INTO items (name) VALUES (?)", {text}).ok());
  auto rows = db_->Query("SELECT name FROM items WHERE name = ?", {text});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0][0].AsText(), text);
}

TEST_P(DatabaseTest, InsertReturningGivesTheGeneratedId) {
  auto first = db_->Query("INSERT INTO items (name) VALUES (?) RETURNING id", {"a"});
  auto second = db_->Query("INSERT INTO items (name) VALUES (?) RETURNING id", {"b"});
  ASSERT_TRUE(first.ok() && second.ok()) << first.status().ToString();
  EXPECT_EQ((*second)[0][0].AsInt64(), (*first)[0][0].AsInt64() + 1);
}

TEST_P(DatabaseTest, UpsertIsPortable) {
  const char* upsert =
      "INSERT INTO items (name, count) VALUES (?, ?) "
      "ON CONFLICT (name) DO UPDATE SET count = excluded.count";
  ASSERT_TRUE(db_->Execute(upsert, {"a", 1}).ok());
  ASSERT_TRUE(db_->Execute(upsert, {"a", 2}).ok());
  auto rows = db_->Query("SELECT count FROM items WHERE name = ?", {"a"});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ((*rows)[0][0].AsInt64(), 2);
}

TEST_P(DatabaseTest, ReportsUniqueViolationAsAlreadyExistsNamingTheColumn) {
  ASSERT_TRUE(db_->Execute("INSERT INTO items (name) VALUES (?)", {"a"}).ok());
  auto again = db_->Execute("INSERT INTO items (name) VALUES (?)", {"a"});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status().ToString();
  EXPECT_NE(again.status().message().find("name"), std::string::npos) << again.status().message();
}

TEST_P(DatabaseTest, ReportsForeignKeyViolationAsFailedPrecondition) {
  auto orphan = db_->Execute("INSERT INTO tags (item_id, tag) VALUES (?, ?)", {999, "x"});
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.status().code(), StatusCode::kFailedPrecondition) << orphan.status().ToString();
}

TEST_P(DatabaseTest, ReportsBadSqlAsInvalidArgumentNamingTheStatement) {
  auto bad = db_->Query("SELECT nope FROM missing_table");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("missing_table"), std::string::npos);
}

TEST_P(DatabaseTest, RejectsWrongParameterCount) {
  auto bad = db_->Execute("INSERT INTO items (name, count) VALUES (?, ?)", {"a"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("2 placeholders but 1"), std::string::npos)
      << bad.status().message();
}

TEST_P(DatabaseTest, CommitsTransactionWhenFunctionSucceeds) {
  Status status = db_->InTransaction([](Sql& sql) -> Status {
    ORBIT_ASSIGN_OR_RETURN(std::int64_t n,
                           sql.Execute("INSERT INTO items (name) VALUES (?), (?)", {"a", "b"}));
    EXPECT_EQ(n, 2);
    return Status::Ok();
  });
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(CountItems(), 2);
}

TEST_P(DatabaseTest, RollsBackTransactionWhenFunctionFails) {
  Status status = db_->InTransaction([](Sql& sql) -> Status {
    ORBIT_ASSIGN_OR_RETURN(std::int64_t n, sql.Execute("INSERT INTO items (name) VALUES ('a')"));
    (void)n;
    return InvalidArgumentError("changed my mind");
  });
  EXPECT_EQ(status, InvalidArgumentError("changed my mind"));
  EXPECT_EQ(CountItems(), 0);
}

TEST_P(DatabaseTest, RollsBackWholeTransactionAfterFailedStatementEvenIfIgnored) {
  Status status = db_->InTransaction([](Sql& sql) -> Status {
    EXPECT_TRUE(sql.Execute("INSERT INTO items (name) VALUES ('a')").ok());
    auto duplicate = sql.Execute("INSERT INTO items (name) VALUES ('a')");
    EXPECT_EQ(duplicate.status().code(), StatusCode::kAlreadyExists);
    // The transaction is doomed: later statements fail the same way on both back ends.
    auto after = sql.Execute("INSERT INTO items (name) VALUES ('b')");
    EXPECT_EQ(after.status().code(), StatusCode::kAlreadyExists);
    EXPECT_NE(after.status().message().find("aborted by an earlier error"), std::string::npos);
    return Status::Ok();  // ignoring the error does not commit half a transaction
  });
  EXPECT_EQ(status.code(), StatusCode::kAlreadyExists) << status.ToString();
  EXPECT_EQ(CountItems(), 0);
}

TEST_P(DatabaseTest, RollsBackWhenFunctionThrows) {
  Status status = db_->InTransaction([](Sql& sql) -> Status {
    EXPECT_TRUE(sql.Execute("INSERT INTO items (name) VALUES ('a')").ok());
    throw std::runtime_error("boom");
  });
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_EQ(CountItems(), 0);
  EXPECT_TRUE(db_->Execute("INSERT INTO items (name) VALUES ('b')").ok());  // pool still fine
}

TEST_P(DatabaseTest, RetriesFunctionThatFailsWithAborted) {
  int calls = 0;
  Status status = db_->InTransaction([&](Sql& sql) -> Status {
    ++calls;
    ORBIT_ASSIGN_OR_RETURN(std::int64_t n, sql.Execute("INSERT INTO items (name) VALUES ('a')"));
    (void)n;
    if (calls < 3) return Status(StatusCode::kAborted, "simulated serialization failure");
    return Status::Ok();
  });
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(CountItems(), 1);  // the first two attempts were rolled back
}

TEST_P(DatabaseTest, GivesUpAfterMaxAttempts) {
  DatabaseOptions options;
  options.max_transaction_attempts = 2;
  auto db = OpenDb(options);
  ASSERT_TRUE(db.ok());
  int calls = 0;
  Status status = (*db)->InTransaction([&](Sql&) -> Status {
    ++calls;
    return Status(StatusCode::kAborted, "conflict");
  });
  EXPECT_EQ(status.code(), StatusCode::kAborted);
  EXPECT_EQ(calls, 2);
}

TEST_P(DatabaseTest, RefusesReentryFromInsideTransaction) {
  Status inner;
  Status outer = db_->InTransaction([&](Sql&) -> Status {
    inner = db_->InTransaction([](Sql&) { return Status::Ok(); });
    auto direct = db_->Query("SELECT 1");
    EXPECT_EQ(direct.status().code(), StatusCode::kFailedPrecondition);
    return Status::Ok();
  });
  EXPECT_TRUE(outer.ok()) << outer.ToString();
  EXPECT_EQ(inner.code(), StatusCode::kFailedPrecondition) << inner.ToString();
}

TEST_P(DatabaseTest, ReadOnlyTransactionRefusesWrites) {
  Status status = db_->InTransaction(
      [](Sql& sql) -> Status {
        return sql.Execute("INSERT INTO items (name) VALUES ('a')").status();
      },
      TransactionMode::kReadOnly);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(CountItems(), 0);
  // The connection is writable again afterwards.
  EXPECT_TRUE(db_->Execute("INSERT INTO items (name) VALUES ('b')").ok());
}

TEST_P(DatabaseTest, ReadersSeeOnlyCommittedData) {
  Status status = db_->InTransaction([&](Sql& sql) -> Status {
    EXPECT_TRUE(sql.Execute("INSERT INTO items (name) VALUES ('a')").ok());
    // Another thread (another connection) must not see the uncommitted row.
    std::int64_t seen = -1;
    std::thread reader([&] { seen = CountItems(); });
    reader.join();
    EXPECT_EQ(seen, 0);
    return Status::Ok();
  });
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(CountItems(), 1);
}

ORBIT_INSTANTIATE_BACKENDS(DatabaseTest);

TEST(DatabaseOpenTest, FailsClearlyForUnreachablePostgres) {
  auto db = Database::Open("postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2");
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(db.status().message().find("cannot connect"), std::string::npos);
  EXPECT_EQ(db.status().message().find("secret"), std::string::npos) << db.status().message();
}

TEST(DatabaseOpenTest, InMemorySqliteIsOneDatabaseAcrossCalls) {
  auto db = Database::Open("sqlite://:memory:");
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ASSERT_TRUE((*db)->Execute("CREATE TABLE t (x BIGINT)").ok());
  ASSERT_TRUE((*db)->Execute("INSERT INTO t VALUES (?)", {7}).ok());
  auto rows = (*db)->Query("SELECT x FROM t");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ((*rows)[0][0].AsInt64(), 7);
}

TEST(PlaceholderTest, NumbersQuestionMarksOutsideQuotesAndComments) {
  int count = 0;
  EXPECT_EQ(NumberPlaceholders("SELECT ?, '?', \"a?\", ? -- ?\n, ?", &count),
            "SELECT $1, '?', \"a?\", $2 -- ?\n, $3");
  EXPECT_EQ(count, 3);
}

TEST(ValueTest, PrintsValuesForMessages) {
  EXPECT_EQ(Value().ToString(), "NULL");
  EXPECT_EQ(Value(42).ToString(), "42");
  EXPECT_EQ(Value("a").ToString(), "'a'");
  EXPECT_EQ(Value(Blob{"\x01\xff"}).ToString(), "x'01ff'");
}

}  // namespace
}  // namespace orbit::store
