#include "vision/image_io.h"

#include <gtest/gtest.h>
#include <tiffio.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "core/file.h"

namespace orbit::vision {
namespace {
namespace fs = std::filesystem;

std::span<const std::byte> AsBytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

bool SameMat(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != b.type()) return false;
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  return cv::countNonZero(diff.reshape(1)) == 0;
}

std::uint32_t Crc32(std::string_view data) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (const char ch : data) {
    crc ^= static_cast<std::uint8_t>(ch);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void AppendBE32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xFF);
}
void AppendLE16(std::string& out, std::uint32_t v) {
  out += static_cast<char>(v & 0xFF);
  out += static_cast<char>((v >> 8) & 0xFF);
}
void AppendLE32(std::string& out, std::uint32_t v) {
  AppendLE16(out, v & 0xFFFF);
  AppendLE16(out, v >> 16);
}

std::string PngChunk(std::string_view type, std::string_view data) {
  std::string chunk;
  AppendBE32(chunk, static_cast<std::uint32_t>(data.size()));
  const std::string body = std::string(type) + std::string(data);
  chunk += body;
  AppendBE32(chunk, Crc32(body));
  return chunk;
}

// A PNG signature plus a valid IHDR (correct CRC) and nothing else: no pixel data at all.
std::string PngHeaderOnly(std::uint32_t width, std::uint32_t height, int color_type = 0) {
  std::string ihdr;
  AppendBE32(ihdr, width);
  AppendBE32(ihdr, height);
  ihdr += static_cast<char>(8);           // bit depth
  ihdr += static_cast<char>(color_type);  // 0 = gray
  ihdr += std::string(3, '\0');           // compression, filter, interlace
  return std::string("\x89PNG\r\n\x1a\n", 8) + PngChunk("IHDR", ihdr);
}

// A little-endian TIFF with one 8-bit gray directory claiming width × height, one strip of
// `strip_bytes` at `strip_offset` (pixel data that is not actually there).
std::string TiffHeaderOnly(std::uint32_t width, std::uint32_t height,
                           std::uint32_t strip_offset = 8, std::uint32_t strip_bytes = 1) {
  struct Entry {
    std::uint16_t tag, type;
    std::uint32_t value;
  };
  constexpr std::uint16_t kShort = 3, kLong = 4;
  const std::vector<Entry> entries = {
      {256, kLong, width}, {257, kLong, height}, {258, kShort, 8},
      {259, kShort, 1},    {262, kShort, 1},     {273, kLong, strip_offset},
      {277, kShort, 1},    {278, kLong, height}, {279, kLong, strip_bytes},
  };
  std::string tiff("II*\0", 4);
  AppendLE32(tiff, 8);
  AppendLE16(tiff, static_cast<std::uint32_t>(entries.size()));
  for (const auto& e : entries) {
    AppendLE16(tiff, e.tag);
    AppendLE16(tiff, e.type);
    AppendLE32(tiff, 1);
    if (e.type == kShort) {
      AppendLE16(tiff, e.value);
      AppendLE16(tiff, 0);
    } else {
      AppendLE32(tiff, e.value);
    }
  }
  AppendLE32(tiff, 0);
  return tiff;
}

std::string NpyBytes(std::string_view descr, std::string_view shape, std::string_view data,
                     bool fortran = false) {
  std::string dict = "{'descr': '" + std::string(descr) +
                     "', 'fortran_order': " + (fortran ? "True" : "False") +
                     ", 'shape': " + std::string(shape) + ", }";
  while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  AppendLE16(out, static_cast<std::uint32_t>(dict.size()));
  return out + dict + std::string(data);
}

cv::Mat Gradient(int width, int height, int type) {
  cv::Mat image(height, width, type);
  const int channels = image.channels();
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        const int v = (x * 7 + y * 13 + c * 50) % 256;
        if (image.depth() == CV_8U) image.ptr<std::uint8_t>(y)[x * channels + c] = v;
        if (image.depth() == CV_16U) image.ptr<std::uint16_t>(y)[x * channels + c] = v * 251;
        if (image.depth() == CV_32F) image.ptr<float>(y)[x * channels + c] = v * 0.5f;
      }
    }
  }
  return image;
}

std::string EncodeOrDie(const std::string& ext, const cv::Mat& image) {
  std::vector<std::uint8_t> buffer;
  EXPECT_TRUE(cv::imencode(ext, image, buffer));
  return std::string(buffer.begin(), buffer.end());
}

struct TiffOptions {
  bool tiled = false;
  bool planar_separate = false;
  int compression = COMPRESSION_NONE;
  bool ycbcr = false;  // with COMPRESSION_JPEG: stored as YCbCr, written from RGB
};

class ImageIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("orbit_image_io_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `pages` (channel data in memory order R, G, B for 3 channels) as one TIFF with
  // libtiff, returns its bytes.
  std::string WriteTiff(const std::vector<cv::Mat>& pages, TiffOptions options = {}) {
    const fs::path path = dir_ / "written.tif";
    TIFF* tiff = TIFFOpen(path.c_str(), "w");
    EXPECT_NE(tiff, nullptr);
    for (const cv::Mat& page : pages) {
      const int channels = page.channels();
      const int bits = static_cast<int>(page.elemSize1() * 8);
      TIFFSetField(tiff, TIFFTAG_IMAGEWIDTH, page.cols);
      TIFFSetField(tiff, TIFFTAG_IMAGELENGTH, page.rows);
      TIFFSetField(tiff, TIFFTAG_SAMPLESPERPIXEL, channels);
      TIFFSetField(tiff, TIFFTAG_BITSPERSAMPLE, bits);
      TIFFSetField(tiff, TIFFTAG_SAMPLEFORMAT,
                   page.depth() == CV_32F ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT);
      TIFFSetField(tiff, TIFFTAG_PHOTOMETRIC,
                   options.ycbcr ? PHOTOMETRIC_YCBCR
                                 : (channels == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK));
      TIFFSetField(tiff, TIFFTAG_COMPRESSION, options.compression);
      if (options.compression == COMPRESSION_LZW ||
          options.compression == COMPRESSION_ADOBE_DEFLATE) {
        TIFFSetField(tiff, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
      }
      if (options.ycbcr) {
        TIFFSetField(tiff, TIFFTAG_JPEGQUALITY, 95);
        TIFFSetField(tiff, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
      }
      TIFFSetField(tiff, TIFFTAG_PLANARCONFIG,
                   options.planar_separate ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG);
      if (pages.size() > 1) TIFFSetField(tiff, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
      if (options.tiled) {
        TIFFSetField(tiff, TIFFTAG_TILEWIDTH, 16);
        TIFFSetField(tiff, TIFFTAG_TILELENGTH, 16);
        const std::size_t pixel = page.elemSize();
        std::vector<std::uint8_t> tile(16 * 16 * pixel);
        for (int y = 0; y < page.rows; y += 16) {
          for (int x = 0; x < page.cols; x += 16) {
            std::fill(tile.begin(), tile.end(), 0);
            for (int r = 0; r < 16 && y + r < page.rows; ++r) {
              const int cols = std::min(16, page.cols - x);
              std::memcpy(tile.data() + r * 16 * pixel, page.ptr<std::uint8_t>(y + r) + x * pixel,
                          cols * pixel);
            }
            EXPECT_GE(TIFFWriteTile(tiff, tile.data(), x, y, 0, 0), 0);
          }
        }
      } else if (options.planar_separate) {
        TIFFSetField(tiff, TIFFTAG_ROWSPERSTRIP, 3);
        std::vector<cv::Mat> planes;
        cv::split(page, planes);
        for (int c = 0; c < channels; ++c) {
          for (int y = 0; y < page.rows; ++y) {
            EXPECT_EQ(TIFFWriteScanline(tiff, planes[c].ptr(y), y, static_cast<tsample_t>(c)), 1);
          }
        }
      } else {
        TIFFSetField(tiff, TIFFTAG_ROWSPERSTRIP, options.ycbcr ? 16 : 3);
        // libtiff's predictors difference the scanline in place, so write from a copy.
        std::vector<std::uint8_t> row(page.cols * page.elemSize());
        for (int y = 0; y < page.rows; ++y) {
          std::memcpy(row.data(), page.ptr(y), row.size());
          EXPECT_EQ(TIFFWriteScanline(tiff, row.data(), y, 0), 1);
        }
      }
      EXPECT_EQ(TIFFWriteDirectory(tiff), 1);
    }
    TIFFClose(tiff);
    return *ReadFileBytes(path);
  }

  fs::path dir_;
};

fs::path SkimageData(const std::string& name) {
  return fs::path("/usr/lib/python3/dist-packages/skimage/data") / name;
}
#define SKIP_IF_MISSING(path) \
  if (!fs::exists(path)) GTEST_SKIP() << (path) << " is not installed"

// ---- format detection

TEST(DetectFormatTest, RecognisesEachFormatByMagicBytes) {
  auto detect = [](std::string s) { return DetectFormat(AsBytes(s)); };
  EXPECT_EQ(detect(std::string("\x89PNG\r\n\x1a\n rest", 13)), ImageFormat::kPng);
  EXPECT_EQ(detect("\xFF\xD8\xFF\xE0"), ImageFormat::kJpeg);
  EXPECT_EQ(detect(std::string("II*\0\x08\0\0\0", 8)), ImageFormat::kTiff);
  EXPECT_EQ(detect(std::string("MM\0*\0\0\0\x08", 8)), ImageFormat::kTiff);
  EXPECT_EQ(detect("\x93NUMPY\x01"), ImageFormat::kNpy);
}

TEST(DetectFormatTest, IgnoresNamesAndRejectsShortOrUnknownMagic) {
  auto detect = [](std::string s) { return DetectFormat(AsBytes(s)); };
  EXPECT_EQ(detect(""), ImageFormat::kUnknown);
  EXPECT_EQ(detect("\x89PN"), ImageFormat::kUnknown);
  EXPECT_EQ(detect("hello.png"), ImageFormat::kUnknown);
  EXPECT_EQ(detect("GIF89a"), ImageFormat::kUnknown);
  EXPECT_EQ(detect("BM"), ImageFormat::kUnknown);
}

// ---- round trips and pixel layouts

TEST_F(ImageIoTest, RoundTrips8BitGrayPngExactly) {
  const cv::Mat image = Gradient(37, 23, CV_8UC1);
  auto png = EncodePng(image);
  ASSERT_TRUE(png.ok()) << png.status().ToString();
  EXPECT_EQ(DetectFormat(AsBytes(*png)), ImageFormat::kPng);
  auto decoded = DecodeImage(AsBytes(*png), "a.png");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(SameMat(*decoded, image));
}

TEST_F(ImageIoTest, RoundTrips16BitPngKeepingFullDepth) {
  cv::Mat image = Gradient(31, 17, CV_16UC1);
  image.at<std::uint16_t>(0, 0) = 65535;
  image.at<std::uint16_t>(0, 1) = 1;
  auto decoded = DecodeImage(AsBytes(*EncodePng(image)), "a.png");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->type(), CV_16UC1);
  EXPECT_TRUE(SameMat(*decoded, image));
}

TEST_F(ImageIoTest, ThreeChannelPngComesBackInBgrOrder) {
  cv::Mat bgr(2, 2, CV_8UC3, cv::Scalar(10, 20, 30));
  auto decoded = DecodeImage(AsBytes(*EncodePng(bgr)), "c.png");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->at<cv::Vec3b>(1, 1), cv::Vec3b(10, 20, 30));
}

TEST_F(ImageIoTest, DecodedRgbFileHasBlueFirst) {
  // astronaut.png is stored RGB; per-channel sums from numpy on PIL's decode (R, G, B):
  // [37109758, 27724204, 25290362], pixel (0, 0) = RGB(154, 147, 151).
  const fs::path path = SkimageData("astronaut.png");
  SKIP_IF_MISSING(path);
  auto image = ReadImageFile(path);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  ASSERT_EQ(image->type(), CV_8UC3);
  EXPECT_EQ(image->at<cv::Vec3b>(0, 0), cv::Vec3b(151, 147, 154));
  const cv::Scalar sums = cv::sum(*image);
  EXPECT_EQ(sums[0], 25290362);
  EXPECT_EQ(sums[1], 27724204);
  EXPECT_EQ(sums[2], 37109758);
}

TEST_F(ImageIoTest, WritePngThenReadImageFileRoundTrips) {
  const cv::Mat image = Gradient(9, 5, CV_16UC3);
  ASSERT_TRUE(WritePng(dir_ / "out.png", image).ok());
  auto read = ReadImageFile(dir_ / "out.png");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_TRUE(SameMat(*read, image));
}

TEST_F(ImageIoTest, EncodePngRejectsUnsupportedPixelTypes) {
  EXPECT_EQ(EncodePng(cv::Mat()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodePng(cv::Mat(2, 2, CV_32FC1, 0.5f)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodePng(cv::Mat(2, 2, CV_8UC2, cv::Scalar(1, 2))).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(EncodePng(cv::Mat(2, 2, CV_8UC4, cv::Scalar(1, 2, 3, 4))).ok());
}

TEST_F(ImageIoTest, WritePngIntoMissingDirectoryFails) {
  const Status status = WritePng(dir_ / "missing" / "out.png", cv::Mat(2, 2, CV_8UC1));
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("out.png"), std::string::npos) << status.message();
}

// ---- bad input

TEST_F(ImageIoTest, RejectsEmptyInput) {
  auto result = DecodeImage({}, "x.png");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(), "image 'x.png': file is empty");
}

TEST_F(ImageIoTest, RejectsTextFileNamedPngAndNamesTheFile) {
  const fs::path path = dir_ / "notes.png";
  ASSERT_TRUE(WriteFileAtomic(path, "hello world\n").ok());
  auto result = ReadImageFile(path);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(),
            "image '" + path.string() +
                "': is not a PNG, JPEG, TIFF or NPY image (starts with bytes 68 65 6c 6c 6f 20 77 "
                "6f)");
}

TEST_F(ImageIoTest, MissingFileIsNotFound) {
  auto result = ReadImageFile(dir_ / "nope.png");
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  EXPECT_NE(result.status().message().find("nope.png"), std::string::npos);
}

TEST_F(ImageIoTest, RejectsPngWithCorruptPixelData) {
  std::string png = *EncodePng(Gradient(40, 40, CV_8UC1));
  const std::size_t idat = png.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  for (std::size_t i = idat + 8; i < idat + 20; ++i) png[i] = static_cast<char>(png[i] ^ 0x5A);
  auto result = DecodeImage(AsBytes(png), "bad.png");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("image 'bad.png': could not be decoded (corrupt or "
                                           "truncated"),
            std::string::npos)
      << result.status().message();
}

