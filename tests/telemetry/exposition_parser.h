// A strict, minimal reader of the Prometheus text format 0.0.4 for tests: it checks every line
// (comments, `name{label="value",...} value`) and histogram invariants, and returns the samples
// so tests can assert on values without matching whole strings.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace orbit::testing {

struct ParsedSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped values, in order
  double value = 0.0;

  std::optional<std::string> Label(std::string_view label) const {
    for (const auto& [name, value] : labels) {
      if (name == label) return value;
    }
    return std::nullopt;
  }
};

inline bool IsMetricNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

inline bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!IsMetricNameChar(name[i], i == 0)) return false;
  }
  return true;
}

inline bool IsValidLabelName(std::string_view name) {
  return IsValidMetricName(name) && name.find(':') == std::string_view::npos;
}

// Go's strconv.ParseFloat plus Prometheus' spellings of the infinities and NaN.
inline std::optional<double> ParseSampleValue(const std::string& text) {
  if (text == "+Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  if (text == "NaN") return std::nan("");
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || std::isnan(value) || std::isinf(value)) {
    return std::nullopt;
  }
  return value;
}

namespace exposition_internal {

inline Status LineError(std::size_t line_number, std::string_view line, std::string_view why) {
  return InvalidArgumentError("line " + std::to_string(line_number) + " '" + std::string(line) +
                              "': " + std::string(why));
}

// `{a="x",b="y"}` starting at text[pos] == '{'; advances pos past '}'.
inline std::optional<std::vector<std::pair<std::string, std::string>>> ParseLabels(
    std::string_view text, std::size_t& pos) {
  std::vector<std::pair<std::string, std::string>> labels;
  ++pos;  // '{'
  if (pos < text.size() && text[pos] == '}') {
    ++pos;
    return labels;
  }
  while (true) {
    const std::size_t name_start = pos;
    while (pos < text.size() && text[pos] != '=') ++pos;
    const std::string name(text.substr(name_start, pos - name_start));
    if (!IsValidLabelName(name) || pos + 1 >= text.size() || text[pos + 1] != '"') {
      return std::nullopt;
    }
    pos += 2;  // '="'
    std::string value;
    while (true) {
      if (pos >= text.size()) return std::nullopt;
      const char c = text[pos++];
      if (c == '"') break;
      if (c == '\n') return std::nullopt;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (pos >= text.size()) return std::nullopt;
      const char escaped = text[pos++];
      if (escaped == '\\') {
        value += '\\';
      } else if (escaped == '"') {
        value += '"';
      } else if (escaped == 'n') {
        value += '\n';
      } else {
        return std::nullopt;
      }
    }
    for (const auto& existing : labels) {
      if (existing.first == name) return std::nullopt;
    }
    labels.emplace_back(name, std::move(value));
    if (pos >= text.size()) return std::nullopt;
    if (text[pos] == '}') {
      ++pos;
      return labels;
    }
    if (text[pos] != ',') return std::nullopt;
    ++pos;
  }
}

}  // namespace exposition_internal

