// Calibration inputs for INT8: the calibration images decoded and pre-processed exactly as the
// model package will pre-process them in production (its orbit.yaml recipe), so the activation
// ranges Calibrate() measures are the ones the quantised model will see.
#pragma once

#include <filesystem>
#include <vector>

#include "core/status.h"
#include "tensor/tensor.h"
#include "vision/recipe.h"

namespace orbit::optimize {

// Bounds on what calibration feeds the model, so a folder of large images stays fast to run.
struct CalibrationInputOptions {
  // Images larger than this (after the recipe's resize) are cut into a grid of tiles of at most
  // this edge; must be a multiple of the recipe's pad_to_multiple.
  int max_side = 512;
  int max_tiles_per_image = 4;  // evenly spread over the grid when there are more
};

// One [1, C, H, W] (or NHWC) FP32 tensor per tile, H and W padded to the recipe's multiple.
// Each image is normalised as a whole first (percentiles never depend on the tiling).
// InvalidArgument when `images` is empty, or when any image fails to decode or pre-process: the
// message lists every failing file with its reason (a careful user wants to know, not a
// silently smaller calibration set).
Result<std::vector<Tensor>> PrepareCalibrationInputs(
    const std::vector<std::filesystem::path>& images, const vision::PreprocessRecipe& recipe,
    const CalibrationInputOptions& options = {});

}  // namespace orbit::optimize
