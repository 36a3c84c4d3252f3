#include "vision/metrics.h"

#include <cassert>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace orbit::vision {
namespace {

constexpr int kThresholdCount = 10;  // 0.50, 0.55, ..., 0.95
// Threshold k is kThresholdPercent[k] / 100; kept as integers so that "IoU > t" is decided
// exactly (inter * 100 > percent * union) even when the IoU equals t as a fraction.
constexpr std::int64_t kThresholdPercent[kThresholdCount] = {50, 55, 60, 65, 70,
                                                             75, 80, 85, 90, 95};
constexpr int kMatchThresholdIndex = 0;  // ObjectCounts and precision/recall/F1 use IoU > 0.5

// numerator / denominator, with 0 / 0 scored as 1 when `nothing_to_find` (no prediction and no
// truth at all) and 0 otherwise. See metrics.h.
double Ratio(double numerator, double denominator, bool nothing_to_find) {
  if (denominator == 0) return nothing_to_find ? 1.0 : 0.0;
  return numerator / denominator;
}

bool IsIntegerLabelType(int type) {
  switch (type) {
    case CV_8UC1:
    case CV_8SC1:
    case CV_16UC1:
    case CV_16SC1:
    case CV_32SC1:
      return true;
    default:
      return false;
  }
}

cv::Mat ToInt32(const cv::Mat& labels) {
  if (labels.type() == CV_32SC1) return labels;
  cv::Mat converted;
  labels.convertTo(converted, CV_32S);
  return converted;
}

void ScoreObjects(int tp, int predicted_objects, int true_objects, ObjectCounts& counts,
                  double& precision, double& recall, double& f1) {
  counts.true_positives = tp;
  counts.false_positives = predicted_objects - tp;
  counts.false_negatives = true_objects - tp;
  const bool nothing = predicted_objects == 0 && true_objects == 0;
  precision = Ratio(tp, tp + counts.false_positives, nothing);
  recall = Ratio(tp, tp + counts.false_negatives, nothing);
  f1 = Ratio(2.0 * tp, 2.0 * tp + counts.false_positives + counts.false_negatives, nothing);
}

}  // namespace

ImageMetrics ComputeImageMetrics(const cv::Mat& predicted, const cv::Mat& truth) {
  if (predicted.size() != truth.size()) {  // a caller's bug; never read past either map
    assert(false && "ComputeImageMetrics: label maps differ in size");
    return ImageMetrics();
  }
  const cv::Mat pred32 = ToInt32(predicted), true32 = ToInt32(truth);

  // One pass: object areas and the sparse contingency table of overlapping (pred, true) pairs.
  std::unordered_map<std::int32_t, std::int64_t> pred_area, true_area;
  std::unordered_map<std::uint64_t, std::int64_t> overlap;
  ImageMetrics metrics;
  PixelCounts& pixels = metrics.pixels;
  for (int y = 0; y < pred32.rows; ++y) {
    const auto* p_row = pred32.ptr<std::int32_t>(y);
    const auto* t_row = true32.ptr<std::int32_t>(y);
    // Labels come in runs, so remember the last counter of each kind instead of hashing every
    // pixel.
    std::int32_t last_p = 0, last_t = 0;
    std::uint64_t last_pair = 0;
    std::int64_t *p_count = nullptr, *t_count = nullptr, *pair_count = nullptr;
    for (int x = 0; x < pred32.cols; ++x) {
      const std::int32_t p = p_row[x], t = t_row[x];
      if (p > 0) {
        ++pixels.predicted;
        if (p_count == nullptr || p != last_p) {
          p_count = &pred_area[p];
          last_p = p;
        }
        ++*p_count;
      }
      if (t > 0) {
        ++pixels.truth;
        if (t_count == nullptr || t != last_t) {
          t_count = &true_area[t];
          last_t = t;
        }
        ++*t_count;
      }
      if (p > 0 && t > 0) {
        ++pixels.intersection;
        const std::uint64_t pair =
            (static_cast<std::uint64_t>(p) << 32) | static_cast<std::uint32_t>(t);
        if (pair_count == nullptr || pair != last_pair) {
          pair_count = &overlap[pair];
          last_pair = pair;
        }
        ++*pair_count;
      }
    }
  }

  const bool no_foreground = pixels.predicted == 0 && pixels.truth == 0;
  const auto union_pixels =
      static_cast<double>(pixels.predicted + pixels.truth - pixels.intersection);
  metrics.iou = Ratio(static_cast<double>(pixels.intersection), union_pixels, no_foreground);
  metrics.dice = Ratio(2.0 * static_cast<double>(pixels.intersection),
                       static_cast<double>(pixels.predicted + pixels.truth), no_foreground);

  // Matches at IoU > t are unique for t >= 0.5 (see metrics.h), so TP(t) is a count of pairs.
  int tp[kThresholdCount] = {};
  for (const auto& [pair, intersection] : overlap) {
    const auto p = static_cast<std::int32_t>(pair >> 32);
    const auto t = static_cast<std::int32_t>(pair & 0xffffffffu);
    const std::int64_t union_area = pred_area[p] + true_area[t] - intersection;
    for (int k = 0; k < kThresholdCount; ++k) {
      if (intersection * 100 > kThresholdPercent[k] * union_area) ++tp[k];
    }
  }

  const auto predicted_objects = static_cast<int>(pred_area.size());
  const auto true_objects = static_cast<int>(true_area.size());
  const bool no_objects = predicted_objects == 0 && true_objects == 0;
  ScoreObjects(tp[kMatchThresholdIndex], predicted_objects, true_objects, metrics.objects,
               metrics.precision, metrics.recall, metrics.f1);
  metrics.ap_per_threshold.resize(kThresholdCount);
  double ap_sum = 0;
  for (int k = 0; k < kThresholdCount; ++k) {
    // TP + FP + FN = predicted + true - TP.
    const int denominator = predicted_objects + true_objects - tp[k];
    metrics.ap_per_threshold[static_cast<std::size_t>(k)] = Ratio(tp[k], denominator, no_objects);
    ap_sum += metrics.ap_per_threshold[static_cast<std::size_t>(k)];
  }
  metrics.average_precision = ap_sum / kThresholdCount;
  return metrics;
}