TEST_F(ImageIoTest, RejectsTruncatedPngInsteadOfReturningAPartialImage) {
  const std::string png = *EncodePng(Gradient(64, 64, CV_8UC1));
  for (const std::size_t keep : {png.size() / 2, png.size() - 12, png.size() - 1}) {
    auto result = DecodeImage(AsBytes(png.substr(0, keep)), "cut.png");
    ASSERT_FALSE(result.ok()) << "kept " << keep << " of " << png.size() << " bytes";
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find("corrupt or truncated"), std::string::npos);
  }
}

TEST_F(ImageIoTest, RejectsTruncatedJpegInsteadOfReturningAPartialImage) {
  const std::string jpeg = EncodeOrDie(".jpg", Gradient(64, 48, CV_8UC3));
  auto whole = DecodeImage(AsBytes(jpeg), "ok.jpg");
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->type(), CV_8UC3);
  for (const std::size_t keep : {std::size_t{100}, jpeg.size() * 6 / 10, jpeg.size() - 2}) {
    auto result = DecodeImage(AsBytes(jpeg.substr(0, keep)), "cut.jpg");
    ASSERT_FALSE(result.ok()) << "kept " << keep << " of " << jpeg.size() << " bytes";
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find("image 'cut.jpg': could not be decoded (corrupt or "
                                             "truncated"),
              std::string::npos)
        << result.status().message();
  }
}

