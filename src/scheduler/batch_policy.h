// The dynamic batching rule as pure functions, so that it is tested without threads or clocks.
// ModelScheduler (scheduler.h) applies it under its queue lock; docs/design/batching.md explains
// the rule and why it is shaped like Triton's.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tensor/tensor.h"

namespace orbit::scheduler {

// Whether two requests' inputs may be concatenated into one batch: the same number of inputs
// and, input by input, the same dtype, the same rank (at least 1) and identical dimensions after
// the first (the batch dimension).
bool CanShareBatch(std::span<const Tensor> a, std::span<const Tensor> b);

// What the batcher does with the requests it is looking at.
struct BatchDecision {
  std::size_t take = 0;   // how many candidates, counted from the oldest, form the batch
  bool dispatch = false;  // true: run those now; false: keep waiting for more requests
};

// Decides on one batch. `candidate_items` lists the batch items of the queued requests that can
// share a batch with the oldest one, in FIFO order (oldest first; non-empty; every entry >= 1 and
// the first <= max_batch_size). `preferred_batch_sizes` is sorted ascending. `window_closed` is
// true once max_queue_delay has passed since the oldest request was queued, or while draining.
//
// The batch is the longest FIFO prefix of candidates whose items fit in max_batch_size. It is
// dispatched at once when it is full, when the next candidate would overflow it (it cannot grow
// without skipping that request) or when the window is closed. Otherwise, if some prefix adds up
// to exactly a preferred size, the longest such prefix is dispatched at once; if none does, the
// batcher waits.
BatchDecision DecideBatch(std::span<const std::int64_t> candidate_items,
                          std::int64_t max_batch_size,
                          std::span<const std::int64_t> preferred_batch_sizes, bool window_closed);

// Picks the largest batch worth forming on this hardware. On a GPU a batch of 8 costs little more
// than a batch of 1; on a small CPU it can cost more per item than eight single runs (measured
// on this project's 2-core host: 18.2 ms per image at batch 8 vs 15.7 at batch 1), so a fixed
// max_batch_size would lose throughput exactly when the server is saturated. The tuner keeps a
// moving average of compute time per item for each batch-size level (1, 2, 4, ..., max) and caps
// batches at the level with the lowest one, re-trying a neighbouring level now and then so the
// averages stay current. Deterministic (no clock, no randomness): callers feed it measurements.
// Not thread-safe; ModelScheduler guards it with its queue mutex.
class BatchSizeTuner {
 public:
  static constexpr int kSamplesPerLevel = 3;  // measurements before a level counts as known
  static constexpr int kExploreEvery = 16;    // every n-th decision tries a neighbouring level

  explicit BatchSizeTuner(std::int64_t max_batch_size);

  // The most items the next batch may hold (1..max_batch_size). While some level has too few
  // measurements it returns the largest such level, so a loaded server measures it.
  std::int64_t NextCap();
  // One executed batch: its items and the time the engine took for it.
  void Record(std::int64_t items, std::chrono::nanoseconds compute);

  const std::vector<std::int64_t>& levels() const { return levels_; }
  // Moving average of nanoseconds per item at each level (0 = not measured yet).
  const std::vector<double>& per_item_ns() const { return per_item_ns_; }

 private:
  std::size_t BestLevel() const;

  std::vector<std::int64_t> levels_;
  std::vector<double> per_item_ns_;
  std::vector<int> samples_;
  std::vector<std::int64_t> measured_at_;  // decision count at each level's last measurement
  std::int64_t decisions_ = 0;
  bool explore_down_ = true;
};

}  // namespace orbit::scheduler
