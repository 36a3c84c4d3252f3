// The three metric kinds of the data plane: Counter, Gauge and Histogram. Each is one labelled
// series (a "child" of a MetricFamily). Updates are lock-free relaxed atomics so the scheduler
// and the server can record on the hot path; reads are for the renderer.
//
// Thread-safe: every method may be called from any thread at any time.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

namespace orbit {

// Monotonic: it only ever goes up (until the process restarts). Whole increments go to an exact
// uint64 (one atomic add); fractional amounts (seconds) to a separate double.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Increment(std::uint64_t amount = 1) {
    integer_.fetch_add(amount, std::memory_order_relaxed);
  }
  // Adds a possibly fractional amount. Negative and NaN amounts are ignored: a counter that went
  // down would read as a process restart to Prometheus' rate().
  void Add(double amount);

  double Value() const;

 private:
  std::atomic<std::uint64_t> integer_{0};
  std::atomic<double> fractional_{0.0};
};

// A value that goes up and down: queue depth, requests in flight, a temperature.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount) { value_.fetch_add(amount, std::memory_order_relaxed); }
  void Increment() { Add(1.0); }
  void Decrement() { Add(-1.0); }

  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A histogram's values at one instant. Cumulative, as Prometheus exposes them.
struct HistogramSnapshot {
  // cumulative_counts[i] = observations <= bounds[i]; the last entry is the +Inf bucket and
  // always equals `count`.
  std::vector<std::uint64_t> cumulative_counts;
  double sum = 0.0;
  std::uint64_t count = 0;
};

// Counts observations into buckets with fixed upper bounds (inclusive, Prometheus' `le`) plus an
// implicit +Inf bucket, and keeps their sum.
class Histogram {
 public:
  // `bounds`: finite and strictly increasing (MetricRegistry validates them).
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // NaN counts in the +Inf bucket only and makes the sum NaN, as in the Go client.
  void Observe(double value);

  // Buckets and count are consistent with each other (count is derived from the buckets); the
  // sum may lag by observations still in progress on other threads.
  HistogramSnapshot Snapshot() const;

  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  std::vector<std::atomic<std::uint64_t>> counts_;  // per bucket, not cumulative; +Inf last
  std::atomic<double> sum_{0.0};
};

}  // namespace orbit
