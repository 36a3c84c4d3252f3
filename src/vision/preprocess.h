// Pre-processing: image → model input tensor, exactly as in training (see recipe.h for the
// definitions). The recipe is the single source of truth shared with the Python training code.
#pragma once

#include <opencv2/core.hpp>

#include "core/status.h"
#include "tensor/tensor.h"
#include "vision/recipe.h"

namespace orbit::vision {

// Channel conversion + resize + normalisation, unpadded: CV_32FC(c) with c = 1 (gray) or 3.
Result<cv::Mat> NormalizeImage(const cv::Mat& image, const PreprocessRecipe& recipe);

// numpy-compatible 'linear' percentile (0..100) over all pixels/channels of `image`.
double Percentile(const cv::Mat& image, double percent);

// A normalised image (from NormalizeImage) padded to the recipe's multiple and laid out as a
// [1, C, H, W] (or [1, H, W, C]) FP32 tensor.
struct PreparedInput {
  Tensor tensor;
  int width = 0, height = 0;                // before padding (after resize)
  int padded_width = 0, padded_height = 0;  // tensor's spatial size
};
Result<PreparedInput> PrepareInput(const cv::Mat& image, const PreprocessRecipe& recipe);
Result<PreparedInput> PrepareNormalized(const cv::Mat& normalized, const PreprocessRecipe& recipe);

}  // namespace orbit::vision
