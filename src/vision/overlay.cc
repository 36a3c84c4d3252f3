#include "vision/overlay.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <opencv2/imgproc.hpp>

namespace orbit::vision {
namespace {

// The image reduced to 1 channel (1- and 2-channel input: the first) or 3 (BGR; a 4th channel
// such as alpha is dropped), in its own depth.
cv::Mat DisplayChannels(const cv::Mat& image) {
  if (image.channels() == 1 || image.channels() == 3) return image;
  if (image.channels() == 2) {
    cv::Mat first;
    cv::extractChannel(image, first, 0);
    return first;
  }
  std::vector<cv::Mat> planes;
  cv::split(image, planes);
  planes.resize(3);
  cv::Mat bgr;
  cv::merge(planes, bgr);
  return bgr;
}

// numpy-style 'linear' percentiles (0..100) of every finite value of every channel.
std::pair<double, double> PercentileRange(const cv::Mat& image, double low, double high) {
  const cv::Mat flat = image.isContinuous() ? image.reshape(1, 1) : image.clone().reshape(1, 1);
  const auto n = static_cast<std::size_t>(flat.total());
  // Order statistic k (0-based) and its successor, for interpolation.
  std::vector<double> sorted_values;
  std::vector<std::size_t> histogram;
  if (flat.depth() == CV_8U || flat.depth() == CV_16U) {
    histogram.assign(flat.depth() == CV_8U ? 256 : 65536, 0);
    if (flat.depth() == CV_8U) {
      for (std::size_t i = 0; i < n; ++i) ++histogram[flat.ptr<std::uint8_t>()[i]];
    } else {
      for (std::size_t i = 0; i < n; ++i) ++histogram[flat.ptr<std::uint16_t>()[i]];
    }
  } else {
    cv::Mat values;
    flat.convertTo(values, CV_64F);
    sorted_values.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const double v = values.ptr<double>()[i];
      if (std::isfinite(v)) sorted_values.push_back(v);
    }
    std::sort(sorted_values.begin(), sorted_values.end());
  }
  const std::size_t count = histogram.empty() ? sorted_values.size() : n;
  if (count == 0) return {0.0, 1.0};

  auto kth = [&](std::size_t k) -> double {
    if (histogram.empty()) return sorted_values[k];
    std::size_t seen = 0;
    for (std::size_t value = 0; value < histogram.size(); ++value) {
      seen += histogram[value];
      if (seen > k) return static_cast<double>(value);
    }
    return static_cast<double>(histogram.size() - 1);
  };
  auto percentile = [&](double percent) {
    const double rank = percent / 100.0 * static_cast<double>(count - 1);
    const auto below = static_cast<std::size_t>(std::floor(rank));
    const std::size_t above = std::min(below + 1, count - 1);
    const double fraction = rank - static_cast<double>(below);
    const double a = kth(below), b = kth(above);
    return a + (b - a) * fraction;
  };
  return {percentile(low), percentile(high)};
}

// Colour of object `label`: hues spaced by the golden ratio, so neighbouring labels differ.
cv::Vec3b LabelColour(std::int32_t label) {
  constexpr double kGoldenRatioConjugate = 0.618033988749895;
  const double hue = std::fmod(static_cast<double>(label) * kGoldenRatioConjugate, 1.0) * 6.0;
  constexpr double kSaturation = 0.8, kValue = 1.0;
  const int sector = static_cast<int>(hue) % 6;
  const double f = hue - std::floor(hue);
  const double p = kValue * (1 - kSaturation), q = kValue * (1 - kSaturation * f),
               t = kValue * (1 - kSaturation * (1 - f));
  double r = 0, g = 0, b = 0;
  switch (sector) {
    case 0:
      r = kValue, g = t, b = p;
      break;
    case 1:
      r = q, g = kValue, b = p;
      break;
    case 2:
      r = p, g = kValue, b = t;
      break;
    case 3:
      r = p, g = q, b = kValue;
      break;
    case 4:
      r = t, g = p, b = kValue;
      break;
    default:
      r = kValue, g = p, b = q;
      break;
  }
  return {cv::saturate_cast<std::uint8_t>(b * 255), cv::saturate_cast<std::uint8_t>(g * 255),
          cv::saturate_cast<std::uint8_t>(r * 255)};
}

}  // namespace

cv::Mat RenderOverlay(const cv::Mat& image, const cv::Mat& labels, double alpha) {
  if (image.empty()) return cv::Mat();
  const cv::Mat display = DisplayChannels(image);

  auto [low, high] = PercentileRange(display, 1.0, 99.0);
  if (!(high > low)) high = low + 1;  // a flat image maps to black rather than dividing by 0
  const double scale = 255.0 / (high - low);
  cv::Mat stretched;
  display.convertTo(stretched, CV_8U, scale, -low * scale);
  cv::Mat out;
  if (stretched.channels() == 1) {
    cv::cvtColor(stretched, out, cv::COLOR_GRAY2BGR);
  } else {
    out = stretched;
  }

  // Labels of another size cannot be placed on the image: the plain stretched image is returned.
  if (labels.empty() || labels.size() != image.size()) return out;
  cv::Mat labels32 = labels;
  if (labels.channels() > 1) cv::extractChannel(labels, labels32, 0);
  if (labels32.depth() != CV_32S) labels32.convertTo(labels32, CV_32S);

  alpha = std::clamp(alpha, 0.0, 1.0);
  const int rows = labels32.rows, cols = labels32.cols;
  std::int32_t last_label = 0;
  cv::Vec3b colour;
  for (int y = 0; y < rows; ++y) {
    const auto* row = labels32.ptr<std::int32_t>(y);
    const auto* above = y > 0 ? labels32.ptr<std::int32_t>(y - 1) : nullptr;
    const auto* below = y + 1 < rows ? labels32.ptr<std::int32_t>(y + 1) : nullptr;
    auto* pixel = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < cols; ++x) {
      const std::int32_t label = row[x];
      if (label <= 0) continue;
      if (label != last_label) {
        colour = LabelColour(label);
        last_label = label;
      }
      // A contour pixel has a 4-neighbour outside the object (or outside the image), which
      // makes a closed 1-pixel, 8-connected outline.
      const bool on_contour = x == 0 || x + 1 == cols || above == nullptr || below == nullptr ||
                              row[x - 1] != label || row[x + 1] != label || above[x] != label ||
                              below[x] != label;
      if (on_contour) {
        pixel[x] = colour;
        continue;
      }
      for (int c = 0; c < 3; ++c) {
        pixel[x][c] =
            cv::saturate_cast<std::uint8_t>((1.0 - alpha) * pixel[x][c] + alpha * colour[c]);
      }
    }
  }
  return out;
}

}  // namespace orbit::vision
