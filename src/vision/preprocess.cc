#include "vision/preprocess.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <utility>
#include <vector>

namespace orbit::vision {
namespace {

int RecipeChannels(const PreprocessRecipe& recipe) {
  return recipe.color == ColorMode::kGray ? 1 : 3;
}

// numpy's rank arithmetic for method='linear': virtual index (n - 1) * q, neighbours
// floor(index) and floor(index) + 1, both clamped to the last element.
struct Rank {
  std::size_t below = 0, above = 0;
  double gamma = 0;
};

Rank LinearRank(std::size_t n, double percent) {
  const double q = std::clamp(percent, 0.0, 100.0) / 100;
  const double index = static_cast<double>(n - 1) * q;
  Rank rank;
  if (index >= static_cast<double>(n - 1)) {
    rank.below = rank.above = n - 1;
    return rank;
  }
  const double below = std::floor(index);
  rank.below = static_cast<std::size_t>(below);
  rank.above = rank.below + 1;
  rank.gamma = index - below;
  return rank;
}

// numpy's _lerp: b - a is computed in the array's own type (float32 stays float32), the rest in
// float64, and the formula switches ends at gamma 0.5 for accuracy.
template <typename T>
double Lerp(T a, T b, double gamma) {
  const double diff = static_cast<double>(static_cast<T>(b - a));
  if (gamma >= 0.5) return static_cast<double>(b) - diff * (1 - gamma);
  return static_cast<double>(a) + diff * gamma;
}

// Exact for 8/16-bit data: the k-th smallest values read from one histogram.
template <typename T>
std::pair<double, double> HistogramPercentiles(const cv::Mat& image, double first, double second) {
  std::vector<std::size_t> counts(std::size_t{1} << (8 * sizeof(T)), 0);
  const int row_elements = image.cols * image.channels();
  for (int y = 0; y < image.rows; ++y) {
    const T* row = image.ptr<T>(y);
    for (int i = 0; i < row_elements; ++i) ++counts[row[i]];
  }
  const std::size_t n = image.total() * image.channels();
  auto value_at = [&](std::size_t k) {
    std::size_t seen = 0;
    for (std::size_t value = 0; value < counts.size(); ++value) {
      seen += counts[value];
      if (seen > k) return static_cast<T>(value);
    }
    return static_cast<T>(counts.size() - 1);
  };
  auto percentile = [&](double percent) {
    const Rank rank = LinearRank(n, percent);
    return Lerp<T>(value_at(rank.below), value_at(rank.above), rank.gamma);
  };
  return {percentile(first), percentile(second)};
}

template <typename T>
double SelectionPercentile(const cv::Mat& image, double percent) {
  std::vector<T> values;
  values.reserve(image.total() * image.channels());
  const int row_elements = image.cols * image.channels();
  for (int y = 0; y < image.rows; ++y) {
    const T* row = image.ptr<T>(y);
    values.insert(values.end(), row, row + row_elements);
  }
  const Rank rank = LinearRank(values.size(), percent);
  const auto below = values.begin() + static_cast<std::ptrdiff_t>(rank.below);
  std::nth_element(values.begin(), below, values.end());
  T above_value = *below;
  if (rank.above != rank.below) above_value = *std::min_element(below + 1, values.end());
  return Lerp<T>(*below, above_value, rank.gamma);
}

// out = f(float(in), channel) over every element; `in` is 8U/16U/32F, `out` CV_32F, same size.
template <typename T, typename F>
void MapToFloat(const cv::Mat& in, cv::Mat& out, F f) {
  const int channels = in.channels();
  for (int y = 0; y < in.rows; ++y) {
    const T* src = in.ptr<T>(y);
    float* dst = out.ptr<float>(y);
    if (channels == 1) {
      for (int x = 0; x < in.cols; ++x) dst[x] = f(static_cast<float>(src[x]), 0);
    } else {
      for (int x = 0; x < in.cols; ++x) {
        for (int c = 0; c < channels; ++c) {
          dst[x * channels + c] = f(static_cast<float>(src[x * channels + c]), c);
        }
      }
    }
  }
}

template <typename F>
void MapAnyToFloat(const cv::Mat& in, cv::Mat& out, F f) {
  switch (in.depth()) {
    case CV_8U:
      MapToFloat<std::uint8_t>(in, out, f);
      break;
    case CV_16U:
      MapToFloat<std::uint16_t>(in, out, f);
      break;
    default:
      MapToFloat<float>(in, out, f);
      break;
  }
}

// Two percentiles of the same image (one histogram pass for integer images).
std::pair<double, double> Percentiles(const cv::Mat& image, double first, double second) {
  if (image.empty()) return {std::nan(""), std::nan("")};
  switch (image.depth()) {
    case CV_8U:
      return HistogramPercentiles<std::uint8_t>(image, first, second);
    case CV_16U:
      return HistogramPercentiles<std::uint16_t>(image, first, second);
    case CV_32F:
      return {SelectionPercentile<float>(image, first), SelectionPercentile<float>(image, second)};
    case CV_64F:
      return {SelectionPercentile<double>(image, first),
              SelectionPercentile<double>(image, second)};
    default: {
      cv::Mat wide;
      image.convertTo(wide, CV_64F);
      return {SelectionPercentile<double>(wide, first), SelectionPercentile<double>(wide, second)};
    }
  }
}

Result<cv::Mat> NormalizeImageUnchecked(const cv::Mat& image, const PreprocessRecipe& recipe) {
  if (image.empty()) return InvalidArgumentError("cannot pre-process an empty image");
  const int in_channels = image.channels();
  if (in_channels != 1 && in_channels != 3) {
    return InvalidArgumentError("cannot pre-process an image with " + std::to_string(in_channels) +
                                " channels (expected 1 or 3)");
  }
  // Every step writes a new Mat: `x` starts as a view of the caller's pixels, which an
  // in-place OpenCV call would overwrite.
  cv::Mat x = image;
  auto to_float = [&x] {
    if (x.depth() == CV_32F) return;
    cv::Mat converted;
    x.convertTo(converted, CV_32F);
    x = converted;
  };
  if (x.depth() != CV_8U && x.depth() != CV_16U) to_float();
  // Channel conversion. Replicating and swapping are exact on integers, so those stay integer
  // (and keep the fast histogram percentile); weighted gray conversion happens in float.
  const int channels = RecipeChannels(recipe);
  int conversion = -1;
  if (in_channels == 1 && channels == 3) {
    conversion = cv::COLOR_GRAY2BGR;
  } else if (in_channels == 3 && channels == 1) {
    to_float();
    conversion = cv::COLOR_BGR2GRAY;
  } else if (in_channels == 3 && recipe.color == ColorMode::kRgb) {
    conversion = cv::COLOR_BGR2RGB;
  }
  if (conversion >= 0) {
    cv::Mat converted;
    cv::cvtColor(x, converted, conversion);
    x = converted;
  }
  if (recipe.resize) {
    const cv::Size size(recipe.resize->first, recipe.resize->second);
    if (size.width < 1 || size.height < 1) {
      return InvalidArgumentError("pre-processing resize target must be at least 1 x 1");
    }
    if (x.size() != size) {
      to_float();
      cv::Mat resized;
      cv::resize(x, resized, size, 0, 0, cv::INTER_LINEAR);
      x = resized;
    }
  }

  cv::Mat out(x.size(), CV_32FC(channels));
  switch (recipe.normalize) {
    case NormalizeMethod::kNone:
      MapAnyToFloat(x, out, [](float v, int) { return v; });
      break;
    case NormalizeMethod::kScale: {
      const float scale = static_cast<float>(recipe.scale);
      MapAnyToFloat(x, out, [scale](float v, int) { return v * scale; });
      break;
    }
    case NormalizeMethod::kMeanStd: {
      if (static_cast<int>(recipe.mean.size()) != channels ||
          static_cast<int>(recipe.std.size()) != channels) {
        return InvalidArgumentError("mean_std normalisation needs " + std::to_string(channels) +
                                    " mean and std values");
      }
      const float scale = static_cast<float>(recipe.scale);
      std::array<float, 3> mean{}, std{};
      for (int c = 0; c < channels; ++c) {
        mean[c] = static_cast<float>(recipe.mean[c]);
        std[c] = static_cast<float>(recipe.std[c]);
      }
      MapAnyToFloat(x, out, [&](float v, int c) { return (v * scale - mean[c]) / std[c]; });
      break;
    }
    case NormalizeMethod::kPercentile: {
      // Same arithmetic as the training code: lo and hi rounded to float32, the divisor
      // float32(max(float(hi - lo), 1e-6)), then (x - lo) / divisor in float32, no clipping.
      const auto [lo_value, hi_value] =
          Percentiles(x, recipe.percentile_low, recipe.percentile_high);
      const float lo = static_cast<float>(lo_value);
      const float hi = static_cast<float>(hi_value);
      const float divisor = static_cast<float>(std::max(static_cast<double>(hi - lo), 1e-6));
      MapAnyToFloat(x, out, [lo, divisor](float v, int) { return (v - lo) / divisor; });
      break;
    }
  }
  return out;
}

}  // namespace

double Percentile(const cv::Mat& image, double percent) {
  return Percentiles(image, percent, percent).first;
}

Result<cv::Mat> NormalizeImage(const cv::Mat& image, const PreprocessRecipe& recipe) {
  try {
    return NormalizeImageUnchecked(image, recipe);
  } catch (const cv::Exception& e) {
    return InvalidArgumentError(std::string("pre-processing failed: ") + e.what());
  }
}

Result<PreparedInput> PrepareNormalized(const cv::Mat& normalized, const PreprocessRecipe& recipe) {
  const int channels = RecipeChannels(recipe);
  if (normalized.empty() || normalized.type() != CV_32FC(channels)) {
    return InvalidArgumentError(
        "expected a normalised float image with " + std::to_string(channels) +
        " channel(s), got type " + std::to_string(normalized.type()) + " of size " +
        std::to_string(normalized.cols) + " x " + std::to_string(normalized.rows));
  }
  if (recipe.dtype != DType::kFloat32) {
    return UnimplementedError("model input datatype " + std::string(DTypeName(recipe.dtype)) +
                              " is not supported (pre-processing produces FP32)");
  }
  const int multiple = std::max(recipe.pad_to_multiple, 1);
  PreparedInput prepared;
  prepared.width = normalized.cols;
  prepared.height = normalized.rows;
  prepared.padded_width = (normalized.cols + multiple - 1) / multiple * multiple;
  prepared.padded_height = (normalized.rows + multiple - 1) / multiple * multiple;
  const int pad_bottom = prepared.padded_height - prepared.height;
  const int pad_right = prepared.padded_width - prepared.width;
  const Shape shape = recipe.channels_first
                          ? Shape{1, channels, prepared.padded_height, prepared.padded_width}
                          : Shape{1, prepared.padded_height, prepared.padded_width, channels};
  ORBIT_ASSIGN_OR_RETURN(prepared.tensor, Tensor::Zeros(DType::kFloat32, shape));
  float* data = prepared.tensor.data<float>().data();
  try {
    // Reflect-101 (numpy's 'reflect') repeats periodically when the pad exceeds the image, and
    // a 1-pixel dimension is replicated; OpenCV's border interpolation does both.
    if (channels == 1 || !recipe.channels_first) {
      // The tensor's memory is already H × W × C: pad straight into it.
      cv::Mat target(prepared.padded_height, prepared.padded_width, CV_32FC(channels), data);
      cv::copyMakeBorder(normalized, target, 0, pad_bottom, 0, pad_right, cv::BORDER_REFLECT_101);
      if (target.ptr<float>() != data) return InternalError("padding reallocated its target");
    } else {
      cv::Mat padded;
      cv::copyMakeBorder(normalized, padded, 0, pad_bottom, 0, pad_right, cv::BORDER_REFLECT_101);
      const std::size_t plane = static_cast<std::size_t>(prepared.padded_height) *
                                static_cast<std::size_t>(prepared.padded_width);
      std::vector<cv::Mat> planes;
      for (int c = 0; c < channels; ++c) {
        planes.emplace_back(prepared.padded_height, prepared.padded_width, CV_32FC1,
                            data + c * plane);
      }
      cv::split(padded, planes);
      for (int c = 0; c < channels; ++c) {
        if (planes[c].ptr<float>() != data + c * plane) {
          return InternalError("channel split reallocated its target");
        }
      }
    }
  } catch (const cv::Exception& e) {
    return InvalidArgumentError(std::string("padding the input failed: ") + e.what());
  }
  return prepared;
}

Result<PreparedInput> PrepareInput(const cv::Mat& image, const PreprocessRecipe& recipe) {
  ORBIT_ASSIGN_OR_RETURN(const cv::Mat normalized, NormalizeImage(image, recipe));
  return PrepareNormalized(normalized, recipe);
}

}  // namespace orbit::vision
