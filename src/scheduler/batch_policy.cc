#include "scheduler/batch_policy.h"

#include <algorithm>

namespace orbit::scheduler {

bool CanShareBatch(std::span<const Tensor> a, std::span<const Tensor> b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const Shape& sa = a[i].shape();
    const Shape& sb = b[i].shape();
    if (a[i].dtype() != b[i].dtype() || sa.empty() || sa.size() != sb.size() ||
        !std::equal(sa.begin() + 1, sa.end(), sb.begin() + 1)) {
      return false;
    }
  }
  return true;
}

BatchDecision DecideBatch(std::span<const std::int64_t> candidate_items,
                          std::int64_t max_batch_size,
                          std::span<const std::int64_t> preferred_batch_sizes, bool window_closed) {
  std::int64_t items = 0;
  std::size_t fit = 0;        // longest prefix that fits in max_batch_size
  std::size_t preferred = 0;  // longest prefix that adds up to a preferred size
  for (const std::int64_t next : candidate_items) {
    if (items + next > max_batch_size) break;
    items += next;
    ++fit;
    if (std::binary_search(preferred_batch_sizes.begin(), preferred_batch_sizes.end(), items)) {
      preferred = fit;
    }
  }
  const bool can_grow = fit == candidate_items.size() && items < max_batch_size;
  if (!can_grow || window_closed) return {fit, true};
  if (preferred > 0) return {preferred, true};
  return {fit, false};
}

BatchSizeTuner::BatchSizeTuner(std::int64_t max_batch_size) {
  for (std::int64_t level = 1; level < max_batch_size; level *= 2) levels_.push_back(level);
  levels_.push_back(std::max<std::int64_t>(max_batch_size, 1));
  per_item_ns_.assign(levels_.size(), 0.0);
  samples_.assign(levels_.size(), 0);
  measured_at_.assign(levels_.size(), 0);
}

std::size_t BatchSizeTuner::BestLevel() const {
  std::size_t best = levels_.size() - 1;
  for (std::size_t i = levels_.size(); i-- > 0;) {
    // A smaller level must be clearly (3 %) cheaper per item to win: larger batches drain a
    // queue with fewer engine calls, so ties go to them.
    if (per_item_ns_[i] < per_item_ns_[best] * 0.97) best = i;
  }
  return best;
}

std::int64_t BatchSizeTuner::NextCap() {
  if (levels_.size() == 1) return levels_.front();
  ++decisions_;
  for (std::size_t i = levels_.size(); i-- > 0;) {
    if (samples_[i] < kSamplesPerLevel) return levels_[i];
  }
  const std::size_t best = BestLevel();
  if (decisions_ % kExploreEvery == 0) {
    std::size_t neighbour = best;
    if (explore_down_ ? best > 0 : best + 1 == levels_.size()) {
      neighbour = best - 1;
    } else {
      neighbour = best + 1;
    }
    explore_down_ = !explore_down_;
    return levels_[neighbour];
  }
  return levels_[best];
}

void BatchSizeTuner::Record(std::int64_t items, std::chrono::nanoseconds compute) {
  if (items < 1) return;
  std::size_t level = 0;
  while (level + 1 < levels_.size() && levels_[level + 1] <= items) ++level;
  const double per_item = static_cast<double>(compute.count()) / static_cast<double>(items);
  // A level not measured for a while (only explored now and then) starts afresh, so a change in
  // the machine's behaviour is followed within a few explorations instead of being averaged away.
  const bool stale = decisions_ - measured_at_[level] > 2 * kExploreEvery;
  per_item_ns_[level] =
      samples_[level] == 0 || stale ? per_item : 0.7 * per_item_ns_[level] + 0.3 * per_item;
  ++samples_[level];
  measured_at_[level] = decisions_;
}

}  // namespace orbit::scheduler
