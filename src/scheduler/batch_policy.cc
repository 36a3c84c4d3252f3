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

}  // namespace orbit::scheduler