TEST_F(ImageIoTest, RejectsJpegMagicFollowedByGarbage) {
  auto result = DecodeImage(AsBytes("\xFF\xD8\xFF\xE0garbage that is not a segment"), "g.jpg");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ImageIoTest, RejectsSkimageTruncatedJpeg) {
  const fs::path path = SkimageData("truncated.jpg");
  SKIP_IF_MISSING(path);
  auto result = ReadImageFile(path);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("corrupt or truncated"), std::string::npos);
}

TEST_F(ImageIoTest, RejectsZeroSizedPngHeader) {
  for (const auto& [w, h] : {std::pair{0u, 10u}, std::pair{10u, 0u}}) {
    std::string png = PngHeaderOnly(w, h) + PngChunk("IEND", "");
    auto result = DecodeImage(AsBytes(png), "zero.png");
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find("zero-sized"), std::string::npos)
        << result.status().message();
  }
}

TEST_F(ImageIoTest, RejectsRgbaPng) {
  const std::string png = *EncodePng(cv::Mat(3, 3, CV_8UC4, cv::Scalar(1, 2, 3, 4)));
  auto result = DecodeImage(AsBytes(png), "x.png");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message().rfind(
                "image 'x.png': 4 channels are not supported (expected 1 or 3", 0),
            0u)
      << result.status().message();
}

TEST_F(ImageIoTest, RejectsGrayPlusAlphaPng) {
  // tests/vision/data/gray_alpha.png: 2x2 PIL "LA" image.
  auto result = ReadImageFile(fs::path(ORBIT_SOURCE_DIR) / "tests/vision/data/gray_alpha.png");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("2 channels are not supported (expected 1 or 3"),
            std::string::npos)
      << result.status().message();
}

TEST_F(ImageIoTest, RejectsPaletteWithTransparencyAsFourChannels) {
  // foo3x5x4indexed.png has a tRNS chunk, so it decodes to BGRA.
  const fs::path path = SkimageData("foo3x5x4indexed.png");
  SKIP_IF_MISSING(path);
  auto result = ReadImageFile(path);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("4 channels are not supported"), std::string::npos)
      << result.status().message();
}

TEST_F(ImageIoTest, ExpandsOpaquePalettePngToBgr) {
  const fs::path path = SkimageData("palette_color.png");
  SKIP_IF_MISSING(path);
  auto image = ReadImageFile(path);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->type(), CV_8UC3);
  EXPECT_EQ(image->size(), cv::Size(10, 10));
}

// ---- sizes are checked from the header, before any pixel buffer exists

TEST_F(ImageIoTest, RefusesPngHeaderClaimingHugeSizeBeforeDecoding) {
  const std::string png = PngHeaderOnly(100000, 100000);  // 33 bytes, no pixel data
  auto result = DecodeImage(AsBytes(png), "big.png");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(result.status().message(),
            "image 'big.png': header claims 100000 x 100000 pixels, over the limit of 268435456");
}

TEST_F(ImageIoTest, RefusesTiffHeaderClaimingHugeSizeBeforeDecoding) {
  const std::string tiff = TiffHeaderOnly(100000, 100000);
  auto result = DecodeImagePages(AsBytes(tiff), "big.tif");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted) << result.status().ToString();
  EXPECT_NE(result.status().message().find("header claims 100000 x 100000 pixels, over the limit"),
            std::string::npos)
      << result.status().message();
}

TEST_F(ImageIoTest, RefusesJpegHeaderClaimingHugeSizeBeforeDecoding) {
  // SOI, then SOF0: length 11, precision 8, height 60000, width 60000, 1 component.
  const std::string jpeg("\xFF\xD8\xFF\xC0\x00\x0B\x08\xEA\x60\xEA\x60\x01\x01\x11\x00", 15);
  auto result = DecodeImage(AsBytes(jpeg), "big.jpg");
  EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted) << result.status().ToString();
}

TEST_F(ImageIoTest, RefusesNpyHeaderClaimingHugeSizeBeforeDecoding) {
  auto result = DecodeImage(AsBytes(NpyBytes("|u1", "(100000, 100000)", "")), "big.npy");
  EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted) << result.status().ToString();
}

TEST_F(ImageIoTest, HonoursACustomPixelLimit) {
  const std::string png = *EncodePng(Gradient(20, 20, CV_8UC1));
  DecodeLimits limits;
  limits.max_pixels = 399;
  EXPECT_EQ(DecodeImage(AsBytes(png), "a.png", limits).status().code(),
            StatusCode::kResourceExhausted);
  limits.max_pixels = 400;
  EXPECT_TRUE(DecodeImage(AsBytes(png), "a.png", limits).ok());
}

TEST_F(ImageIoTest, RefusesFilesOverTheByteLimit) {
  const std::string png = *EncodePng(Gradient(20, 20, CV_8UC1));
  DecodeLimits limits;
  limits.max_file_bytes = 10;
  EXPECT_EQ(DecodeImage(AsBytes(png), "a.png", limits).status().code(),
            StatusCode::kResourceExhausted);
}

// ---- TIFF

TEST_F(ImageIoTest, DecodesEveryPageOfAMultiPageTiff) {
  const cv::Mat first = Gradient(10, 7, CV_8UC1);
  const cv::Mat second = Gradient(5, 9, CV_16UC1);
  const std::string tiff = WriteTiff({first, second});
  auto pages = DecodeImagePages(AsBytes(tiff), "stack.tif");
  ASSERT_TRUE(pages.ok()) << pages.status().ToString();
  ASSERT_EQ(pages->size(), 2u);
  EXPECT_TRUE(SameMat((*pages)[0], first));
  EXPECT_TRUE(SameMat((*pages)[1], second));

  auto only_first = DecodeImage(AsBytes(tiff), "stack.tif");
  ASSERT_TRUE(only_first.ok()) << only_first.status().ToString();
  EXPECT_TRUE(SameMat(*only_first, first));
}

