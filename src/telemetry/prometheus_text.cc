#include "telemetry/prometheus_text.h"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace orbit {
namespace {

std::string Escape(std::string_view text, bool escape_quote) {
  std::string escaped;
  escaped.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '\\':
        escaped += "\\\\";
        break;
      case '\n':
        escaped += "\\n";
        break;
      case '"':
        escaped += escape_quote ? "\\\"" : "\"";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

void AppendInteger(std::string& out, std::uint64_t value) {
  char buffer[24];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, end);
}

// `{a="x",b="y"}`, with an optional extra label (a histogram's `le`) last; nothing when there
// are no labels at all.
void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += EscapePrometheusLabelValue(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

void AppendHistogram(std::string& out, const FamilySnapshot& family, const MetricSnapshot& metric) {
  const HistogramSnapshot& histogram = metric.histogram;
  for (std::size_t i = 0; i < histogram.cumulative_counts.size(); ++i) {
    const std::string le = i < family.bucket_bounds.size()
                               ? FormatPrometheusValue(family.bucket_bounds[i])
                               : std::string("+Inf");
    out += family.name;
    out += "_bucket";
    AppendLabels(out, family.label_names, metric.label_values, "le", le);
    out += ' ';
    AppendInteger(out, histogram.cumulative_counts[i]);
    out += '\n';
  }
  out += family.name;
  out += "_sum";
  AppendLabels(out, family.label_names, metric.label_values);
  out += ' ';
  out += FormatPrometheusValue(histogram.sum);
  out += '\n';
  out += family.name;
  out += "_count";
  AppendLabels(out, family.label_names, metric.label_values);
  out += ' ';
  AppendInteger(out, histogram.count);
  out += '\n';
}

}  // namespace

std::string EscapePrometheusHelp(std::string_view help) { return Escape(help, false); }

std::string EscapePrometheusLabelValue(std::string_view value) { return Escape(value, true); }

std::string FormatPrometheusValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  std::to_chars_result result;
  if (value == std::trunc(value) && std::fabs(value) < 0x1p63) {
    result = std::to_chars(buffer, buffer + sizeof(buffer), static_cast<std::int64_t>(value));
  } else {
    result = std::to_chars(buffer, buffer + sizeof(buffer), value);  // shortest round-trip
  }
  return std::string(buffer, result.ptr);
}

std::string RenderPrometheusText(const std::vector<FamilySnapshot>& families) {
  std::string out;
  for (const FamilySnapshot& family : families) {
    if (!family.help.empty()) {
      out += "# HELP ";
      out += family.name;
      out += ' ';
      out += EscapePrometheusHelp(family.help);
      out += '\n';
    }
    out += "# TYPE ";
    out += family.name;
    out += ' ';
    out += MetricTypeName(family.type);
    out += '\n';
    for (const MetricSnapshot& metric : family.metrics) {
      if (family.type == MetricType::kHistogram) {
        AppendHistogram(out, family, metric);
        continue;
      }
      out += family.name;
      AppendLabels(out, family.label_names, metric.label_values);
      out += ' ';
      out += FormatPrometheusValue(metric.value);
      out += '\n';
    }
  }
  return out;
}

std::string RenderPrometheusText(const MetricRegistry& registry) {
  return RenderPrometheusText(registry.Collect());
}

}  // namespace orbit
