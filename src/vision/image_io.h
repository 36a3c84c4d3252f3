// Image decoding and encoding (OpenCV, libtiff) with sizes checked from the header before any
// pixel buffer is allocated, so a hostile file cannot exhaust memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
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

// Decodes every page (a TIFF may have several, an NPY stack one per frame; other formats one).
// Accepted pixel types: 8- or 16-bit unsigned, 1 or 3 channels (3-channel images are returned in
// BGR order). Anything else is an InvalidArgument error naming `name` and the reason.
Result<std::vector<cv::Mat>> DecodeImagePages(std::span<const std::byte> bytes,
                                              std::string_view name,
                                              const DecodeLimits& limits = {});
// An image's pages decoded one at a time, so a long stack (multi-page TIFF, NPY time-lapse or
// z-stack) never needs more than one decoded page in memory. Open reads only headers: every TIFF
// directory's tags, the NPY header (frames are then read by offset); PNG and JPEG have one page,
// checked and decoded by DecodePage(0). Page errors name `name` and the page, as for
// DecodeImagePages. Borrows `bytes`, which must outlive the decoder. Not thread-safe; pages are
// cheapest to read in ascending order (TIFF moves to the next directory instead of seeking).
class PageDecoder {
 public:
  static Result<std::unique_ptr<PageDecoder>> Open(std::span<const std::byte> bytes,
                                                   std::string_view name,
                                                   const DecodeLimits& limits = {});
  virtual ~PageDecoder() = default;
  virtual int page_count() const = 0;
  // Page `index` (0-based); OutOfRange past the last page.
  virtual Result<cv::Mat> DecodePage(int index) = 0;
};

// Pages in an image file from its headers alone, without reading pixels: TIFF directories, NPY
// frames ((T, H, W) or (T, H, W, C) arrays), 1 for PNG, JPEG and anything else. An error when the
// header cannot be read or is over `limits`.
Result<int> CountImageFilePages(const std::filesystem::path& path, const DecodeLimits& limits = {});

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
