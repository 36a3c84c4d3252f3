#include "vision/overlay.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace orbit::vision {
namespace {

// 10×10 8-bit ramp 0..99 in raster order. numpy 'linear' percentiles: p1 = 0.99, p99 = 98.01,
// so value v stretches to round((v - 0.99) * 255 / 97.02).
cv::Mat Ramp() {
  cv::Mat image(10, 10, CV_8U);
  for (int i = 0; i < 100; ++i)
    image.at<std::uint8_t>(i / 10, i % 10) = static_cast<std::uint8_t>(i);
  return image;
}

std::uint8_t Stretched(int value) {
  return cv::saturate_cast<std::uint8_t>((value - 0.99) * 255.0 / 97.02);
}

TEST(OverlayTest, ProducesBgr8BitImageOfInputSize) {
  cv::Mat labels = cv::Mat::zeros(20, 30, CV_32S);
  labels(cv::Rect(5, 5, 6, 6)).setTo(1);
  for (int type : {CV_8UC1, CV_16UC1, CV_32FC1, CV_8UC3, CV_16UC3, CV_8UC4}) {
    cv::Mat image(20, 30, type);
    cv::randu(image, 0, 200);
    cv::Mat out = RenderOverlay(image, labels);
    EXPECT_EQ(out.type(), CV_8UC3) << cv::typeToString(type);
    EXPECT_EQ(out.size(), image.size()) << cv::typeToString(type);
  }
}

TEST(OverlayTest, BackgroundPixelsEqualStretchedGray) {
  cv::Mat labels = cv::Mat::zeros(10, 10, CV_32S);
  labels(cv::Rect(6, 6, 4, 4)).setTo(3);
  cv::Mat out = RenderOverlay(Ramp(), labels);
  for (int i = 0; i < 100; ++i) {
    const int y = i / 10, x = i % 10;
    if (labels.at<int>(y, x) != 0) continue;
    const std::uint8_t gray = Stretched(i);
    EXPECT_EQ(out.at<cv::Vec3b>(y, x), cv::Vec3b(gray, gray, gray)) << "value " << i;
  }
  EXPECT_EQ(out.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(out.at<cv::Vec3b>(5, 0), cv::Vec3b(129, 129, 129));  // (50 - 0.99) * 255 / 97.02
}

TEST(OverlayTest, ObjectFillIsTintedAndContourIsFullColour) {
  cv::Mat image(12, 12, CV_8U);
  for (int i = 0; i < 144; ++i)
    image.at<std::uint8_t>(i / 12, i % 12) = static_cast<std::uint8_t>(i);
  cv::Mat labels = cv::Mat::zeros(12, 12, CV_32S);
  labels(cv::Rect(3, 3, 6, 6)).setTo(1);
  const double alpha = 0.35;
  cv::Mat plain = RenderOverlay(image, cv::Mat::zeros(12, 12, CV_32S), alpha);
  cv::Mat out = RenderOverlay(image, labels, alpha);

  const cv::Vec3b colour = out.at<cv::Vec3b>(3, 3);  // on the contour
  EXPECT_NE(colour, plain.at<cv::Vec3b>(3, 3));
  for (int i = 3; i <= 8; ++i) {  // the whole 1-px outline has the object's colour
    EXPECT_EQ(out.at<cv::Vec3b>(3, i), colour);
    EXPECT_EQ(out.at<cv::Vec3b>(8, i), colour);
    EXPECT_EQ(out.at<cv::Vec3b>(i, 3), colour);
    EXPECT_EQ(out.at<cv::Vec3b>(i, 8), colour);
  }
  const cv::Vec3b base = plain.at<cv::Vec3b>(5, 5), inside = out.at<cv::Vec3b>(5, 5);
  EXPECT_NE(inside, base);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(inside[c],
              cv::saturate_cast<std::uint8_t>((1 - alpha) * base[c] + alpha * colour[c]));
  }
  EXPECT_EQ(out.at<cv::Vec3b>(1, 1), plain.at<cv::Vec3b>(1, 1));  // background untouched
}

TEST(OverlayTest, DistinctObjectsGetDistinctStableColours) {
  cv::Mat image(16, 16, CV_16U, cv::Scalar(500));
  cv::Mat labels = cv::Mat::zeros(16, 16, CV_16U);
  labels(cv::Rect(0, 0, 5, 5)).setTo(1);
  labels(cv::Rect(8, 8, 5, 5)).setTo(2);
  cv::Mat first = RenderOverlay(image, labels), second = RenderOverlay(image, labels);
  EXPECT_NE(first.at<cv::Vec3b>(0, 0), first.at<cv::Vec3b>(8, 8));
  EXPECT_EQ(cv::norm(first, second, cv::NORM_INF), 0.0);
}

TEST(OverlayTest, ZeroAlphaLeavesFillUntouched) {
  cv::Mat labels = cv::Mat::zeros(10, 10, CV_32S);
  labels(cv::Rect(2, 2, 6, 6)).setTo(1);
  cv::Mat plain = RenderOverlay(Ramp(), cv::Mat(), 0.0);
  cv::Mat out = RenderOverlay(Ramp(), labels, 0.0);
  EXPECT_EQ(out.at<cv::Vec3b>(4, 4), plain.at<cv::Vec3b>(4, 4));
  EXPECT_NE(out.at<cv::Vec3b>(2, 2), plain.at<cv::Vec3b>(2, 2));
}

}  // namespace
}  // namespace orbit::vision
