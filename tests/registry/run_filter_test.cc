// The run search language: parsing into the AST, errors with columns, and the SQL it becomes
// (values only ever as parameters).
#include "registry/run_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace orbit::registry {
namespace {

using ::testing::HasSubstr;

RunQuery MustParse(std::string_view text) {
  auto query = ParseRunQuery(text);
  EXPECT_TRUE(query.ok()) << text << ": " << query.status().ToString();
  return query.ok() ? *query : RunQuery{};
}

std::string ParseError(std::string_view text) {
  auto query = ParseRunQuery(text);
  EXPECT_FALSE(query.ok()) << text;
  EXPECT_EQ(query.status().code(), StatusCode::kInvalidArgument);
  return query.status().message();
}

TEST(RunFilterTest, EmptyFilterMatchesEverything) {
  EXPECT_EQ(MustParse(""), RunQuery{});
  EXPECT_EQ(MustParse("   "), RunQuery{});
}

TEST(RunFilterTest, ParsesTheIssueExample) {
  const RunQuery query =
      MustParse("metrics.iou > 0.8 and params.lr = '0.001' order by metrics.iou desc");
  ASSERT_EQ(query.conditions.size(), 2u);
  EXPECT_EQ(query.conditions[0].field, (FieldRef{FieldKind::kMetric, "iou", 1}));
  EXPECT_EQ(query.conditions[0].op, CompareOp::kGt);
  EXPECT_EQ(std::get<double>(query.conditions[0].value), 0.8);
  EXPECT_EQ(query.conditions[1].field, (FieldRef{FieldKind::kParam, "lr", 23}));
  EXPECT_EQ(std::get<std::string>(query.conditions[1].value), "0.001");
  ASSERT_EQ(query.order_by.size(), 1u);
  EXPECT_EQ(query.order_by[0].field.key, "iou");
  EXPECT_TRUE(query.order_by[0].descending);
  EXPECT_FALSE(query.limit);
}

TEST(RunFilterTest, ParsesEveryOperator) {
  const std::pair<const char*, CompareOp> cases[] = {
      {"=", CompareOp::kEq},  {"!=", CompareOp::kNe}, {"<>", CompareOp::kNe}, {"<", CompareOp::kLt},
      {"<=", CompareOp::kLe}, {">", CompareOp::kGt},  {">=", CompareOp::kGe}};
  for (const auto& [op, expected] : cases) {
    const RunQuery query = MustParse(std::string("metrics.loss ") + op + " 1e-3");
    ASSERT_EQ(query.conditions.size(), 1u) << op;
    EXPECT_EQ(query.conditions[0].op, expected) << op;
    EXPECT_DOUBLE_EQ(std::get<double>(query.conditions[0].value), 1e-3);
  }
  const RunQuery like = MustParse("tags.team LIKE 'seg%'");
  EXPECT_EQ(like.conditions[0].op, CompareOp::kLike);
  EXPECT_EQ(std::get<std::string>(like.conditions[0].value), "seg%");
}

TEST(RunFilterTest, AndJoinsAnyNumberOfConditionsCaseInsensitively) {
  const RunQuery query = MustParse(
      "attributes.status = 'FINISHED' AND tags.team='seg' and metrics.iou>=0.5 AnD "
      "attributes.start_time > 1700000000000 and attributes.user != 'bob'");
  ASSERT_EQ(query.conditions.size(), 5u);
  EXPECT_EQ(std::get<std::string>(query.conditions[0].value), "finished");
  EXPECT_EQ(query.conditions[3].field.key, "start_time");
  EXPECT_EQ(query.conditions[4].op, CompareOp::kNe);
}

TEST(RunFilterTest, QuotingKeepsSpacesQuotesAndKeywordsInsideValuesAndKeys) {
  const RunQuery query = MustParse(
      "params.note = 'it''s and order by' and tags.`my key` = \"x and y\" and "
      "metrics.val/iou > -2.5");
  ASSERT_EQ(query.conditions.size(), 3u);
  EXPECT_EQ(std::get<std::string>(query.conditions[0].value), "it's and order by");
  EXPECT_EQ(query.conditions[1].field.key, "my key");
  EXPECT_EQ(std::get<std::string>(query.conditions[1].value), "x and y");
  EXPECT_EQ(query.conditions[2].field.key, "val/iou");
  EXPECT_EQ(std::get<double>(query.conditions[2].value), -2.5);
}

TEST(RunFilterTest, OrderBySeveralKeysAndLimit) {
  const RunQuery query =
      MustParse("order by metrics.iou desc, params.lr, attributes.start_time asc limit 25");
  ASSERT_EQ(query.order_by.size(), 3u);
  EXPECT_TRUE(query.order_by[0].descending);
  EXPECT_EQ(query.order_by[1].field.kind, FieldKind::kParam);
  EXPECT_FALSE(query.order_by[1].descending);
  EXPECT_FALSE(query.order_by[2].descending);
  EXPECT_EQ(query.limit, 25);
}

TEST(RunFilterTest, InjectionAttemptStaysAValue) {
  const std::string evil = "x'; DROP TABLE runs; --";
  const RunQuery query = MustParse("params.lr = 'x''; DROP TABLE runs; --'");
  ASSERT_EQ(query.conditions.size(), 1u);
  EXPECT_EQ(std::get<std::string>(query.conditions[0].value), evil);
  const SqlQuery sql = BuildRunSearchSql(query, store::Dialect::kPostgres, {}, 0, 10);
  EXPECT_THAT(sql.sql, ::testing::Not(HasSubstr("DROP")));
  EXPECT_NE(std::find(sql.params.begin(), sql.params.end(), store::Value(evil)), sql.params.end());
}

TEST(RunFilterTest, ErrorsNameTheColumn) {
  EXPECT_THAT(ParseError("metrics.iou > 0.8 and foo.x = 1"),
              HasSubstr("column 23: unknown field type 'foo'"));
  EXPECT_THAT(ParseError("metrics.iou ~ 0.8"), HasSubstr("column 13: expected a comparison"));
  EXPECT_THAT(ParseError("params.lr = 0.001"), HasSubstr("column 13: params.lr is a string"));
  EXPECT_THAT(ParseError("metrics.iou > 'high'"), HasSubstr("column 15: metrics.iou is numeric"));
  EXPECT_THAT(ParseError("params.lr = 'abc"), HasSubstr("column 13: unterminated string"));
  EXPECT_THAT(ParseError("metrics.iou > 1 or metrics.iou < 0"),
              HasSubstr("column 17: 'or' is not supported"));
  EXPECT_THAT(ParseError("attributes.colour = 'red'"),
              HasSubstr("column 12: unknown attribute 'colour'"));
  EXPECT_THAT(ParseError("metrics.iou > 1 limit 0"), HasSubstr("column 23: limit"));
  EXPECT_THAT(ParseError("metrics.iou > 1 garbage"), HasSubstr("column 17: unexpected 'garbage'"));
  EXPECT_THAT(ParseError("order metrics.iou"), HasSubstr("column 7: expected 'by'"));
  EXPECT_THAT(ParseError("metrics"), HasSubstr("column 8: expected '.'"));
  EXPECT_THAT(ParseError("metrics.iou like 'a%'"), HasSubstr("column 13: 'like' needs a string"));
  EXPECT_THAT(ParseError("attributes.status = 'done'"), HasSubstr("unknown run status 'done'"));
  EXPECT_THAT(ParseError("metrics.iou >"), HasSubstr("column 14: expected a quoted string or a "
                                                     "number, found the end"));
}

TEST(RunFilterTest, SqlBindsEveryValueAndKey) {
  const RunQuery query =
      MustParse("metrics.iou > 0.8 and params.lr = '0.001' order by metrics.iou desc");
  const SqlQuery sql = BuildRunSearchSql(query, store::Dialect::kSqlite, {7}, 20, 10);
  EXPECT_THAT(sql.sql, ::testing::Not(HasSubstr("0.001")));
  EXPECT_THAT(sql.sql, ::testing::Not(HasSubstr("'iou'")));
  EXPECT_THAT(sql.sql, HasSubstr("r.experiment_id IN (?)"));
  EXPECT_THAT(sql.sql, HasSubstr("LIMIT ? OFFSET ?"));
  const std::vector<store::Value> expected = {7, "iou", 0.8, "lr", "0.001", "iou", "iou", 10, 20};
  EXPECT_EQ(sql.params, expected);
  // The same text on both back ends when there is no `like`.
  EXPECT_EQ(BuildRunSearchSql(query, store::Dialect::kPostgres, {7}, 20, 10).sql, sql.sql);
}

TEST(RunFilterTest, LikeBecomesCaseSensitiveGlobOnSqlite) {
  EXPECT_EQ(LikeToGlob("seg%"), "seg*");
  EXPECT_EQ(LikeToGlob("a_c"), "a?c");
  EXPECT_EQ(LikeToGlob("100\\%*[x]?"), "100%[*][[]x][?]");
  const RunQuery query = MustParse("tags.team like 'Seg%'");
  EXPECT_THAT(BuildRunSearchSql(query, store::Dialect::kSqlite, {}, 0, 1).sql, HasSubstr("GLOB ?"));
  EXPECT_THAT(BuildRunSearchSql(query, store::Dialect::kPostgres, {}, 0, 1).sql,
              HasSubstr("LIKE ?"));
}

}  // namespace
}  // namespace orbit::registry
