// Tile layout for SegmentationPipeline's tiled inference (internal to vision): where tiles start
// along one axis and which pixels each tile owns, so that the stitched map has no seams.
#pragma once

#include <vector>

namespace orbit::vision {

// One tile along one axis: the model sees [begin, begin + extent); the stitched map takes
// [own_begin, own_end) from it. Owned ranges partition [0, length) in order.
struct TileSpan {
  int begin = 0;
  int extent = 0;
  int own_begin = 0;
  int own_end = 0;
};

// Tiles of `tile` pixels (the whole axis when it is not longer than that) with stride
// `tile - overlap`; the last tile is aligned to the end, so it may overlap its neighbour more.
// Neighbours split their shared pixels at the midpoint, keeping each tile's centre.
// Requires length >= 1 and tile > overlap >= 0 (tile > 2 * overlap keeps every own range wide).
std::vector<TileSpan> TileSpans(int length, int tile, int overlap);

}  // namespace orbit::vision
