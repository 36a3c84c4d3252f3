// ModelRecipe: what `orbit.yaml` says about a model — its tensors and the pre/post-processing
// that must match training exactly. Parsed and validated once at load time so that every later
// stage can trust it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tensor/tensor.h"

namespace orbit::vision {

// One declared model input or output (shape uses -1 for dynamic dimensions).
struct TensorSpec {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
};

enum class ColorMode { kGray, kRgb, kBgr };
enum class NormalizeMethod { kNone, kScale, kMeanStd, kPercentile };

// How an image becomes the model's input tensor.
struct PreprocessRecipe {
  ColorMode color = ColorMode::kGray;
  // Resize to exactly this size (width, height) before anything else; none when unset.
  std::optional<std::pair<int, int>> resize;
  // Pad bottom/right with reflect-101 up to a multiple of this (1 = no padding).
  int pad_to_multiple = 1;
  NormalizeMethod normalize = NormalizeMethod::kPercentile;
  // kScale: x * scale. kMeanStd: (x * scale - mean[c]) / std[c]. kPercentile: (x - p_low) /
  // max(p_high - p_low, 1e-6) over all pixels of the unpadded image, numpy 'linear' percentiles.
  double scale = 1.0;
  std::vector<double> mean;
  std::vector<double> std;
  double percentile_low = 1.0;
  double percentile_high = 99.8;
  DType dtype = DType::kFloat32;  // input dtype the model expects (FP32 only for now)
  bool channels_first = true;     // NCHW when true, NHWC otherwise
};

enum class Activation { kNone, kSigmoid, kSoftmax };
enum class InstanceMethod { kNone, kConnectedComponents, kWatershed };

// How the model's output becomes masks, instances and measurements. orbit.yaml:
//
//   postprocess:
//     activation: sigmoid      # none | sigmoid | softmax
//     threshold: 0.5           # foreground = activation(channel) > threshold
//     foreground_channel: 0    # sigmoid/none only: the channel holding the foreground score
//     background_class: 0      # softmax only
//     min_object_area: 0
//     fill_holes: true
//     instances:
//       method: watershed      # none | connected_components | watershed
//       min_distance: 4        # seed spacing when seeds come from the distance transform
//       seed_channel: 1        # optional (watershed, sigmoid/none): seeds from this channel
//       seed_threshold: 0.5    # only with seed_channel
//       min_seed_area: 3       # only with seed_channel
//     tile: {size: 512, overlap: 64}
struct PostprocessRecipe {
  Activation activation = Activation::kSigmoid;
  // Sigmoid/none: foreground = p > threshold. Softmax: foreground = argmax != background_class.
  double threshold = 0.5;
  // Sigmoid/none: the output channel holding the foreground score.
  int foreground_channel = 0;
  int background_class = 0;
  int min_object_area = 0;  // pixels; smaller connected components are removed
  bool fill_holes = true;
  InstanceMethod instances = InstanceMethod::kWatershed;
  int min_distance = 4;  // min distance between distance-transform watershed seeds, pixels
  // Watershed seeds predicted by the model (e.g. cell cores): the 8-connected components of
  // activation(seed_channel) > seed_threshold inside the foreground mask, those smaller than
  // min_seed_area pixels ignored; the flood then follows that channel's probability. Unset:
  // seeds are distance-transform maxima (min_distance) and the flood follows the distance.
  std::optional<int> seed_channel;
  double seed_threshold = 0.5;
  int min_seed_area = 3;
};

// Tiled inference for images larger than `size` in either dimension.
struct TileRecipe {
  int size = 512;    // tile edge, pixels (multiple of pad_to_multiple)
  int overlap = 64;  // pixels shared by neighbouring tiles
};

// The numeric precision the model file computes in. Informational for loading (the model is a
// normal ONNX file either way); `orbit optimize` writes it so reports and serving can show which
// variant of a model is running.
enum class Precision { kFp32, kFp16, kInt8 };
// "fp32", "fp16", "int8".
std::string_view PrecisionName(Precision precision);

struct ModelRecipe {
  std::string name;
  std::string description;
  Precision precision = Precision::kFp32;  // orbit.yaml `precision:` (fp32 | fp16 | int8)
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  PreprocessRecipe preprocess;
  PostprocessRecipe postprocess;
  TileRecipe tile;
};

// Parses orbit.yaml text; `source` names the file in error messages. Every field is validated
// (unknown keys are errors, so a typo never silently falls back to a default).
Result<ModelRecipe> ParseModelRecipe(std::string_view yaml_text, std::string_view source);
Result<ModelRecipe> LoadModelRecipe(const std::filesystem::path& orbit_yaml);

}  // namespace orbit::vision
