#include "vision/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

namespace orbit::vision {
namespace {

cv::Mat Labels(int rows, int cols) { return cv::Mat::zeros(rows, cols, CV_32S); }

void Fill(cv::Mat& labels, cv::Rect box, int label) { labels(box).setTo(label); }

void ExpectAllAp(const ImageMetrics& m, double value) {
  ASSERT_EQ(m.ap_per_threshold.size(), 10u);
  for (double ap : m.ap_per_threshold) EXPECT_DOUBLE_EQ(ap, value);
  EXPECT_DOUBLE_EQ(m.average_precision, value);
}

TEST(MetricsTest, IdenticalMasksScorePerfectly) {
  cv::Mat labels = Labels(16, 16);
  Fill(labels, {1, 1, 4, 4}, 1);
  Fill(labels, {8, 8, 5, 3}, 2);
  ImageMetrics m = ComputeImageMetrics(labels, labels);
  EXPECT_EQ(m.pixels.intersection, 31);
  EXPECT_EQ(m.pixels.predicted, 31);
  EXPECT_EQ(m.pixels.truth, 31);
  EXPECT_DOUBLE_EQ(m.iou, 1.0);
  EXPECT_DOUBLE_EQ(m.dice, 1.0);
  EXPECT_EQ(m.objects.true_positives, 2);
  EXPECT_EQ(m.objects.false_positives, 0);
  EXPECT_EQ(m.objects.false_negatives, 0);
  EXPECT_DOUBLE_EQ(m.precision, 1.0);
  EXPECT_DOUBLE_EQ(m.recall, 1.0);
  EXPECT_DOUBLE_EQ(m.f1, 1.0);
  ExpectAllAp(m, 1.0);
}

TEST(MetricsTest, DisjointMasksScoreZero) {
  cv::Mat predicted = Labels(16, 16), truth = Labels(16, 16);
  Fill(predicted, {0, 0, 4, 4}, 1);
  Fill(truth, {8, 8, 4, 4}, 1);
  ImageMetrics m = ComputeImageMetrics(predicted, truth);
  EXPECT_EQ(m.pixels.intersection, 0);
  EXPECT_DOUBLE_EQ(m.iou, 0.0);
  EXPECT_DOUBLE_EQ(m.dice, 0.0);
  EXPECT_EQ(m.objects.true_positives, 0);
  EXPECT_EQ(m.objects.false_positives, 1);
  EXPECT_EQ(m.objects.false_negatives, 1);
  EXPECT_DOUBLE_EQ(m.precision, 0.0);
  EXPECT_DOUBLE_EQ(m.recall, 0.0);
  EXPECT_DOUBLE_EQ(m.f1, 0.0);
  ExpectAllAp(m, 0.0);
}

TEST(MetricsTest, ShiftedSquaresMatchOnlyBelowTheirIoU) {
  // Two 4×4 squares one pixel apart: overlap 12, union 20, IoU exactly 0.6.
  cv::Mat predicted = Labels(8, 8), truth = Labels(8, 8);
  Fill(predicted, {1, 1, 4, 4}, 1);
  Fill(truth, {2, 1, 4, 4}, 1);
  ImageMetrics m = ComputeImageMetrics(predicted, truth);
  EXPECT_DOUBLE_EQ(m.iou, 0.6);
  EXPECT_DOUBLE_EQ(m.dice, 24.0 / 32.0);
  EXPECT_EQ(m.objects.true_positives, 1);
  // Matched at 0.50 and 0.55; not at 0.60 (IoU must be strictly greater) or above.
  const std::vector<double> expected = {1, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(m.ap_per_threshold, expected);
  EXPECT_DOUBLE_EQ(m.average_precision, 0.2);
}

TEST(MetricsTest, CountsMissedObjectAndFalsePositive) {
  cv::Mat predicted = Labels(16, 16), truth = Labels(16, 16);
  Fill(truth, {0, 0, 4, 4}, 1);
  Fill(truth, {10, 0, 4, 4}, 2);  // missed
  Fill(predicted, {0, 0, 4, 4}, 5);
  Fill(predicted, {0, 10, 3, 3}, 9);  // false positive
  ImageMetrics m = ComputeImageMetrics(predicted, truth);
  EXPECT_EQ(m.objects.true_positives, 1);
  EXPECT_EQ(m.objects.false_positives, 1);
  EXPECT_EQ(m.objects.false_negatives, 1);
  EXPECT_DOUBLE_EQ(m.precision, 0.5);
  EXPECT_DOUBLE_EQ(m.recall, 0.5);
  EXPECT_DOUBLE_EQ(m.f1, 0.5);
  ExpectAllAp(m, 1.0 / 3.0);
  EXPECT_EQ(m.pixels.intersection, 16);
  EXPECT_EQ(m.pixels.predicted, 25);
  EXPECT_EQ(m.pixels.truth, 32);
  EXPECT_DOUBLE_EQ(m.iou, 16.0 / 41.0);
}

TEST(MetricsTest, ObjectSplitExactlyInHalfMatchesNothing) {
  // One 8×4 true object; the prediction splits it into two 4×4 halves of IoU exactly 0.5 each.
  cv::Mat predicted = Labels(8, 8), truth = Labels(8, 8);
  Fill(truth, {0, 0, 8, 4}, 1);
  Fill(predicted, {0, 0, 4, 4}, 1);
  Fill(predicted, {4, 0, 4, 4}, 2);
  ImageMetrics m = ComputeImageMetrics(predicted, truth);
  EXPECT_DOUBLE_EQ(m.iou, 1.0);
  EXPECT_EQ(m.objects.true_positives, 0);
  EXPECT_EQ(m.objects.false_positives, 2);
  EXPECT_EQ(m.objects.false_negatives, 1);
  ExpectAllAp(m, 0.0);
}

TEST(MetricsTest, UnevenSplitMatchesItsLargerPart) {
  // 32-px truth split 20 + 12: the larger part has IoU 20/32 = 0.625.
  cv::Mat predicted = Labels(8, 8), truth = Labels(8, 8);
  Fill(truth, {0, 0, 8, 4}, 1);
  Fill(predicted, {0, 0, 5, 4}, 1);
  Fill(predicted, {5, 0, 3, 4}, 2);
  ImageMetrics m = ComputeImageMetrics(predicted, truth);
  EXPECT_EQ(m.objects.true_positives, 1);
  EXPECT_EQ(m.objects.false_positives, 1);
  EXPECT_EQ(m.objects.false_negatives, 0);
  // TP=1, FP=1, FN=0 → 1/2 at 0.50, 0.55, 0.60; no match from 0.65 (0 / 3).
  const std::vector<double> expected = {0.5, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(m.ap_per_threshold, expected);
  EXPECT_DOUBLE_EQ(m.average_precision, 0.15);
}

TEST(MetricsTest, MergedObjectsMatchAtMostOnce) {
  // Two true objects (20 px and 12 px) predicted as one 32-px object: only the larger matches.
  cv::Mat predicted = Labels(8, 8), truth = Labels(8, 8);
  Fill(truth, {0, 0, 5, 4}, 1);
  Fill(truth, {5, 0, 3, 4}, 2);
  Fill(predicted, {0, 0, 8, 4}, 1);
  ImageMetrics m = ComputeImageMetrics(predicted, truth);
  EXPECT_EQ(m.objects.true_positives, 1);
  EXPECT_EQ(m.objects.false_positives, 0);
  EXPECT_EQ(m.objects.false_negatives, 1);
  EXPECT_DOUBLE_EQ(m.precision, 1.0);
  EXPECT_DOUBLE_EQ(m.recall, 0.5);
  EXPECT_DOUBLE_EQ(m.f1, 2.0 / 3.0);
}

TEST(MetricsTest, BothEmptyScoresOne) {
  ImageMetrics m = ComputeImageMetrics(Labels(8, 8), Labels(8, 8));
  EXPECT_DOUBLE_EQ(m.iou, 1.0);
  EXPECT_DOUBLE_EQ(m.dice, 1.0);
  EXPECT_EQ(m.objects.true_positives + m.objects.false_positives + m.objects.false_negatives, 0);
  EXPECT_DOUBLE_EQ(m.precision, 1.0);
  EXPECT_DOUBLE_EQ(m.recall, 1.0);
  EXPECT_DOUBLE_EQ(m.f1, 1.0);
  ExpectAllAp(m, 1.0);
}

TEST(MetricsTest, EmptyPredictionAgainstTruthScoresZero) {
  cv::Mat truth = Labels(8, 8);
  Fill(truth, {0, 0, 2, 2}, 1);
  ImageMetrics m = ComputeImageMetrics(Labels(8, 8), truth);
  EXPECT_DOUBLE_EQ(m.iou, 0.0);
  EXPECT_DOUBLE_EQ(m.dice, 0.0);
  EXPECT_EQ(m.objects.false_negatives, 1);
  EXPECT_DOUBLE_EQ(m.precision, 0.0);
  EXPECT_DOUBLE_EQ(m.recall, 0.0);
  EXPECT_DOUBLE_EQ(m.f1, 0.0);
  ExpectAllAp(m, 0.0);
}

TEST(MetricsTest, AcceptsAnyIntegerDepthAndSparseLabels) {
  cv::Mat predicted8 = cv::Mat::zeros(8, 8, CV_8U);
  predicted8(cv::Rect(0, 0, 4, 4)).setTo(200);
  cv::Mat truth16 = cv::Mat::zeros(8, 8, CV_16U);
  truth16(cv::Rect(0, 0, 4, 4)).setTo(60000);
  auto m = ComputeImageMetricsChecked(predicted8, truth16);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->objects.true_positives, 1);
  EXPECT_DOUBLE_EQ(m->average_precision, 1.0);
}

TEST(MetricsTest, CheckedRejectsMismatchedOrNonIntegerMaps) {
  auto r = ComputeImageMetricsChecked(Labels(8, 8), Labels(8, 9));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "predicted labels 8x8 do not match true labels 9x8");

  r = ComputeImageMetricsChecked(cv::Mat::zeros(8, 8, CV_32F), Labels(8, 8));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "predicted labels: expected a single-channel integer label map, got CV_32FC1");
  r = ComputeImageMetricsChecked(Labels(8, 8), cv::Mat::zeros(8, 8, CV_8UC3));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "true labels: expected a single-channel integer label map, got CV_8UC3");
}

