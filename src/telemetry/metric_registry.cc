#include "telemetry/metric_registry.h"

#include <charconv>
#include <cmath>
#include <type_traits>
#include <utility>

namespace orbit {
namespace {

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

std::string JoinNames(const std::vector<std::string>& names) {
  std::string joined = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) joined += ", ";
    joined += names[i];
  }
  return joined + "}";
}

// Shortest text that reads back as the same double ("0.25", "1e-07").
std::string ShortestDouble(double value) {
  char buffer[32];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return error == std::errc() ? std::string(buffer, end) : std::to_string(value);
}

// "gauge with labels {model, version}", for conflict messages.
std::string DescribeFamily(const MetricFamilyBase& family, bool is_callback) {
  std::string description = std::string(is_callback ? "callback " : "") +
                            std::string(MetricTypeName(family.type())) + " with labels " +
                            JoinNames(family.label_names());
  if (family.type() == MetricType::kHistogram) {
    description += " and bucket bounds [";
    for (std::size_t i = 0; i < family.bucket_bounds().size(); ++i) {
      if (i > 0) description += ", ";
      description += ShortestDouble(family.bucket_bounds()[i]);
    }
    description += "]";
  }
  return description;
}

// The series names a family puts in the exposition: a histogram's three, or its own name.
std::vector<std::string> SeriesNames(MetricType type, const std::string& name) {
  if (type == MetricType::kHistogram) return {name + "_bucket", name + "_sum", name + "_count"};
  return {name};
}

Status ValidateLabelNames(const std::string& metric, MetricType type,
                          const std::vector<std::string>& label_names) {
  for (std::size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    ORBIT_RETURN_IF_ERROR(ValidateLabelName(label).WithContext("metric '" + metric + "'"));
    if (type == MetricType::kHistogram && label == "le") {
      return InvalidArgumentError("metric '" + metric +
                                  "': label name 'le' is reserved for histogram buckets");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (label_names[j] == label) {
        return InvalidArgumentError("metric '" + metric + "': label name '" + label +
                                    "' appears twice");
      }
    }
  }
  return Status::Ok();
}

// Checks the bounds and drops a trailing +Inf.
Status NormalizeBucketBounds(const std::string& metric, std::vector<double>& bounds) {
  if (!bounds.empty() && bounds.back() == HUGE_VAL) bounds.pop_back();
  if (bounds.empty()) {
    return InvalidArgumentError("histogram '" + metric +
                                "': needs at least one finite bucket bound");
  }
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      return InvalidArgumentError("histogram '" + metric + "': bucket bound " + std::to_string(i) +
                                  " is not finite");
    }
    if (i > 0 && !(bounds[i] > bounds[i - 1])) {
      return InvalidArgumentError("histogram '" + metric + "': bucket bounds must be strictly " +
                                  "increasing (" + ShortestDouble(bounds[i]) + " follows " +
                                  ShortestDouble(bounds[i - 1]) + ")");
    }
  }
  return Status::Ok();
}

template <typename Metric>
constexpr MetricType kMetricTypeOf = std::is_same_v<Metric, Counter> ? MetricType::kCounter
                                     : std::is_same_v<Metric, Gauge> ? MetricType::kGauge
                                                                     : MetricType::kHistogram;

class CallbackFamily final : public MetricFamilyBase {
 public:
  CallbackFamily(MetricType type, std::string name, std::string help,
                 std::vector<std::string> label_names, MetricCallback callback)
      : MetricFamilyBase(type, std::move(name), std::move(help), std::move(label_names), {}),
        callback_(std::move(callback)) {}

 private:
  bool is_callback() const override { return true; }

  std::vector<MetricSnapshot> CollectMetrics() const override {
    std::vector<MetricSnapshot> metrics;
    for (CallbackSample& sample : callback_()) {
      if (!CheckLabelCount(sample.label_values).ok()) continue;
      MetricSnapshot& metric = metrics.emplace_back();
      metric.label_values = std::move(sample.label_values);
      metric.value = sample.value;
    }
    return metrics;
  }

  const MetricCallback callback_;
};

}  // namespace

std::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