Result<ImageMetrics> ComputeImageMetricsChecked(const cv::Mat& predicted, const cv::Mat& truth) {
  if (!IsIntegerLabelType(predicted.type())) {
    return InvalidArgumentError(
        "predicted labels: expected a single-channel integer label map, "
        "got " +
        cv::typeToString(predicted.type()));
  }
  if (!IsIntegerLabelType(truth.type())) {
    return InvalidArgumentError("true labels: expected a single-channel integer label map, got " +
                                cv::typeToString(truth.type()));
  }
  if (predicted.size() != truth.size()) {
    return InvalidArgumentError("predicted labels " + std::to_string(predicted.cols) + "x" +
                                std::to_string(predicted.rows) + " do not match true labels " +
                                std::to_string(truth.cols) + "x" + std::to_string(truth.rows));
  }
  return ComputeImageMetrics(predicted, truth);
}

AggregateMetrics AggregateImageMetrics(const std::vector<ImageMetrics>& images) {
  AggregateMetrics aggregate;
  aggregate.image_count = static_cast<int>(images.size());
  if (images.empty()) return aggregate;

  PixelCounts pixels;
  int tp = 0, predicted_objects = 0, true_objects = 0;
  double iou_sum = 0, ap_sum = 0;
  aggregate.ap_per_threshold.assign(kThresholdCount, 0.0);
  for (const ImageMetrics& image : images) {
    pixels.intersection += image.pixels.intersection;
    pixels.predicted += image.pixels.predicted;
    pixels.truth += image.pixels.truth;
    tp += image.objects.true_positives;
    predicted_objects += image.objects.true_positives + image.objects.false_positives;
    true_objects += image.objects.true_positives + image.objects.false_negatives;
    iou_sum += image.iou;
    ap_sum += image.average_precision;
    for (std::size_t k = 0; k < aggregate.ap_per_threshold.size(); ++k) {
      if (k < image.ap_per_threshold.size())
        aggregate.ap_per_threshold[k] += image.ap_per_threshold[k];
    }
  }
  const auto n = static_cast<double>(images.size());
  const bool no_foreground = pixels.predicted == 0 && pixels.truth == 0;
  aggregate.iou = Ratio(static_cast<double>(pixels.intersection),
                        static_cast<double>(pixels.predicted + pixels.truth - pixels.intersection),
                        no_foreground);
  aggregate.dice = Ratio(2.0 * static_cast<double>(pixels.intersection),
                         static_cast<double>(pixels.predicted + pixels.truth), no_foreground);
  aggregate.mean_image_iou = iou_sum / n;
  ScoreObjects(tp, predicted_objects, true_objects, aggregate.objects, aggregate.precision,
               aggregate.recall, aggregate.f1);
  aggregate.average_precision = ap_sum / n;
  for (double& ap : aggregate.ap_per_threshold) ap /= n;
  return aggregate;
}

}  // namespace orbit::vision
