// SegmentationPipeline: pre-process → model → post-process for one image, with tiled inference
// for images larger than the recipe's tile. The model is a callback, so vision does not depend on
// runtime: the CLI and the server bind it to an Engine (or a batcher).
#pragma once

#include <functional>
#include <opencv2/core.hpp>

#include "core/status.h"
#include "tensor/tensor.h"
#include "vision/recipe.h"
#include "vision/segmentation.h"

namespace orbit::vision {

// Runs the model on one NCHW input batch and returns its first output (NCHW FP32).
using InferFn = std::function<Result<Tensor>(Tensor input)>;

// The per-pixel maps post-processing needs, at the original image size (CV_32FC1).
struct ProbabilityMaps {
  cv::Mat foreground;
  cv::Mat seed;  // empty unless the recipe has postprocess.instances.seed_channel
};

class SegmentationPipeline {
 public:
  explicit SegmentationPipeline(ModelRecipe recipe) : recipe_(std::move(recipe)) {}

  const ModelRecipe& recipe() const { return recipe_; }

  // Normalises the whole image once (so percentiles never depend on tiling), then either runs
  // it in one piece or, when larger than the tile, runs overlapping tiles and keeps each tile's
  // centre, so the probability map (and so the labels) have no seams.
  Result<Segmentation> Run(const cv::Mat& image, const InferFn& infer) const;

  // Foreground (and, with a seed channel, seed) probability maps at the original size, the
  // model-facing half of Run. Tiles are stitched with the same centre-cut rule for every map.
  Result<ProbabilityMaps> Maps(const cv::Mat& image, const InferFn& infer) const;
  // The foreground map of Maps.
  Result<cv::Mat> Probability(const cv::Mat& image, const InferFn& infer) const;

 private:
  ModelRecipe recipe_;
};

}  // namespace orbit::vision