Status ValidateMetricName(std::string_view name) {
  bool valid = !name.empty();
  for (std::size_t i = 0; valid && i < name.size(); ++i) {
    const char c = name[i];
    valid = IsAsciiLetter(c) || c == '_' || c == ':' || (i > 0 && IsAsciiDigit(c));
  }
  if (!valid) {
    return InvalidArgumentError("metric name '" + std::string(name) +
                                "' is invalid (expected [a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  return Status::Ok();
}

Status ValidateLabelName(std::string_view name) {
  bool valid = !name.empty();
  for (std::size_t i = 0; valid && i < name.size(); ++i) {
    const char c = name[i];
    valid = IsAsciiLetter(c) || c == '_' || (i > 0 && IsAsciiDigit(c));
  }
  if (!valid) {
    return InvalidArgumentError("label name '" + std::string(name) +
                                "' is invalid (expected [a-zA-Z_][a-zA-Z0-9_]*)");
  }
  if (name.starts_with("__")) {
    return InvalidArgumentError("label name '" + std::string(name) +
                                "' is reserved (names starting with '__' belong to Prometheus)");
  }
  return Status::Ok();
}

MetricFamilyBase::MetricFamilyBase(MetricType type, std::string name, std::string help,
                                   std::vector<std::string> label_names,
                                   std::vector<double> bucket_bounds)
    : type_(type),
      name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bucket_bounds_(std::move(bucket_bounds)) {}

Status MetricFamilyBase::CheckLabelCount(const std::vector<std::string>& label_values) const {
  if (label_values.size() == label_names_.size()) return Status::Ok();
  return InvalidArgumentError("metric '" + name_ + "': expected " +
                              std::to_string(label_names_.size()) + " label values for " +
                              JoinNames(label_names_) + ", got " +
                              std::to_string(label_values.size()));
}

template <typename Metric>
MetricFamily<Metric>::MetricFamily(std::string name, std::string help,
                                   std::vector<std::string> label_names,
                                   std::vector<double> bucket_bounds)
    : MetricFamilyBase(kMetricTypeOf<Metric>, std::move(name), std::move(help),
                       std::move(label_names), std::move(bucket_bounds)) {
  // An unlabelled family shows its single series (at zero) from the start.
  if (this->label_names().empty()) {
    children_.push_back(Child{{}, MakeMetric()});
    index_.emplace(std::vector<std::string>{}, children_.back().metric.get());
  }
}

template <typename Metric>
Result<Metric*> MetricFamily<Metric>::WithLabels(const std::vector<std::string>& label_values) {
  ORBIT_RETURN_IF_ERROR(CheckLabelCount(label_values));
  {
    std::shared_lock lock(mu_);
    auto it = index_.find(label_values);
    if (it != index_.end()) return it->second;
  }
  std::unique_lock lock(mu_);
  auto [it, inserted] = index_.try_emplace(label_values, nullptr);
  if (inserted) {  // not created by another thread between the two locks
    children_.push_back(Child{label_values, MakeMetric()});
    it->second = children_.back().metric.get();
  }
  return it->second;
}

template <typename Metric>
std::unique_ptr<Metric> MetricFamily<Metric>::MakeMetric() const {
  if constexpr (std::is_same_v<Metric, Histogram>) {
    return std::make_unique<Histogram>(bucket_bounds());
  } else {
    return std::make_unique<Metric>();
  }
}

template <typename Metric>
std::vector<MetricSnapshot> MetricFamily<Metric>::CollectMetrics() const {
  std::shared_lock lock(mu_);
  std::vector<MetricSnapshot> metrics;
  metrics.reserve(children_.size());
  for (const Child& child : children_) {
    MetricSnapshot& metric = metrics.emplace_back();
    metric.label_values = child.label_values;
    if constexpr (std::is_same_v<Metric, Histogram>) {
      metric.histogram = child.metric->Snapshot();
    } else {
      metric.value = child.metric->Value();
    }
  }
  return metrics;
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

MetricRegistry::MetricRegistry() = default;
MetricRegistry::~MetricRegistry() = default;

Result<CounterFamily*> MetricRegistry::AddCounter(std::string name, std::string help,
                                                  std::vector<std::string> label_names) {
  ORBIT_RETURN_IF_ERROR(ValidateMetricName(name));
  ORBIT_RETURN_IF_ERROR(ValidateLabelNames(name, MetricType::kCounter, label_names));
  ORBIT_ASSIGN_OR_RETURN(
      MetricFamilyBase * family,
      Register(std::make_unique<CounterFamily>(std::move(name), std::move(help),
                                               std::move(label_names), std::vector<double>{})));
  return static_cast<CounterFamily*>(family);
}

Result<GaugeFamily*> MetricRegistry::AddGauge(std::string name, std::string help,
                                              std::vector<std::string> label_names) {
  ORBIT_RETURN_IF_ERROR(ValidateMetricName(name));
  ORBIT_RETURN_IF_ERROR(ValidateLabelNames(name, MetricType::kGauge, label_names));
  ORBIT_ASSIGN_OR_RETURN(
      MetricFamilyBase * family,
      Register(std::make_unique<GaugeFamily>(std::move(name), std::move(help),
                                             std::move(label_names), std::vector<double>{})));
  return static_cast<GaugeFamily*>(family);
}

Result<HistogramFamily*> MetricRegistry::AddHistogram(std::string name, std::string help,
                                                      std::vector<std::string> label_names,
                                                      std::vector<double> bucket_bounds) {
  ORBIT_RETURN_IF_ERROR(ValidateMetricName(name));
  ORBIT_RETURN_IF_ERROR(ValidateLabelNames(name, MetricType::kHistogram, label_names));
  ORBIT_RETURN_IF_ERROR(NormalizeBucketBounds(name, bucket_bounds));
  ORBIT_ASSIGN_OR_RETURN(
      MetricFamilyBase * family,
      Register(std::make_unique<HistogramFamily>(
          std::move(name), std::move(help), std::move(label_names), std::move(bucket_bounds))));
  return static_cast<HistogramFamily*>(family);
}

Status MetricRegistry::AddCallback(MetricType type, std::string name, std::string help,
                                   std::vector<std::string> label_names, MetricCallback callback) {
  ORBIT_RETURN_IF_ERROR(ValidateMetricName(name));
  if (type == MetricType::kHistogram) {
    return InvalidArgumentError("metric '" + name +
                                "': callback families are counters or gauges, not histograms");
  }
  if (!callback) return InvalidArgumentError("metric '" + name + "': callback is empty");
  ORBIT_RETURN_IF_ERROR(ValidateLabelNames(name, type, label_names));
  return Register(std::make_unique<CallbackFamily>(type, std::move(name), std::move(help),
                                                   std::move(label_names), std::move(callback)))
      .status();
}

Status MetricRegistry::AddCallbackGauge(std::string name, std::string help,
                                        std::function<double()> callback) {
  if (!callback) return InvalidArgumentError("metric '" + name + "': callback is empty");
  return AddCallback(MetricType::kGauge, std::move(name), std::move(help), {},
                     [callback = std::move(callback)] {
                       return std::vector<CallbackSample>{{{}, callback()}};
                     });
}

Status MetricRegistry::RemoveCallback(std::string_view name) {
  std::unique_ptr<MetricFamilyBase> removed;  // destroyed after the locks are released
  std::lock_guard collect_lock(collect_mu_);
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    return NotFoundError("metric '" + std::string(name) + "' is not registered");
  }
  if (!it->second->is_callback()) {
    return FailedPreconditionError("metric '" + std::string(name) +
                                   "' is not a callback family; only those can be removed");
  }
  for (const std::string& series : SeriesNames(it->second->type(), it->first)) {
    series_names_.erase(series);
  }
  removed = std::move(it->second);
  families_.erase(it);
  return Status::Ok();
}

Result<MetricFamilyBase*> MetricRegistry::Register(std::unique_ptr<MetricFamilyBase> candidate) {
  std::lock_guard lock(mu_);
  const std::string& name = candidate->name();
  if (auto it = families_.find(name); it != families_.end()) {
    MetricFamilyBase& existing = *it->second;
    const bool same = !existing.is_callback() && !candidate->is_callback() &&
                      existing.type() == candidate->type() &&
                      existing.label_names() == candidate->label_names() &&
                      existing.bucket_bounds() == candidate->bucket_bounds();
    if (same) return &existing;
    return AlreadyExistsError("metric '" + name + "' is already registered as a " +
                              DescribeFamily(existing, existing.is_callback()) +
                              "; cannot register it as a " +
                              DescribeFamily(*candidate, candidate->is_callback()));
  }
  const std::vector<std::string> series = SeriesNames(candidate->type(), name);
  for (const std::string& series_name : series) {
    if (auto it = series_names_.find(series_name); it != series_names_.end()) {
      return AlreadyExistsError("metric '" + name + "': its series '" + series_name +
                                "' collides with metric '" + it->second + "'");
    }
  }
  for (const std::string& series_name : series) series_names_.emplace(series_name, name);
  MetricFamilyBase* family = candidate.get();
  families_.emplace(name, std::move(candidate));
  return family;
}

std::vector<FamilySnapshot> MetricRegistry::Collect() const {
  std::lock_guard collect_lock(collect_mu_);
  std::vector<const MetricFamilyBase*> families;
  {
    std::lock_guard lock(mu_);
    families.reserve(families_.size());
    for (const auto& [name, family] : families_) families.push_back(family.get());
  }
  // Families are only destroyed by RemoveCallback (which waits for collect_mu_) or with the
  // registry, so the pointers stay valid without mu_, which callbacks may need.
  std::vector<FamilySnapshot> snapshots;
  snapshots.reserve(families.size());
  for (const MetricFamilyBase* family : families) {
    FamilySnapshot& snapshot = snapshots.emplace_back();
    snapshot.name = family->name();
    snapshot.help = family->help();
    snapshot.type = family->type();
    snapshot.label_names = family->label_names();
    snapshot.bucket_bounds = family->bucket_bounds();
    snapshot.metrics = family->CollectMetrics();
  }
  return snapshots;
}

}  // namespace orbit
