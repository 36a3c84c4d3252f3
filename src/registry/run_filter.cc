#include "registry/run_filter.h"

#include <cctype>
#include <charconv>
#include <cmath>

namespace orbit::registry {
namespace {

constexpr std::int64_t kMaxLimit = 10000;

bool IsKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.' ||
         c == '/' || c == ':';
}

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsNumericAttribute(std::string_view key) { return key == "start_time" || key == "end_time"; }

// Recursive descent over characters; `pos_` is a 0-based offset, messages report it 1-based.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<RunQuery> Parse() {
    RunQuery query;
    SkipSpace();
    if (!AtEnd() && !PeekKeyword("order") && !PeekKeyword("limit")) {
      while (true) {
        ORBIT_ASSIGN_OR_RETURN(Comparison comparison, ParseComparison());
        query.conditions.push_back(std::move(comparison));
        SkipSpace();
        if (!ConsumeKeyword("and")) break;
        SkipSpace();
      }
    }
    if (PeekKeyword("or")) {
      return Error(pos_, "'or' is not supported: conditions are joined with 'and'");
    }
    if (ConsumeKeyword("order")) {
      SkipSpace();
      if (!ConsumeKeyword("by")) return Error(pos_, "expected 'by' after 'order'");
      while (true) {
        SkipSpace();
        OrderKey key;
        ORBIT_ASSIGN_OR_RETURN(key.field, ParseField());
        SkipSpace();
        if (ConsumeKeyword("desc")) {
          key.descending = true;
        } else {
          (void)ConsumeKeyword("asc");
        }
        query.order_by.push_back(std::move(key));
        SkipSpace();
        if (AtEnd() || text_[pos_] != ',') break;
        ++pos_;
      }
    }
    SkipSpace();
    if (ConsumeKeyword("limit")) {
      SkipSpace();
      const std::size_t start = pos_;
      while (!AtEnd() && std::isdigit(static_cast<unsigned char>(text_[pos_])) != 0) ++pos_;
      std::int64_t limit = 0;
      const auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, limit);
      if (start == pos_ || ec != std::errc() || limit < 1 || limit > kMaxLimit) {
        return Error(start, "limit must be an integer from 1 to " + std::to_string(kMaxLimit));
      }
      query.limit = limit;
      SkipSpace();
    }
    if (!AtEnd()) {
      return Error(pos_, "unexpected '" + std::string(Word(pos_)) +
                             "' (expected 'and', 'order by', 'limit' or the end)");
    }
    return query;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }

  void SkipSpace() {
    while (!AtEnd() && std::isspace(static_cast<unsigned char>(text_[pos_])) != 0) ++pos_;
  }

  // The token at `at` for messages: a word, or one character.
  std::string_view Word(std::size_t at) const {
    std::size_t end = at;
    while (end < text_.size() && IsKeyChar(text_[end])) ++end;
    if (end == at && at < text_.size()) ++end;
    return text_.substr(at, end - at);
  }

  bool PeekKeyword(std::string_view keyword) const {
    if (text_.size() - pos_ < keyword.size() && pos_ <= text_.size()) return false;
    if (Lower(text_.substr(pos_, keyword.size())) != keyword) return false;
    const std::size_t after = pos_ + keyword.size();
    return after >= text_.size() || !IsWordChar(text_[after]);
  }

  bool ConsumeKeyword(std::string_view keyword) {
    if (!PeekKeyword(keyword)) return false;
    pos_ += keyword.size();
    return true;
  }

  Status Error(std::size_t at, const std::string& problem) const {
    return InvalidArgumentError("run filter, column " + std::to_string(at + 1) + ": " + problem);
  }

  Result<FieldRef> ParseField() {
    FieldRef field;
    field.column = static_cast<int>(pos_) + 1;
    const std::size_t start = pos_;
    while (!AtEnd() && IsWordChar(text_[pos_])) ++pos_;
    const std::string prefix = Lower(text_.substr(start, pos_ - start));
    if (prefix.empty()) {
      return Error(start,
                   "expected a field such as metrics.iou, params.lr, tags.team or "
                   "attributes.status, found " +
                       (AtEnd() ? std::string("the end") : "'" + std::string(Word(start)) + "'"));
    }
    if (prefix == "metrics" || prefix == "metric") {
      field.kind = FieldKind::kMetric;
    } else if (prefix == "params" || prefix == "param") {
      field.kind = FieldKind::kParam;
    } else if (prefix == "tags" || prefix == "tag") {
      field.kind = FieldKind::kTag;
    } else if (prefix == "attributes" || prefix == "attribute" || prefix == "attr") {
      field.kind = FieldKind::kAttribute;
    } else {
      return Error(start, "unknown field type '" + std::string(text_.substr(start, pos_ - start)) +
                              "' (expected metrics, params, tags or attributes)");
    }
    if (AtEnd() || text_[pos_] != '.') {
      return Error(pos_, "expected '.' and a key after '" + prefix + "'");
    }
    ++pos_;
    const std::size_t key_start = pos_;
    if (!AtEnd() && text_[pos_] == '`') {
      const std::size_t close = text_.find('`', pos_ + 1);
      if (close == std::string_view::npos) return Error(key_start, "unterminated `quoted key`");
      field.key = std::string(text_.substr(pos_ + 1, close - pos_ - 1));
      pos_ = close + 1;
    } else {
      while (!AtEnd() && IsKeyChar(text_[pos_])) ++pos_;
      field.key = std::string(text_.substr(key_start, pos_ - key_start));
    }
    if (field.key.empty()) return Error(key_start, "expected a key after '" + prefix + ".'");
    if (field.kind == FieldKind::kAttribute) {
      field.key = Lower(field.key);
      if (field.key != "status" && field.key != "start_time" && field.key != "end_time" &&
          field.key != "name" && field.key != "user" && field.key != "run_id") {
        return Error(key_start, "unknown attribute '" + field.key +
                                    "' (expected status, start_time, end_time, name, user or "
                                    "run_id)");
      }
    }
    return field;
  }

  Result<CompareOp> ParseOperator() {
    auto take = [this](std::string_view op) {
      if (text_.substr(pos_, op.size()) != op) return false;
      pos_ += op.size();
      return true;
    };
    if (take("!=") || take("<>")) return CompareOp::kNe;
    if (take("<=")) return CompareOp::kLe;
    if (take(">=")) return CompareOp::kGe;
    if (take("=")) return CompareOp::kEq;
    if (take("<")) return CompareOp::kLt;
    if (take(">")) return CompareOp::kGt;
    if (ConsumeKeyword("like")) return CompareOp::kLike;
    return Error(pos_,
                 "expected a comparison operator (=, !=, <, <=, >, >=, like), found " +
                     (AtEnd() ? std::string("the end") : "'" + std::string(Word(pos_)) + "'"));
  }

  Result<std::variant<double, std::string>> ParseValue() {
    if (AtEnd()) return Error(pos_, "expected a quoted string or a number, found the end");
    const char quote = text_[pos_];
    if (quote == '\'' || quote == '"') {
      const std::size_t start = pos_;
      std::string value;
      ++pos_;
      while (true) {
        if (AtEnd()) return Error(start, "unterminated string");
        if (text_[pos_] == quote) {
          if (pos_ + 1 < text_.size() && text_[pos_ + 1] == quote) {  // '' is a quote
            value += quote;
            pos_ += 2;
            continue;
          }
          ++pos_;
          return std::variant<double, std::string>(std::move(value));
        }
        value += text_[pos_++];
      }
    }
    const std::size_t start = pos_;
    std::size_t end = pos_;
    while (end < text_.size() && (IsKeyChar(text_[end]) || text_[end] == '+')) ++end;
    double number = 0;
    const auto [ptr, ec] = std::from_chars(text_.data() + start, text_.data() + end, number);
    if (end == start || ec != std::errc() || ptr != text_.data() + end || !std::isfinite(number)) {
      return Error(
          start, "expected a quoted string or a number, found '" +
                     std::string(text_.substr(start, std::max<std::size_t>(end - start, 1))) + "'");
    }
    pos_ = end;
    return std::variant<double, std::string>(number);
  }

  Result<Comparison> ParseComparison() {
    Comparison comparison;
    ORBIT_ASSIGN_OR_RETURN(comparison.field, ParseField());
    SkipSpace();
    const std::size_t op_at = pos_;
    ORBIT_ASSIGN_OR_RETURN(comparison.op, ParseOperator());
    SkipSpace();
    const std::size_t value_at = pos_;
    ORBIT_ASSIGN_OR_RETURN(comparison.value, ParseValue());
    const FieldRef& field = comparison.field;
    const bool numeric = field.kind == FieldKind::kMetric ||
                         (field.kind == FieldKind::kAttribute && IsNumericAttribute(field.key));
    const bool is_number = std::holds_alternative<double>(comparison.value);
    const std::string name = (field.kind == FieldKind::kMetric  ? "metrics."
                              : field.kind == FieldKind::kParam ? "params."
                              : field.kind == FieldKind::kTag   ? "tags."
                                                                : "attributes.") +
                             field.key;
    if (numeric && comparison.op == CompareOp::kLike) {
      return Error(op_at, "'like' needs a string field; " + name + " is numeric");
    }
    if (numeric && !is_number) {
      return Error(value_at, name + " is numeric: compare it with a number, not a string");
    }
    if (!numeric && is_number) {
      return Error(value_at, name + " is a string: quote the value, e.g. '" +
                                 std::string(text_.substr(value_at, pos_ - value_at)) + "'");
    }
    if (field.kind == FieldKind::kAttribute && IsNumericAttribute(field.key) &&
        std::get<double>(comparison.value) != std::floor(std::get<double>(comparison.value))) {
      return Error(value_at, name + " is in integer milliseconds since the epoch");
    }
    if (field.kind == FieldKind::kAttribute && field.key == "status") {
      std::string status = Lower(std::get<std::string>(comparison.value));
      if (comparison.op != CompareOp::kLike && status != "running" && status != "finished" &&
          status != "failed" && status != "killed") {
        return Error(value_at, "unknown run status '" + std::get<std::string>(comparison.value) +
                                   "' (expected RUNNING, FINISHED, FAILED or KILLED)");
      }
      comparison.value = std::move(status);
    }
    return comparison;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// The SQL expression of a field; appends its parameters.
std::string FieldSql(const FieldRef& field, std::vector<store::Value>& params) {
  switch (field.kind) {
    case FieldKind::kMetric:
      params.emplace_back(field.key);
      return "(SELECT m.value FROM run_metrics m WHERE m.run_id = r.id AND m.key = ? "
             "ORDER BY m.step DESC, m.timestamp_ms DESC, m.value DESC LIMIT 1)";
    case FieldKind::kParam:
      params.emplace_back(field.key);
      return "(SELECT p.value FROM run_params p WHERE p.run_id = r.id AND p.key = ?)";
    case FieldKind::kTag:
      params.emplace_back(field.key);
      return "(SELECT t.value FROM run_tags t WHERE t.run_id = r.id AND t.key = ?)";
    case FieldKind::kAttribute:
      break;
  }
  if (field.key == "status") return "r.status";
  if (field.key == "start_time") return "r.start_time_ms";
  if (field.key == "end_time") return "r.end_time_ms";
  if (field.key == "name") return "r.name";
  if (field.key == "user") return "r.user_name";
  return "r.id";
}

const char* OperatorSql(CompareOp op) {
  switch (op) {
    case CompareOp::kEq:
      return " = ";
    case CompareOp::kNe:
      return " <> ";
    case CompareOp::kLt:
      return " < ";
    case CompareOp::kLe:
      return " <= ";
    case CompareOp::kGt:
      return " > ";
    case CompareOp::kGe:
      return " >= ";
    case CompareOp::kLike:
      return " LIKE ";
  }
  return " = ";
}

}  // namespace

