#include "vision/tiling.h"

#include <algorithm>

namespace orbit::vision {

std::vector<TileSpan> TileSpans(int length, int tile, int overlap) {
  std::vector<TileSpan> spans;
  if (length <= 0) return spans;
  if (length <= tile || tile <= 0) {
    spans.push_back({0, length, 0, length});
    return spans;
  }
  const int stride = std::max(tile - std::max(overlap, 0), 1);
  for (int begin = 0;; begin += stride) {
    if (begin + tile >= length) {
      spans.push_back({length - tile, tile, 0, 0});
      break;
    }
    spans.push_back({begin, tile, 0, 0});
  }
  for (std::size_t i = 0; i < spans.size(); ++i) {
    spans[i].own_begin = i == 0 ? 0 : spans[i - 1].own_end;
    if (i + 1 == spans.size()) {
      spans[i].own_end = length;
    } else {
      // Midpoint of the pixels shared with the next tile: [next.begin, this.begin + tile).
      spans[i].own_end = (spans[i + 1].begin + spans[i].begin + spans[i].extent) / 2;
    }
  }
  return spans;
}

}  // namespace orbit::vision
