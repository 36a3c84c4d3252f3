// Renders a MetricRegistry in the Prometheus text exposition format, version 0.0.4: what
// Prometheus scrapes from GET /metrics (and what Triton serves on its metrics port).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "telemetry/metric_registry.h"

namespace orbit {

// The Content-Type of a /metrics response.
inline constexpr std::string_view kPrometheusTextContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Every family sorted by name: `# HELP` (omitted when the help text is empty), `# TYPE`, then one
// line per sample, children in creation order, histogram buckets ascending and ending at +Inf.
// Families without children still show their HELP and TYPE lines.
std::string RenderPrometheusText(const MetricRegistry& registry);
std::string RenderPrometheusText(const std::vector<FamilySnapshot>& families);

// A sample value: integral values below 2^63 as plain integers ("42", never "4.2e+01"), others
// in the shortest form that reads back as the same double, and "+Inf", "-Inf", "NaN".
std::string FormatPrometheusValue(double value);

// Escapes for the HELP text (backslash, newline) and for label values (also double quote).
std::string EscapePrometheusHelp(std::string_view help);
std::string EscapePrometheusLabelValue(std::string_view value);

}  // namespace orbit
