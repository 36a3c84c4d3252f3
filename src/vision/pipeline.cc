#include "vision/pipeline.h"

#include <opencv2/imgproc.hpp>
#include <string>

#include "vision/postprocess.h"
#include "vision/preprocess.h"
#include "vision/tiling.h"

namespace orbit::vision {
namespace {

std::string SizeText(int width, int height) {
  return std::to_string(width) + " x " + std::to_string(height);
}

// Runs the model on one normalised piece and returns its foreground probability, cropped to the
// piece's unpadded size.
Result<cv::Mat> InferPiece(const cv::Mat& normalized, const ModelRecipe& recipe,
                           const InferFn& infer) {
  ORBIT_ASSIGN_OR_RETURN(PreparedInput prepared, PrepareNormalized(normalized, recipe.preprocess));
  ORBIT_ASSIGN_OR_RETURN(const Tensor output, infer(std::move(prepared.tensor)));
  ORBIT_ASSIGN_OR_RETURN(const cv::Mat probability,
                         ForegroundProbability(output, 0, recipe.postprocess));
  if (probability.cols != prepared.padded_width || probability.rows != prepared.padded_height) {
    return InvalidArgumentError(
        "model output " + ShapeToString(output.shape()) + " is " +
        SizeText(probability.cols, probability.rows) + " pixels for a " +
        SizeText(prepared.padded_width, prepared.padded_height) +
        " input; the recipe's pipeline needs an output of the input's spatial size");
  }
  return probability(cv::Rect(0, 0, prepared.width, prepared.height));
}

Result<cv::Mat> ProbabilityUnchecked(const cv::Mat& image, const ModelRecipe& recipe,
                                     const InferFn& infer) {
  // Percentiles come from the whole image, so tiling never changes the normalisation.
  ORBIT_ASSIGN_OR_RETURN(const cv::Mat normalized, NormalizeImage(image, recipe.preprocess));
  const int width = normalized.cols, height = normalized.rows;
  const int tile = recipe.tile.size;

  cv::Mat probability;
  if (tile <= 0 || (width <= tile && height <= tile)) {
    ORBIT_ASSIGN_OR_RETURN(const cv::Mat piece, InferPiece(normalized, recipe, infer));
    probability = piece.clone();  // own the crop, not the padded output behind it
  } else {
    const std::vector<TileSpan> rows = TileSpans(height, tile, recipe.tile.overlap);
    const std::vector<TileSpan> cols = TileSpans(width, tile, recipe.tile.overlap);
    probability.create(height, width, CV_32FC1);
    for (const TileSpan& row : rows) {
      for (const TileSpan& col : cols) {
        const cv::Rect area(col.begin, row.begin, col.extent, row.extent);
        auto piece = InferPiece(normalized(area), recipe, infer);
        if (!piece.ok()) {
          return piece.status().WithContext("tile at x=" + std::to_string(col.begin) +
                                            ", y=" + std::to_string(row.begin));
        }
        // Keep only the pixels this tile owns (its centre; neighbours own the rest).
        const cv::Rect owned(col.own_begin, row.own_begin, col.own_end - col.own_begin,
                             row.own_end - row.own_begin);
        (*piece)(owned - area.tl()).copyTo(probability(owned));
      }
    }
  }
  if (probability.size() != image.size()) {  // the recipe resized the input
    cv::Mat resized;
    cv::resize(probability, resized, image.size(), 0, 0, cv::INTER_LINEAR);
    probability = resized;
  }
  return probability;
}

}  // namespace

Result<cv::Mat> SegmentationPipeline::Probability(const cv::Mat& image,
                                                  const InferFn& infer) const {
  if (image.empty()) return InvalidArgumentError("cannot segment an empty image");
  if (!infer) return FailedPreconditionError("no model bound to the segmentation pipeline");
  try {
    return ProbabilityUnchecked(image, recipe_, infer);
  } catch (const cv::Exception& e) {
    return InternalError(std::string("segmentation pipeline: ") + e.what());
  }
}

Result<Segmentation> SegmentationPipeline::Run(const cv::Mat& image, const InferFn& infer) const {
  ORBIT_ASSIGN_OR_RETURN(cv::Mat probability, Probability(image, infer));
  return SegmentFromProbability(std::move(probability), image, recipe_.postprocess);
}

}  // namespace orbit::vision