Result<RunQuery> ParseRunQuery(std::string_view text) { return Parser(text).Parse(); }

std::string LikeToGlob(std::string_view like_pattern) {
  std::string glob;
  for (std::size_t i = 0; i < like_pattern.size(); ++i) {
    const char c = like_pattern[i];
    if (c == '\\' && i + 1 < like_pattern.size()) {
      const char next = like_pattern[++i];
      if (next == '*' || next == '?' || next == '[') {
        glob += '[';
        glob += next;
        glob += ']';
      } else {
        glob += next;
      }
    } else if (c == '%') {
      glob += '*';
    } else if (c == '_') {
      glob += '?';
    } else if (c == '*' || c == '?' || c == '[') {
      glob += '[';
      glob += c;
      glob += ']';
    } else {
      glob += c;
    }
  }
  return glob;
}

SqlQuery BuildRunSearchSql(const RunQuery& query, store::Dialect dialect,
                           const std::vector<std::int64_t>& experiment_ids, std::int64_t offset,
                           std::int64_t limit) {
  SqlQuery out;
  out.sql =
      "SELECT r.id, r.experiment_id, r.name, r.status, r.user_name, r.start_time_ms, "
      "r.end_time_ms FROM runs r WHERE 1 = 1";
  if (!experiment_ids.empty()) {
    out.sql += " AND r.experiment_id IN (";
    for (std::size_t i = 0; i < experiment_ids.size(); ++i) {
      out.sql += i == 0 ? "?" : ", ?";
      out.params.emplace_back(experiment_ids[i]);
    }
    out.sql += ")";
  }
  for (const Comparison& comparison : query.conditions) {
    out.sql += " AND ";
    out.sql += FieldSql(comparison.field, out.params);
    if (comparison.op == CompareOp::kLike && dialect == store::Dialect::kSqlite) {
      out.sql += " GLOB ?";
      out.params.emplace_back(LikeToGlob(std::get<std::string>(comparison.value)));
      continue;
    }
    out.sql += OperatorSql(comparison.op);
    out.sql += "?";
    if (const double* number = std::get_if<double>(&comparison.value)) {
      if (comparison.field.kind == FieldKind::kAttribute) {
        out.params.emplace_back(static_cast<std::int64_t>(*number));
      } else {
        out.params.emplace_back(*number);
      }
    } else {
      out.params.emplace_back(std::get<std::string>(comparison.value));
    }
  }
  out.sql += " ORDER BY ";
  for (const OrderKey& key : query.order_by) {
    // Runs without the field sort last in both directions, on both back ends (their NULL
    // orderings differ).
    out.sql += "(" + FieldSql(key.field, out.params) + " IS NULL), ";
    out.sql += FieldSql(key.field, out.params) + (key.descending ? " DESC, " : " ASC, ");
  }
  out.sql += "r.start_time_ms DESC, r.id ASC LIMIT ? OFFSET ?";
  out.params.emplace_back(limit);
  out.params.emplace_back(offset);
  return out;
}

}  // namespace orbit::registry