// The reference numbers come from an independent numpy implementation run on the same pair
// (tests/vision/data/metrics_{predicted,truth}.png, 64×64 uint16, written with PIL): 8 true
// discs; the prediction shifts/rescales them, misses one, merges two and adds a false positive.
//   p, t = pred.ravel(), truth.ravel()
//   pairs, counts = np.unique(np.stack([p[(p>0)&(t>0)], t[(p>0)&(t>0)]]), axis=1,
//                             return_counts=True)
//   ious = [c / (area_p[a] + area_t[b] - c) for (a, b), c in zip(pairs.T, counts)]
//   tp(th) = sum(ious > th); ap(th) = tp / (n_pred + n_true - tp)
TEST(MetricsTest, MatchesPythonReferenceOnSyntheticPair) {
  const std::string dir = std::string(ORBIT_SOURCE_DIR) + "/tests/vision/data/";
  const cv::Mat predicted = cv::imread(dir + "metrics_predicted.png", cv::IMREAD_UNCHANGED);
  const cv::Mat truth = cv::imread(dir + "metrics_truth.png", cv::IMREAD_UNCHANGED);
  ASSERT_EQ(predicted.type(), CV_16UC1);
  ASSERT_EQ(truth.type(), CV_16UC1);
  auto m = ComputeImageMetricsChecked(predicted, truth);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->pixels.intersection, 635);
  EXPECT_EQ(m->pixels.predicted, 832);
  EXPECT_EQ(m->pixels.truth, 812);
  EXPECT_NEAR(m->iou, 0.62933597621407333, 1e-15);
  EXPECT_NEAR(m->dice, 0.77250608272506083, 1e-15);
  EXPECT_EQ(m->objects.true_positives, 5);
  EXPECT_EQ(m->objects.false_positives, 2);
  EXPECT_EQ(m->objects.false_negatives, 3);
  const std::vector<double> expected = {0.5,
                                        0.36363636363636365,
                                        0.36363636363636365,
                                        0.15384615384615385,
                                        0.071428571428571425,
                                        0.071428571428571425,
                                        0.071428571428571425,
                                        0.071428571428571425,
                                        0.071428571428571425,
                                        0};
  ASSERT_EQ(m->ap_per_threshold.size(), expected.size());
  for (std::size_t k = 0; k < expected.size(); ++k) {
    EXPECT_NEAR(m->ap_per_threshold[k], expected[k], 1e-15) << "threshold index " << k;
  }
  EXPECT_NEAR(m->average_precision, 0.17382617382617382, 1e-15);
}

