// MetricRegistry: the named, labelled metric families of one process, and the consistent
// snapshot of them that exporters (the Prometheus text renderer) read.
//
// A family (name, help, label names, type) owns one child metric per distinct tuple of label
// values. Children are created on first use and never move or disappear before the registry, so
// callers look a child up once and keep the pointer; updating it is a lock-free atomic.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "telemetry/metric.h"

namespace orbit {

enum class MetricType { kCounter, kGauge, kHistogram };

// "counter", "gauge", "histogram": the words of Prometheus' `# TYPE` line.
std::string_view MetricTypeName(MetricType type);

// Prometheus data model rules. Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*. Label names:
// [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__" (reserved for Prometheus itself).
Status ValidateMetricName(std::string_view name);
Status ValidateLabelName(std::string_view name);

// One child's values at one instant.
struct MetricSnapshot {
  std::vector<std::string> label_values;  // in the order of the family's label names
  double value = 0.0;                     // counter and gauge
  HistogramSnapshot histogram;            // histogram
};

// One family at one instant; what exporters format.
struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<std::string> label_names;
  std::vector<double> bucket_bounds;    // histogram only; finite, ascending, +Inf implicit
  std::vector<MetricSnapshot> metrics;  // in creation order
};

// What every family has, whatever its metric type. Made only by MetricRegistry.
class MetricFamilyBase {
 public:
  virtual ~MetricFamilyBase() = default;
  MetricFamilyBase(const MetricFamilyBase&) = delete;
  MetricFamilyBase& operator=(const MetricFamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<double>& bucket_bounds() const { return bucket_bounds_; }

 protected:
  MetricFamilyBase(MetricType type, std::string name, std::string help,
                   std::vector<std::string> label_names, std::vector<double> bucket_bounds);

  // InvalidArgument unless there is exactly one value per label name.
  Status CheckLabelCount(const std::vector<std::string>& label_values) const;

 private:
  friend class MetricRegistry;
  virtual bool is_callback() const { return false; }
  // The children's current values. Thread-safe.
  virtual std::vector<MetricSnapshot> CollectMetrics() const = 0;

  const MetricType type_;
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bucket_bounds_;
};

// A family of Counter, Gauge or Histogram children. Thread-safe: lookups of existing children
// share a reader lock, creating a child takes the writer lock; the children themselves are
// updated without any lock.
template <typename Metric>
class MetricFamily final : public MetricFamilyBase {
 public:
  // Use MetricRegistry::AddCounter/AddGauge/AddHistogram, which validate the arguments.
  MetricFamily(std::string name, std::string help, std::vector<std::string> label_names,
               std::vector<double> bucket_bounds);

  // The child for these label values (one per label name, in order), created at first use. The
  // pointer is never null when ok and stays valid as long as the registry; cache it on hot
  // paths. An unlabelled family's only child is WithLabels({}), created with the family.
  Result<Metric*> WithLabels(const std::vector<std::string>& label_values);

 private:
  struct Child {
    std::vector<std::string> label_values;
    std::unique_ptr<Metric> metric;
  };

  std::vector<MetricSnapshot> CollectMetrics() const override;
  std::unique_ptr<Metric> MakeMetric() const;

  mutable std::shared_mutex mu_;
  std::vector<Child> children_;                        // guarded by mu_; creation order
  std::map<std::vector<std::string>, Metric*> index_;  // guarded by mu_
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;
extern template class MetricFamily<Counter>;
extern template class MetricFamily<Gauge>;
extern template class MetricFamily<Histogram>;

// One value of a callback family, computed at collection time.
struct CallbackSample {
  std::vector<std::string> label_values;
  double value = 0.0;
};
// Returns the family's current children. Called on the collecting thread with no registry lock
// held, so it may take its owner's locks and may call the registry (except RemoveCallback and
// Collect).
using MetricCallback = std::function<std::vector<CallbackSample>()>;

// The metric families of a process. Thread-safe. Must outlive every family and child pointer it
// handed out.
//
// Locking: `mu_` guards the family map and is never held while a callback runs; `collect_mu_`
// serialises collections with RemoveCallback, so once RemoveCallback returns its callback is not
// running and will not run again.
class MetricRegistry {
 public:
  MetricRegistry();
  ~MetricRegistry();
  MetricRegistry(const MetricRegistry&) = delete;
  MetricRegistry& operator=(const MetricRegistry&) = delete;

  // Each Add* validates the names (InvalidArgument). Registering a name again with the same type,
  // label names (and bucket bounds) returns the existing family, whose help text is kept; any other
  // reuse of a name, or a name that collides with a histogram's `_bucket`/`_sum`/`_count` series,
  // is AlreadyExists.
  Result<CounterFamily*> AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names = {});
  Result<GaugeFamily*> AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names = {});
  // `bucket_bounds`: upper bounds, strictly increasing, at least one finite; a trailing +Inf is
  // accepted and dropped (the +Inf bucket is always there). The label name "le" is reserved.
  Result<HistogramFamily*> AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bucket_bounds);

  // A counter or gauge family whose children come from `callback` at each collection (queue
  // depth, /proc readings). Samples with the wrong number of label values are dropped. A name can
  // hold one callback: registering it again is AlreadyExists.
  Status AddCallback(MetricType type, std::string name, std::string help,
                     std::vector<std::string> label_names, MetricCallback callback);
  // An unlabelled callback gauge.
  Status AddCallbackGauge(std::string name, std::string help, std::function<double()> callback);
  // Unregisters a callback family so its captures may be destroyed. NotFound if there is none by
  // that name, FailedPrecondition for a family that is not a callback (its children may be
  // cached). Do not call it while holding a lock that a callback takes.
  Status RemoveCallback(std::string_view name);

  // Every family, sorted by name, children in creation order.
  std::vector<FamilySnapshot> Collect() const;

 private:
  Result<MetricFamilyBase*> Register(std::unique_ptr<MetricFamilyBase> candidate);

  mutable std::mutex collect_mu_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<MetricFamilyBase>, std::less<>> families_;  // by mu_
  std::map<std::string, std::string, std::less<>> series_names_;  // series → family; by mu_
};

}  // namespace orbit
