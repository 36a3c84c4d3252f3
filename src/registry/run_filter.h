// The run search language of `orbit runs search`, the REST API and the Python client, e.g.
//   metrics.iou > 0.8 and params.lr = '0.001' order by metrics.iou desc limit 10
// parsed into an AST (RunQuery) and turned into parameterised SQL: user values only ever travel
// as bound parameters, never inside the SQL text. docs/design/registry.md has the grammar.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"
#include "store/database.h"

namespace orbit::registry {

// What a field names: a metric's latest value (highest step, then latest timestamp), a param, a
// tag, or a column of the run itself.
enum class FieldKind { kMetric, kParam, kTag, kAttribute };

// `metrics.iou`, `params.lr`, `attributes.status`; `column` (1-based) points at it in the text.
struct FieldRef {
  FieldKind kind = FieldKind::kAttribute;
  std::string key;  // attributes: status, start_time, end_time, name, user, run_id
  int column = 0;
  bool operator==(const FieldRef&) const = default;
};

enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe, kLike };

// One `field op value`; value is a number (metrics, start/end time) or a string.
struct Comparison {
  FieldRef field;
  CompareOp op = CompareOp::kEq;
  std::variant<double, std::string> value;
  bool operator==(const Comparison&) const = default;
};

struct OrderKey {
  FieldRef field;
  bool descending = false;
  bool operator==(const OrderKey&) const = default;
};

// A parsed filter: every condition must hold (they are joined by `and`); results sorted by
// order_by, then by start time (newest first) and run id so that pages are stable.
struct RunQuery {
  std::vector<Comparison> conditions;
  std::vector<OrderKey> order_by;
  std::optional<std::int64_t> limit;
  bool operator==(const RunQuery&) const = default;
};

// Parses the filter text; empty text matches every run. InvalidArgument "run filter, column N:
// <problem>" on the first error.
Result<RunQuery> ParseRunQuery(std::string_view text);

// A statement and its bound parameters.
struct SqlQuery {
  std::string sql;
  std::vector<store::Value> params;
};

// SELECT r.id, r.experiment_id, r.name, r.status, r.user_name, r.start_time_ms, r.end_time_ms
// FROM runs r matching `query` in the given experiments (all when empty), rows [offset, offset +
// limit). The text is the same on both back ends except `like`, which is case-sensitive on both:
// LIKE on PostgreSQL, GLOB with the pattern translated on SQLite (whose LIKE ignores case).
SqlQuery BuildRunSearchSql(const RunQuery& query, store::Dialect dialect,
                           const std::vector<std::int64_t>& experiment_ids, std::int64_t offset,
                           std::int64_t limit);

// `%`/`_` wildcards and `\` escapes of a LIKE pattern as a SQLite GLOB pattern. Exposed for tests.
std::string LikeToGlob(std::string_view like_pattern);

}  // namespace orbit::registry