TEST_F(ImageIoTest, RefusesTiffWithMorePagesThanTheLimit) {
  const cv::Mat page = Gradient(4, 4, CV_8UC1);
  const std::string tiff = WriteTiff({page, page, page});
  DecodeLimits limits;
  limits.max_pages = 2;
  auto result = DecodeImagePages(AsBytes(tiff), "stack.tif", limits);
  EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted);
  limits.max_pages = 3;
  EXPECT_TRUE(DecodeImagePages(AsBytes(tiff), "stack.tif", limits).ok());
}

TEST_F(ImageIoTest, RgbTiffComesBackInBgrOrder) {
  cv::Mat rgb(4, 5, CV_8UC3, cv::Scalar(30, 20, 10));  // stored R=30, G=20, B=10
  for (const bool separate : {false, true}) {
    const std::string tiff = WriteTiff({rgb}, {.planar_separate = separate});
    auto image = DecodeImage(AsBytes(tiff), "rgb.tif");
    ASSERT_TRUE(image.ok()) << image.status().ToString();
    EXPECT_EQ(image->at<cv::Vec3b>(3, 4), cv::Vec3b(10, 20, 30)) << "separate=" << separate;
  }
}

TEST_F(ImageIoTest, DecodesTiled16BitTiff) {
  const cv::Mat image = Gradient(37, 21, CV_16UC1);  // partial tiles on the right and bottom
  auto decoded = DecodeImage(AsBytes(WriteTiff({image}, {.tiled = true})), "tiled.tif");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(SameMat(*decoded, image));
}

TEST_F(ImageIoTest, DecodesCompressedTiffs) {
  const cv::Mat gray16 = Gradient(33, 19, CV_16UC1);
  const cv::Mat rgb8 = Gradient(20, 12, CV_8UC3);  // memory order R, G, B
  cv::Mat bgr8;
  cv::cvtColor(rgb8, bgr8, cv::COLOR_RGB2BGR);
  for (const int compression : {COMPRESSION_LZW, COMPRESSION_ADOBE_DEFLATE, COMPRESSION_PACKBITS}) {
    auto a = DecodeImage(AsBytes(WriteTiff({gray16}, {.compression = compression})), "c.tif");
    ASSERT_TRUE(a.ok()) << compression << ": " << a.status().ToString();
    EXPECT_TRUE(SameMat(*a, gray16)) << compression;
    auto b = DecodeImage(AsBytes(WriteTiff({rgb8}, {.compression = compression})), "c.tif");
    ASSERT_TRUE(b.ok()) << compression << ": " << b.status().ToString();
    EXPECT_TRUE(SameMat(*b, bgr8)) << compression;
  }
}

TEST_F(ImageIoTest, DecodesJpegCompressedYcbcrTiffAsBgr) {
  const cv::Mat rgb(32, 32, CV_8UC3, cv::Scalar(200, 100, 50));  // R=200, G=100, B=50
  auto image = DecodeImage(
      AsBytes(WriteTiff({rgb}, {.compression = COMPRESSION_JPEG, .ycbcr = true})), "j.tif");
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  ASSERT_EQ(image->type(), CV_8UC3);
  const cv::Vec3b pixel = image->at<cv::Vec3b>(16, 16);
  EXPECT_NEAR(pixel[0], 50, 4);
  EXPECT_NEAR(pixel[1], 100, 4);
  EXPECT_NEAR(pixel[2], 200, 4);
}

TEST_F(ImageIoTest, RejectsFloatTiffNamingTheSampleType) {
  auto result = DecodeImage(AsBytes(WriteTiff({Gradient(4, 4, CV_32FC1)})), "f.tif");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("32-bit float samples are not supported"),
            std::string::npos)
      << result.status().message();
}

TEST_F(ImageIoTest, RejectsTruncatedTiff) {
  // libtiff writes pixel data first and the directory last, so a cut file has no directory.
  const std::string tiff = WriteTiff({Gradient(64, 64, CV_8UC1)});
  auto cut = DecodeImage(AsBytes(tiff.substr(0, tiff.size() / 2)), "cut.tif");
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cut.status().message().find("corrupt or truncated"), std::string::npos);
  // A valid directory whose only strip lies past the end of the file.
  auto short_strip = DecodeImage(AsBytes(TiffHeaderOnly(4, 4, 1000, 16)), "short.tif");
  ASSERT_FALSE(short_strip.ok());
  EXPECT_EQ(short_strip.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(short_strip.status().message().find("corrupt or truncated"), std::string::npos)
      << short_strip.status().message();
}

TEST_F(ImageIoTest, DecodesBigAndLittleEndian16BitTiffAlike) {
  // chessboard_GRAY_U16{,B}.tif: the same 200x200 uint16 image; tifffile: sum 5100000.
  const fs::path little = SkimageData("chessboard_GRAY_U16.tif");
  const fs::path big = SkimageData("chessboard_GRAY_U16B.tif");
  SKIP_IF_MISSING(little);
  SKIP_IF_MISSING(big);
  auto a = ReadImageFile(little);
  auto b = ReadImageFile(big);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(a->type(), CV_16UC1);
  EXPECT_TRUE(SameMat(*a, *b));
  EXPECT_EQ(cv::sum(*a)[0], 5100000);
}

