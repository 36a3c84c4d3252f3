// The dynamic batching rule as pure functions, so that it is tested without threads or clocks.
// ModelScheduler (scheduler.h) applies it under its queue lock; docs/design/batching.md explains
// the rule and why it is shaped like Triton's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

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

}  // namespace orbit::scheduler
