// Image decoding and encoding (OpenCV, libtiff) with sizes checked from the header before any
// pixel buffer is allocated, so a hostile file cannot exhaust memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "tensor/tensor.h"

namespace orbit::vision {

struct DecodeLimits {
  std::int64_t max_pixels = 256LL * 1024 * 1024;  // per page
  int max_pages = 4096;
  std::uint64_t max_file_bytes = 2ULL << 30;
};

enum class ImageFormat { kUnknown, kPng, kJpeg, kTiff, kNpy };

// Detected from magic bytes, not the file name.
ImageFormat DetectFormat(std::span<const std::byte> bytes);

// Decodes every page (TIFF may have several; other formats one). Accepted pixel types: 8- or
// 16-bit unsigned, 1 or 3 channels (3-channel images are returned in BGR order). Anything else
// is an InvalidArgument error naming `name` and the reason.
Result<std::vector<cv::Mat>> DecodeImagePages(std::span<const std::byte> bytes,
                                              std::string_view name,
                                              const DecodeLimits& limits = {});
// First page only.
Result<cv::Mat> DecodeImage(std::span<const std::byte> bytes, std::string_view name,
                            const DecodeLimits& limits = {});
Result<cv::Mat> ReadImageFile(const std::filesystem::path& path, const DecodeLimits& limits = {});
Result<std::vector<cv::Mat>> ReadImagePagesFile(const std::filesystem::path& path,
                                                const DecodeLimits& limits = {});

// A raw array of pixels (height × width × channels of `dtype`, row-major) as an image.
// 3-channel data is read as RGB (the numpy/KServe client order) and returned as BGR, like every
// decoded image; NPY files are treated the same way.
Result<cv::Mat> ImageFromRaw(std::span<const std::byte> bytes, int width, int height, int channels,
                             DType dtype, std::string_view name);

// Instance labels (any integer depth) as CV_16U, the depth label PNGs are written in; OutOfRange
// when there are more than 65535 objects.
Result<cv::Mat> LabelsTo16Bit(const cv::Mat& labels);

// PNG bytes (8- or 16-bit, 1/3/4 channels).
Result<std::string> EncodePng(const cv::Mat& image);
Status WritePng(const std::filesystem::path& path, const cv::Mat& image);

}  // namespace orbit::vision