TEST_F(ImageIoTest, DecodesSkimageMultiPageTiffs) {
  // tifffile: multipage.tif has two 15x10 uint8 pages with sums 19125 and 19019;
  // _blobs_3d_fiji_skeleton.tif has 30 32x32 uint8 pages with total sum 1020765.
  const fs::path two = SkimageData("multipage.tif");
  const fs::path thirty = SkimageData("_blobs_3d_fiji_skeleton.tif");
  SKIP_IF_MISSING(two);
  SKIP_IF_MISSING(thirty);
  auto pages = ReadImagePagesFile(two);
  ASSERT_TRUE(pages.ok()) << pages.status().ToString();
  ASSERT_EQ(pages->size(), 2u);
  EXPECT_EQ((*pages)[0].size(), cv::Size(10, 15));
  EXPECT_EQ(cv::sum((*pages)[0])[0], 19125);
  EXPECT_EQ(cv::sum((*pages)[1])[0], 19019);

  auto stack = ReadImagePagesFile(thirty);
  ASSERT_TRUE(stack.ok()) << stack.status().ToString();
  ASSERT_EQ(stack->size(), 30u);
  double total = 0;
  for (const cv::Mat& page : *stack) total += cv::sum(page)[0];
  EXPECT_EQ(total, 1020765);
}

TEST_F(ImageIoTest, RejectsSkimageFloat64RgbTiff) {
  const fs::path path = SkimageData("multipage_rgb.tif");
  SKIP_IF_MISSING(path);
  auto result = ReadImagePagesFile(path);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("64-bit float samples are not supported"),
            std::string::npos)
      << result.status().message();
}

// ---- real sample images

TEST_F(ImageIoTest, DecodesSkimageSampleImages) {
  // Sizes and sums from numpy on PIL's decode: cell.png 660x550 rows x cols, sum 24669746;
  // coins.png 303x384, sum 11269333.
  struct Sample {
    const char* file;
    int rows, cols;
    double sum;
  };
  for (const Sample& s :
       {Sample{"cell.png", 660, 550, 24669746}, Sample{"coins.png", 303, 384, 11269333}}) {
    const fs::path path = SkimageData(s.file);
    SKIP_IF_MISSING(path);
    auto image = ReadImageFile(path);
    ASSERT_TRUE(image.ok()) << image.status().ToString();
    EXPECT_EQ(image->type(), CV_8UC1) << s.file;
    EXPECT_EQ(image->rows, s.rows) << s.file;
    EXPECT_EQ(image->cols, s.cols) << s.file;
    EXPECT_EQ(cv::sum(*image)[0], s.sum) << s.file;
  }
}

TEST_F(ImageIoTest, DecodesSkimageJpeg) {
  const fs::path path = SkimageData("hubble_deep_field.jpg");  // PIL: RGB, 1000 wide, 872 high
  SKIP_IF_MISSING(path);
  auto image = ReadImageFile(path);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->type(), CV_8UC3);
  EXPECT_EQ(image->size(), cv::Size(1000, 872));
}

TEST_F(ImageIoTest, NpyAndPngOfTheSameImageDecodeAlike) {
  const fs::path png = SkimageData("chessboard_GRAY.png");
  const fs::path npy = SkimageData("chessboard_GRAY_U8.npy");
  SKIP_IF_MISSING(png);
  SKIP_IF_MISSING(npy);
  auto a = ReadImageFile(png);
  auto b = ReadImageFile(npy);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(SameMat(*a, *b));
}

// ---- NPY

TEST_F(ImageIoTest, DecodesLittleEndianUint16Npy) {
  const std::string data("\x01\x00\x02\x01\xff\xff\x00\x80\x05\x00\x06\x00", 12);
  auto image = DecodeImage(AsBytes(NpyBytes("<u2", "(2, 3)", data)), "a.npy");
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  ASSERT_EQ(image->type(), CV_16UC1);
  ASSERT_EQ(image->size(), cv::Size(3, 2));
  EXPECT_EQ(image->at<std::uint16_t>(0, 0), 1);
  EXPECT_EQ(image->at<std::uint16_t>(0, 1), 258);
  EXPECT_EQ(image->at<std::uint16_t>(0, 2), 65535);
  EXPECT_EQ(image->at<std::uint16_t>(1, 0), 32768);
  EXPECT_EQ(image->at<std::uint16_t>(1, 2), 6);
}

TEST_F(ImageIoTest, DecodesBigEndianUint16Npy) {
  auto image =
      DecodeImage(AsBytes(NpyBytes(">u2", "(1, 2)", std::string("\x01\x02\x00\x07", 4))), "b.npy");
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->at<std::uint16_t>(0, 0), 258);
  EXPECT_EQ(image->at<std::uint16_t>(0, 1), 7);
}

TEST_F(ImageIoTest, RgbNpyComesBackInBgrOrder) {
  auto image =
      DecodeImage(AsBytes(NpyBytes("|u1", "(1, 2, 3)", "\x1e\x14\x0a\x01\x02\x03")), "rgb.npy");
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  ASSERT_EQ(image->type(), CV_8UC3);
  EXPECT_EQ(image->at<cv::Vec3b>(0, 0), cv::Vec3b(10, 20, 30));
  EXPECT_EQ(image->at<cv::Vec3b>(0, 1), cv::Vec3b(3, 2, 1));
}

