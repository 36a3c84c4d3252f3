#include "vision/pipeline.h"

#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "vision/postprocess.h"
#include "vision/preprocess.h"
#include "vision/tiling.h"

namespace orbit::vision {
namespace {

std::string SizeText(int width, int height) {
  return std::to_string(width) + " x " + std::to_string(height);
}

// Runs the model on one normalised piece and returns its probability maps, cropped to the
// piece's unpadded size (views into the padded maps).
Result<ProbabilityMaps> InferPiece(const cv::Mat& normalized, const ModelRecipe& recipe,
                                   const InferFn& infer) {
  ORBIT_ASSIGN_OR_RETURN(PreparedInput prepared, PrepareNormalized(normalized, recipe.preprocess));
  ORBIT_ASSIGN_OR_RETURN(const Tensor output, infer(std::move(prepared.tensor)));
  ProbabilityMaps maps;
  ORBIT_ASSIGN_OR_RETURN(maps.foreground, ForegroundProbability(output, 0, recipe.postprocess));
  if (maps.foreground.cols != prepared.padded_width ||
      maps.foreground.rows != prepared.padded_height) {
    return InvalidArgumentError(
        "model output " + ShapeToString(output.shape()) + " is " +
        SizeText(maps.foreground.cols, maps.foreground.rows) + " pixels for a " +
        SizeText(prepared.padded_width, prepared.padded_height) +
        " input; the recipe's pipeline needs an output of the input's spatial size");
  }
  const cv::Rect unpadded(0, 0, prepared.width, prepared.height);
  maps.foreground = maps.foreground(unpadded);
  if (recipe.postprocess.seed_channel) {
    ORBIT_ASSIGN_OR_RETURN(maps.seed, SeedProbability(output, 0, recipe.postprocess));
    maps.seed = maps.seed(unpadded);  // same spatial size as the foreground (one tensor)
  }
  return maps;
}

// The maps a recipe produces, in pipeline order (the seed map only with a seed channel).
std::vector<cv::Mat*> MapsOf(ProbabilityMaps& maps, const ModelRecipe& recipe) {
  std::vector<cv::Mat*> out{&maps.foreground};
  if (recipe.postprocess.seed_channel) out.push_back(&maps.seed);
  return out;
}

Result<ProbabilityMaps> MapsUnchecked(const cv::Mat& image, const ModelRecipe& recipe,
                                      const InferFn& infer) {
  // Percentiles come from the whole image, so tiling never changes the normalisation.
  ORBIT_ASSIGN_OR_RETURN(const cv::Mat normalized, NormalizeImage(image, recipe.preprocess));
  const int width = normalized.cols, height = normalized.rows;
  const int tile = recipe.tile.size;

  ProbabilityMaps maps;
  if (tile <= 0 || (width <= tile && height <= tile)) {
    ORBIT_ASSIGN_OR_RETURN(ProbabilityMaps piece, InferPiece(normalized, recipe, infer));
    for (cv::Mat* map : MapsOf(piece, recipe)) {
      *map = map->clone();  // own the crop, not the padded output behind it
    }
    maps = std::move(piece);
  } else {
    const std::vector<TileSpan> rows = TileSpans(height, tile, recipe.tile.overlap);
    const std::vector<TileSpan> cols = TileSpans(width, tile, recipe.tile.overlap);
    for (cv::Mat* map : MapsOf(maps, recipe)) map->create(height, width, CV_32FC1);
    for (const TileSpan& row : rows) {
      for (const TileSpan& col : cols) {
        const cv::Rect area(col.begin, row.begin, col.extent, row.extent);
        auto piece = InferPiece(normalized(area), recipe, infer);
        if (!piece.ok()) {
          return piece.status().WithContext("tile at x=" + std::to_string(col.begin) +
                                            ", y=" + std::to_string(row.begin));
        }
        // Keep only the pixels this tile owns (its centre; neighbours own the rest), in every
        // map alike.
        const cv::Rect owned(col.own_begin, row.own_begin, col.own_end - col.own_begin,
                             row.own_end - row.own_begin);
        const std::vector<cv::Mat*> from = MapsOf(*piece, recipe), to = MapsOf(maps, recipe);
        for (std::size_t m = 0; m < from.size(); ++m) {
          (*from[m])(owned - area.tl()).copyTo((*to[m])(owned));
        }
      }
    }
  }
  for (cv::Mat* map : MapsOf(maps, recipe)) {
    if (map->size() != image.size()) {  // the recipe resized the input
      cv::Mat resized;
      cv::resize(*map, resized, image.size(), 0, 0, cv::INTER_LINEAR);
      *map = resized;
    }
  }
  return maps;
}

}  // namespace

Result<ProbabilityMaps> SegmentationPipeline::Maps(const cv::Mat& image,
                                                   const InferFn& infer) const {
  if (image.empty()) return InvalidArgumentError("cannot segment an empty image");
  if (!infer) return FailedPreconditionError("no model bound to the segmentation pipeline");
  try {
    return MapsUnchecked(image, recipe_, infer);
  } catch (const cv::Exception& e) {
    return InternalError(std::string("segmentation pipeline: ") + e.what());
  }
}

Result<cv::Mat> SegmentationPipeline::Probability(const cv::Mat& image,
                                                  const InferFn& infer) const {
  ORBIT_ASSIGN_OR_RETURN(ProbabilityMaps maps, Maps(image, infer));
  return std::move(maps.foreground);
}

Result<Segmentation> SegmentationPipeline::Run(const cv::Mat& image, const InferFn& infer) const {
  ORBIT_ASSIGN_OR_RETURN(ProbabilityMaps maps, Maps(image, infer));
  return SegmentFromProbability(std::move(maps.foreground), image, recipe_.postprocess, maps.seed);
}

}  // namespace orbit::vision
