#include "batch/shard.h"

#include <charconv>

namespace orbit::batch {

std::string ShardRef::ToString() const {
  return std::to_string(index) + "/" + std::to_string(count);
}

std::string ShardRef::FileStem() const {
  return "shard-" + std::to_string(index) + "-of-" + std::to_string(count);
}

Result<ShardRef> ParseShard(std::string_view text) {
  const auto bad = [&] {
    return InvalidArgumentError("--shard '" + std::string(text) +
                                "' is not INDEX/COUNT with 0 <= INDEX < COUNT <= 100000");
  };
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return bad();
  ShardRef shard;
  const char* begin = text.data();
  const char* mid = begin + slash;
  const char* end = begin + text.size();
  auto [p1, e1] = std::from_chars(begin, mid, shard.index);
  auto [p2, e2] = std::from_chars(mid + 1, end, shard.count);
  if (e1 != std::errc() || p1 != mid || e2 != std::errc() || p2 != end) return bad();
  if (shard.count < 1 || shard.count > 100000 || shard.index < 0 || shard.index >= shard.count) {
    return bad();
  }
  return shard;
}

std::vector<std::int64_t> ShardItems(std::int64_t item_count, const ShardRef& shard) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = shard.index; i < item_count; i += shard.count) out.push_back(i);
  return out;
}

}  // namespace orbit::batch