TEST_F(ImageIoTest, SingleChannelNpyWithExplicitChannelAxisIsGray) {
  auto image = DecodeImage(AsBytes(NpyBytes("|u1", "(2, 1, 1)", "\x05\x06")), "g.npy");
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->type(), CV_8UC1);
  EXPECT_EQ(image->size(), cv::Size(1, 2));
}

// ---- NPY stacks (time-lapse series, z-stacks): one page per frame

TEST_F(ImageIoTest, NpyStackDecodesToOnePagePerFrame) {
  // (3 frames, 2 rows, 5 columns) of uint8: frame t holds 10*t + i.
  std::string data;
  for (int t = 0; t < 3; ++t)
    for (int i = 0; i < 10; ++i) data += static_cast<char>(10 * t + i);
  auto pages = DecodeImagePages(AsBytes(NpyBytes("|u1", "(3, 2, 5)", data)), "tl.npy");
  ASSERT_TRUE(pages.ok()) << pages.status().ToString();
  ASSERT_EQ(pages->size(), 3u);
  for (int t = 0; t < 3; ++t) {
    const cv::Mat& page = (*pages)[static_cast<std::size_t>(t)];
    ASSERT_EQ(page.type(), CV_8UC1);
    ASSERT_EQ(page.rows, 2);
    ASSERT_EQ(page.cols, 5);
    EXPECT_EQ(page.at<std::uint8_t>(1, 4), 10 * t + 9) << "frame " << t;
  }
  // The first frame is what DecodeImage returns, as for a multi-page TIFF.
  auto first = DecodeImage(AsBytes(NpyBytes("|u1", "(3, 2, 5)", data)), "tl.npy");
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(SameMat(*first, (*pages)[0]));
}

TEST_F(ImageIoTest, NpyRgbStackFramesComeBackInBgrOrder) {
  // (2 frames, 1 row, 1 column, 3 channels); frame 1 is R=7, G=8, B=9.
  auto pages = DecodeImagePages(
      AsBytes(NpyBytes("|u1", "(2, 1, 1, 3)", "\x01\x02\x03\x07\x08\x09")), "rgb_tl.npy");
  ASSERT_TRUE(pages.ok()) << pages.status().ToString();
  ASSERT_EQ(pages->size(), 2u);
  EXPECT_EQ((*pages)[1].at<cv::Vec3b>(0, 0), cv::Vec3b(9, 8, 7));
}

TEST_F(ImageIoTest, ThreeDimensionalNpyWithShortLastAxisIsAnImageWithChannels) {
  // (H, W, 3) stays one RGB image, not 2 frames 1 pixel by 3 wide.
  auto pages = DecodeImagePages(AsBytes(NpyBytes("|u1", "(2, 1, 3)", "abcdef")), "rgb.npy");
  ASSERT_TRUE(pages.ok()) << pages.status().ToString();
  ASSERT_EQ(pages->size(), 1u);
  EXPECT_EQ((*pages)[0].channels(), 3);
}

