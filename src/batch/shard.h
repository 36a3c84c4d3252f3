// Splitting a job's items across K independent processes (Slurm array tasks). Shard i of K owns
// items whose index ≡ i (mod K): every item belongs to exactly one shard, and each shard gets a
// mix of the input list rather than one directory's worth.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace orbit::batch {

// Shard `index` of `count` (0 <= index < count). The whole job is shard 0 of 1.
struct ShardRef {
  int index = 0;
  int count = 1;

  bool Owns(std::int64_t item_index) const { return item_index % count == index; }
  bool is_whole_job() const { return count == 1; }
  std::string ToString() const;  // "i/K"
  std::string FileStem() const;  // "shard-i-of-K"
  bool operator==(const ShardRef&) const = default;
};

// "i/K" with 0 <= i < K <= 100000.
Result<ShardRef> ParseShard(std::string_view text);

// Indices in [0, item_count) owned by `shard`, ascending.
std::vector<std::int64_t> ShardItems(std::int64_t item_count, const ShardRef& shard);

}  // namespace orbit::batch