TEST(MetricsAggregateTest, SumsCountsAndAveragesPerImageScores) {
  // Image 1: a perfect 4×4 match. Image 2: a 4×4 prediction disjoint from a 4×4 truth.
  cv::Mat square = Labels(16, 16), elsewhere = Labels(16, 16);
  Fill(square, {0, 0, 4, 4}, 1);
  Fill(elsewhere, {8, 8, 4, 4}, 1);
  const std::vector<ImageMetrics> images = {ComputeImageMetrics(square, square),
                                            ComputeImageMetrics(square, elsewhere)};
  AggregateMetrics a = AggregateImageMetrics(images);
  EXPECT_EQ(a.image_count, 2);
  EXPECT_DOUBLE_EQ(a.iou, 16.0 / 48.0);  // summed: 16 / (32 + 32 - 16)
  EXPECT_DOUBLE_EQ(a.dice, 32.0 / 64.0);
  EXPECT_DOUBLE_EQ(a.mean_image_iou, 0.5);  // (1 + 0) / 2
  EXPECT_EQ(a.objects.true_positives, 1);
  EXPECT_EQ(a.objects.false_positives, 1);
  EXPECT_EQ(a.objects.false_negatives, 1);
  EXPECT_DOUBLE_EQ(a.precision, 0.5);
  EXPECT_DOUBLE_EQ(a.recall, 0.5);
  EXPECT_DOUBLE_EQ(a.f1, 0.5);
  EXPECT_DOUBLE_EQ(a.average_precision, 0.5);
  ASSERT_EQ(a.ap_per_threshold.size(), 10u);
  for (double ap : a.ap_per_threshold) EXPECT_DOUBLE_EQ(ap, 0.5);
}

TEST(MetricsAggregateTest, EmptyListScoresNothing) {
  AggregateMetrics a = AggregateImageMetrics({});
  EXPECT_EQ(a.image_count, 0);
  EXPECT_EQ(a.iou, 0.0);
  EXPECT_EQ(a.average_precision, 0.0);
  EXPECT_TRUE(a.ap_per_threshold.empty());
}

}  // namespace
}  // namespace orbit::vision