// Parses `text`; InvalidArgument naming the first bad line. Checks: every line is a HELP, TYPE
// or sample line and ends with '\n'; HELP escapes are only \\ and \n; TYPE comes at most once
// per family and before its samples; a sample belongs to the family of the last TYPE line
// (`_bucket`, `_sum`, `_count` for histograms); no two samples share name and labels; a
// histogram's buckets carry `le`, ascend, are cumulative, end at +Inf, and +Inf equals _count.
inline Result<std::vector<ParsedSample>> ParseExposition(std::string_view text) {
  using exposition_internal::LineError;
  std::vector<ParsedSample> samples;
  if (!text.empty() && text.back() != '\n') return InvalidArgumentError("no final newline");
  std::set<std::string> typed_families;
  std::set<std::string> seen_series;
  std::string family;
  std::string family_type;
  // Histogram state per label set (without le).
  struct BucketState {
    double last_le = -HUGE_VAL;
    double last_count = 0;
    std::optional<double> inf_count;
  };
  std::map<std::string, BucketState> buckets;

  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (line.empty()) return LineError(line_number, line, "empty line");

    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const bool is_type = line.starts_with("# TYPE ");
      const std::string_view rest = line.substr(7);
      const std::size_t space = rest.find(' ');
      const std::string name(rest.substr(0, space));
      if (!IsValidMetricName(name)) return LineError(line_number, line, "bad metric name");
      const std::string_view tail =
          space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
      if (is_type) {
        static const std::set<std::string_view> kTypes = {"counter", "gauge", "histogram",
                                                          "summary", "untyped"};
        if (!kTypes.contains(tail)) return LineError(line_number, line, "unknown type");
        if (!typed_families.insert(name).second) {
          return LineError(line_number, line, "second TYPE line for the family");
        }
        family = name;
        family_type = std::string(tail);
      } else {
        for (std::size_t i = 0; i < tail.size(); ++i) {
          if (tail[i] != '\\') continue;
          if (i + 1 >= tail.size() || (tail[i + 1] != '\\' && tail[i + 1] != 'n')) {
            return LineError(line_number, line, "bad escape in HELP");
          }
          ++i;
        }
      }
      continue;
    }
    if (line.starts_with("#")) return LineError(line_number, line, "unexpected comment");

    ParsedSample sample;
    std::size_t pos = 0;
    while (pos < line.size() && line[pos] != '{' && line[pos] != ' ') ++pos;
    sample.name = std::string(line.substr(0, pos));
    if (!IsValidMetricName(sample.name)) return LineError(line_number, line, "bad metric name");
    if (pos < line.size() && line[pos] == '{') {
      auto labels = exposition_internal::ParseLabels(line, pos);
      if (!labels) return LineError(line_number, line, "bad label set");
      sample.labels = std::move(*labels);
    }
    if (pos >= line.size() || line[pos] != ' ') {
      return LineError(line_number, line, "expected a space before the value");
    }
    const std::string value_text(line.substr(pos + 1));
    const std::optional<double> value = ParseSampleValue(value_text);
    if (!value) return LineError(line_number, line, "bad value (or a timestamp)");
    sample.value = *value;

    // Family membership and histogram invariants.
    std::string label_key;
    for (const auto& [name, label_value] : sample.labels) {
      if (name != "le") label_key += name + "=" + label_value + "\x1f";
    }
    if (!seen_series.insert(sample.name + "\x1e" + label_key + sample.Label("le").value_or(""))
             .second) {
      return LineError(line_number, line, "duplicate series");
    }
    if (family_type == "histogram") {
      if (sample.name == family + "_bucket") {
        const std::optional<std::string> le = sample.Label("le");
        const std::optional<double> bound = le ? ParseSampleValue(*le) : std::nullopt;
        if (!bound) return LineError(line_number, line, "bucket without a valid le");
        BucketState& state = buckets[family + "\x1e" + label_key];
        if (state.inf_count) return LineError(line_number, line, "bucket after +Inf");
        if (!(*bound > state.last_le)) return LineError(line_number, line, "le not ascending");
        if (sample.value < state.last_count) {
          return LineError(line_number, line, "bucket counts are not cumulative");
        }
        state.last_le = *bound;
        state.last_count = sample.value;
        if (std::isinf(*bound)) state.inf_count = sample.value;
      } else if (sample.name == family + "_count") {
        const BucketState& state = buckets[family + "\x1e" + label_key];
        if (!state.inf_count) return LineError(line_number, line, "_count before a +Inf bucket");
        if (*state.inf_count != sample.value) {
          return LineError(line_number, line, "_count differs from the +Inf bucket");
        }
      } else if (sample.name != family + "_sum") {
        return LineError(line_number, line, "sample outside its histogram family");
      }
    } else if (sample.name != family) {
      return LineError(line_number, line, "sample without a TYPE line for its family");
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

// The one sample with this name and these labels (a subset match), or nullopt.
inline std::optional<double> FindSampleValue(
    const std::vector<ParsedSample>& samples, std::string_view name,
    const std::vector<std::pair<std::string, std::string>>& labels = {}) {
  for (const ParsedSample& sample : samples) {
    if (sample.name != name) continue;
    bool matches = true;
    for (const auto& [label, value] : labels) {
      matches = matches && sample.Label(label) == value;
    }
    if (matches) return sample.value;
  }
  return std::nullopt;
}

}  // namespace orbit::testing