TEST_F(ImageIoTest, RefusesNpyStacksOverTheFrameLimitOrWithBadFrames) {
  DecodeLimits limits;
  limits.max_pages = 2;
  auto many =
      DecodeImagePages(AsBytes(NpyBytes("|u1", "(3, 1, 5)", "abcdefghijklmno")), "a.npy", limits);
  EXPECT_EQ(many.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(many.status().message().find("3 frames"), std::string::npos);
  auto rgba =
      DecodeImagePages(AsBytes(NpyBytes("|u1", "(1, 1, 5, 4)", std::string(20, 'x'))), "a.npy");
  EXPECT_NE(rgba.status().message().find("4 channels"), std::string::npos);
  auto cut = DecodeImagePages(AsBytes(NpyBytes("|u1", "(2, 1, 5)", "abcdefghi")), "a.npy");
  EXPECT_NE(cut.status().message().find("corrupt or truncated"), std::string::npos);
  auto none = DecodeImagePages(AsBytes(NpyBytes("|u1", "(0, 1, 5)", "")), "a.npy");
  EXPECT_NE(none.status().message().find("no frames"), std::string::npos);
}

TEST_F(ImageIoTest, PageDecoderDecodesSinglePagesInAnyOrder) {
  const cv::Mat a = Gradient(10, 7, CV_8UC1);
  const cv::Mat b = Gradient(5, 9, CV_16UC1);
  const cv::Mat c = Gradient(6, 6, CV_8UC3);
  const std::string tiff = WriteTiff({a, b, c});
  auto decoder = PageDecoder::Open(AsBytes(tiff), "stack.tif");
  ASSERT_TRUE(decoder.ok()) << decoder.status().ToString();
  ASSERT_EQ((*decoder)->page_count(), 3);
  const std::vector<cv::Mat> expected = {a, b, c};
  // Ascending (next directory), repeated, backwards (seek) and after a seek.
  for (int index : {1, 2, 2, 0, 2, 1}) {
    auto page = (*decoder)->DecodePage(index);
    ASSERT_TRUE(page.ok()) << "page " << index << ": " << page.status().ToString();
    const cv::Mat& want = expected[static_cast<std::size_t>(index)];
    if (want.channels() == 3) {
      cv::Mat bgr;
      cv::cvtColor(want, bgr, cv::COLOR_RGB2BGR);
      EXPECT_TRUE(SameMat(*page, bgr)) << "page " << index;
    } else {
      EXPECT_TRUE(SameMat(*page, want)) << "page " << index;
    }
  }
  EXPECT_EQ((*decoder)->DecodePage(3).status().code(), StatusCode::kOutOfRange);

  const std::string png_bytes = *EncodePng(a);  // the decoder borrows the bytes
  auto png = PageDecoder::Open(AsBytes(png_bytes), "a.png");
  ASSERT_TRUE(png.ok());
  EXPECT_EQ((*png)->page_count(), 1);
  EXPECT_TRUE(SameMat(*(*png)->DecodePage(0), a));
  EXPECT_EQ((*png)->DecodePage(1).status().code(), StatusCode::kOutOfRange);
}

TEST_F(ImageIoTest, CountImageFilePagesReadsOnlyHeaders) {
  const fs::path npy = dir_ / "tl.npy";
  std::ofstream(npy, std::ios::binary) << NpyBytes("<u2", "(4, 2, 5)", std::string(80, '\0'));
  const fs::path tiff = dir_ / "stack.tif";
  const cv::Mat page = Gradient(4, 4, CV_8UC1);
  std::ofstream(tiff, std::ios::binary) << WriteTiff({page, page});
  const fs::path png = dir_ / "a.png";
  std::ofstream(png, std::ios::binary) << *EncodePng(page);
  EXPECT_EQ(*CountImageFilePages(npy), 4);
  EXPECT_EQ(*CountImageFilePages(tiff), 2);
  EXPECT_EQ(*CountImageFilePages(png), 1);
  const fs::path cut = dir_ / "cut.npy";
  std::ofstream(cut, std::ios::binary) << NpyBytes("|u1", "(4, 2, 5)", std::string(39, '\0'));
  EXPECT_FALSE(CountImageFilePages(cut).ok());
  EXPECT_EQ(CountImageFilePages(dir_ / "missing.npy").status().code(), StatusCode::kNotFound);
}

TEST_F(ImageIoTest, RejectsUnsupportedNpyArrays) {
  struct Case {
    std::string npy, expected;
  };
  const std::vector<Case> cases = {
      {NpyBytes("<f4", "(1, 1)", std::string(4, '\0')), "NPY dtype '<f4' is not supported"},
      {NpyBytes("|u1", "(2, 2)", "abcd", /*fortran=*/true), "Fortran order"},
      {NpyBytes("|u1", "(4,)", "abcd"), "1 dimensions"},
      {NpyBytes("|u1", "(1, 1, 4)", "abcd"), "4 channels are not supported (expected 1 or 3)"},
      {NpyBytes("|u1", "(2, 2)", "abc"), "corrupt or truncated"},
      {NpyBytes("|u1", "(0, 2)", ""), "zero-sized"},
      {std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 17), "corrupt or truncated"},
  };
  for (const Case& c : cases) {
    auto result = DecodeImage(AsBytes(c.npy), "a.npy");
    ASSERT_FALSE(result.ok()) << c.expected;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << c.expected;
    EXPECT_NE(result.status().message().find(c.expected), std::string::npos)
        << result.status().message();
  }
}

// ---- raw arrays

TEST(ImageFromRawTest, BuildsGrayAndRgbImages) {
  const std::array<std::uint16_t, 6> gray = {0, 1, 2, 300, 65535, 7};
  auto image = ImageFromRaw(std::as_bytes(std::span(gray)), 3, 2, 1, DType::kUInt16, "raw");
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->type(), CV_16UC1);
  EXPECT_EQ(image->at<std::uint16_t>(1, 1), 65535);

  const std::array<std::uint8_t, 3> rgb = {30, 20, 10};
  auto color = ImageFromRaw(std::as_bytes(std::span(rgb)), 1, 1, 3, DType::kUInt8, "raw");
  ASSERT_TRUE(color.ok()) << color.status().ToString();
  EXPECT_EQ(color->at<cv::Vec3b>(0, 0), cv::Vec3b(10, 20, 30));
}

TEST(ImageFromRawTest, RejectsInconsistentArrays) {
  const std::vector<std::byte> six(6);
  EXPECT_EQ(ImageFromRaw(six, 3, 2, 1, DType::kUInt16, "r").status().code(),
            StatusCode::kInvalidArgument);  // 6 bytes, needs 12
  EXPECT_EQ(ImageFromRaw(six, 3, 2, 1, DType::kFloat32, "r").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ImageFromRaw(six, 3, 1, 2, DType::kUInt8, "r").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ImageFromRaw(six, 0, 2, 1, DType::kUInt8, "r").status().code(),
            StatusCode::kInvalidArgument);
  auto wrong = ImageFromRaw(six, 2, 2, 1, DType::kUInt8, "req-7");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("image 'req-7': raw data has 6 bytes"), std::string::npos)
      << wrong.status().message();
  EXPECT_TRUE(ImageFromRaw(six, 3, 2, 1, DType::kUInt8, "r").ok());
}

}  // namespace
}  // namespace orbit::vision

namespace orbit::vision {
namespace {

TEST(LabelsTo16BitTest, ConvertsLabelsAndRefusesMoreThan65535Objects) {
  cv::Mat labels(2, 2, CV_32S, cv::Scalar(0));
  labels.at<int>(1, 1) = 65535;
  auto ok = LabelsTo16Bit(labels);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->depth(), CV_16U);
  EXPECT_EQ(ok->at<std::uint16_t>(1, 1), 65535);
  labels.at<int>(0, 0) = 65536;
  auto too_many = LabelsTo16Bit(labels);
  EXPECT_EQ(too_many.status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(too_many.status().message(), "65536 objects do not fit a 16-bit label image");
}

}  // namespace
}  // namespace orbit::vision
