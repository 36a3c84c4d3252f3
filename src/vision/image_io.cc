#include "vision/image_io.h"

#include <tiffio.h>
#include <zlib.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/file.h"

namespace orbit::vision {
namespace {

using Bytes = std::span<const std::byte>;

// Every message starts with "image '<name>': " so the caller never has to add context.
class ImageErrors {
 public:
  explicit ImageErrors(std::string_view name) : prefix_("image '" + std::string(name) + "': ") {}

  Status Invalid(const std::string& reason) const { return InvalidArgumentError(prefix_ + reason); }
  Status Corrupt(const std::string& detail) const {
    return Invalid("could not be decoded (corrupt or truncated: " + detail + ")");
  }
  Status TooLarge(const std::string& reason) const {
    return ResourceExhaustedError(prefix_ + reason);
  }

 private:
  std::string prefix_;
};

std::uint8_t ByteAt(Bytes bytes, std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); }
std::uint32_t ReadBE16(Bytes b, std::size_t i) {
  return (std::uint32_t{ByteAt(b, i)} << 8) | ByteAt(b, i + 1);
}
std::uint32_t ReadBE32(Bytes b, std::size_t i) {
  return (ReadBE16(b, i) << 16) | ReadBE16(b, i + 2);
}
std::uint32_t ReadLE16(Bytes b, std::size_t i) {
  return (std::uint32_t{ByteAt(b, i + 1)} << 8) | ByteAt(b, i);
}
std::uint32_t ReadLE32(Bytes b, std::size_t i) {
  return (ReadLE16(b, i + 2) << 16) | ReadLE16(b, i);
}

bool StartsWith(Bytes bytes, std::string_view magic) {
  if (bytes.size() < magic.size()) return false;
  return std::memcmp(bytes.data(), magic.data(), magic.size()) == 0;
}

std::string HexPrefix(Bytes bytes) {
  std::string out;
  const std::size_t n = std::min<std::size_t>(bytes.size(), 8);
  for (std::size_t i = 0; i < n; ++i) {
    char hex[4];
    std::snprintf(hex, sizeof(hex), "%02x", ByteAt(bytes, i));
    if (i > 0) out += ' ';
    out += hex;
  }
  return out;
}

// The one size check every format goes through, before any pixel buffer exists.
Status CheckDimensions(const ImageErrors& err, std::int64_t width, std::int64_t height,
                       const DecodeLimits& limits, const std::string& page_label = "") {
  const std::string dims = std::to_string(width) + " x " + std::to_string(height);
  if (width <= 0 || height <= 0) {
    return err.Invalid(page_label + "header says " + dims + " pixels (a zero-sized image)");
  }
  const bool too_large = width > std::numeric_limits<int>::max() ||
                         height > std::numeric_limits<int>::max() ||
                         height > limits.max_pixels / width;
  if (too_large) {
    return err.TooLarge(page_label + "header claims " + dims + " pixels, over the limit of " +
                        std::to_string(limits.max_pixels));
  }
  return Status::Ok();
}

Status CheckChannelCount(const ImageErrors& err, std::int64_t channels,
                         const std::string& page_label = "") {
  if (channels == 1 || channels == 3) return Status::Ok();
  return err.Invalid(page_label + std::to_string(channels) +
                     " channels are not supported (expected 1 or 3)");
}

// Final check of a decoded page against the contract: 8/16-bit unsigned, 1 or 3 channels.
Status CheckDecoded(const ImageErrors& err, const cv::Mat& image, std::int64_t width,
                    std::int64_t height) {
  if (image.empty()) return err.Corrupt("the decoder produced no pixels");
  if (image.cols != width || image.rows != height) {
    return err.Corrupt("decoded " + std::to_string(image.cols) + " x " +
                       std::to_string(image.rows) + " pixels, header says " +
                       std::to_string(width) + " x " + std::to_string(height));
  }
  ORBIT_RETURN_IF_ERROR(CheckChannelCount(err, image.channels()));
  if (image.depth() != CV_8U && image.depth() != CV_16U) {
    return err.Invalid("pixel depth " + std::to_string(image.depth()) +
                       " is not supported (expected 8- or 16-bit unsigned)");
  }
  return Status::Ok();
}

Result<cv::Mat> DecodeWithOpenCv(const ImageErrors& err, Bytes bytes, std::int64_t width,
                                 std::int64_t height) {
  cv::Mat image;
  try {
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8U,
                         const_cast<std::byte*>(bytes.data()));
    image = cv::imdecode(buffer, cv::IMREAD_UNCHANGED | cv::IMREAD_ANYDEPTH);
  } catch (const cv::Exception& e) {
    return err.Corrupt(e.what());
  }
  ORBIT_RETURN_IF_ERROR(CheckDecoded(err, image, width, height));
  return image;
}

// ---- PNG: IHDR for the size, and the chunk chain must reach IEND (so a cut file is an error,
// not a half-black image: libpng only warns about missing trailing data).

Result<cv::Mat> DecodePng(const ImageErrors& err, Bytes bytes, const DecodeLimits& limits) {
  constexpr std::size_t kSignature = 8;
  if (bytes.size() < kSignature + 8 + 13 ||
      std::memcmp(bytes.data() + kSignature + 4, "IHDR", 4) != 0 ||
      ReadBE32(bytes, kSignature) != 13) {
    return err.Corrupt("no IHDR chunk after the PNG signature");
  }
  const std::int64_t width = ReadBE32(bytes, 16);
  const std::int64_t height = ReadBE32(bytes, 20);
  const int bit_depth = ByteAt(bytes, 24);
  const int color_type = ByteAt(bytes, 25);
  ORBIT_RETURN_IF_ERROR(CheckDimensions(err, width, height, limits));
  switch (color_type) {
    case 0:  // gray
    case 2:  // RGB
    case 3:  // palette (expanded to BGR by the decoder)
      break;
    case 4:
      return err.Invalid("2 channels are not supported (expected 1 or 3)");
    case 6:
      return err.Invalid("4 channels are not supported (expected 1 or 3)");
    default:
      return err.Corrupt("unknown PNG colour type " + std::to_string(color_type));
  }
  if (bit_depth != 1 && bit_depth != 2 && bit_depth != 4 && bit_depth != 8 && bit_depth != 16) {
    return err.Corrupt("invalid PNG bit depth " + std::to_string(bit_depth));
  }
  // Walk the chunk chain; each chunk is length, type, data, CRC.
  std::size_t pos = kSignature;
  bool has_iend = false;
  while (pos + 12 <= bytes.size()) {
    const std::uint64_t length = ReadBE32(bytes, pos);
    if (length > 0x7fffffffu) return err.Corrupt("PNG chunk length out of range");
    const bool is_iend = std::memcmp(bytes.data() + pos + 4, "IEND", 4) == 0;
    if (pos + 12 + length > bytes.size()) break;
    // Every chunk's CRC is checked before decoding: corrupt data is reported precisely here
    // instead of surfacing as libpng's own message on stderr or as garbage pixels.
    const auto* chunk = reinterpret_cast<const Bytef*>(bytes.data() + pos + 4);
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), chunk, static_cast<uInt>(4 + length));
    if (crc != ReadBE32(bytes, pos + 8 + length)) {
      return err.Corrupt("PNG chunk '" + std::string(reinterpret_cast<const char*>(chunk), 4) +
                         "' at byte " + std::to_string(pos) + " fails its CRC check");
    }
    pos += 12 + length;
    if (is_iend) {
      has_iend = true;
      break;
    }
  }
  if (!has_iend) return err.Corrupt("the PNG data ends before its IEND chunk");
  return DecodeWithOpenCv(err, bytes, width, height);
}

// ---- JPEG: the frame header (SOFn) for the size; the marker chain must reach EOI (libjpeg
// fills a cut file with gray and only warns).

bool IsStartOfFrame(std::uint8_t marker) {
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

Result<cv::Mat> DecodeJpeg(const ImageErrors& err, Bytes bytes, const DecodeLimits& limits) {
  std::size_t pos = 2;  // after SOI
  std::int64_t width = -1, height = -1;
  bool has_eoi = false;
  while (pos + 1 < bytes.size()) {
    if (ByteAt(bytes, pos) != 0xFF) return err.Corrupt("JPEG marker expected");
    const std::uint8_t marker = ByteAt(bytes, pos + 1);
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xD9) {
      has_eoi = true;
      break;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no payload
      pos += 2;
      continue;
    }
    if (pos + 4 > bytes.size()) break;
    const std::size_t length = ReadBE16(bytes, pos + 2);
    if (length < 2) return err.Corrupt("JPEG segment length out of range");
    if (pos + 2 + length > bytes.size()) break;
    if (IsStartOfFrame(marker) && width < 0) {
      if (length < 8) return err.Corrupt("JPEG frame header too short");
      height = ReadBE16(bytes, pos + 5);
      width = ReadBE16(bytes, pos + 7);
      ORBIT_RETURN_IF_ERROR(CheckDimensions(err, width, height, limits));
      const int components = ByteAt(bytes, pos + 9);
      if (components != 1 && components != 3 && components != 4) {
        return err.Invalid(std::to_string(components) +
                           " channels are not supported (expected 1 or 3)");
      }
    }
    pos += 2 + length;
    if (marker == 0xDA) {  // start of scan: skip entropy-coded data up to the next marker
      if (width < 0) return err.Corrupt("JPEG scan before its frame header");
      while (pos + 1 < bytes.size()) {
        if (ByteAt(bytes, pos) == 0xFF) {
          const std::uint8_t next = ByteAt(bytes, pos + 1);
          if (next != 0x00 && next != 0xFF && !(next >= 0xD0 && next <= 0xD7)) break;
          pos += next == 0xFF ? 1 : 2;
        } else {
          ++pos;
        }
      }
    }
  }
  if (width < 0) return err.Corrupt("no JPEG frame header");
  if (!has_eoi) return err.Corrupt("the JPEG data ends before its end-of-image marker");
  return DecodeWithOpenCv(err, bytes, width, height);
}

// ---- NPY: numpy's own format, uint8/uint16 in C order: an image (H, W) or (H, W, C), or a stack
// of frames (T, H, W) or (T, H, W, C) — a time-lapse series or z-stack, one page per frame.
// A 3-D array whose last axis is 1..4 long is an image with channels, any other 3-D array a stack
// (an image 1 to 4 pixels wide is not a plausible input). 3-channel data is taken as RGB (the
// numpy convention) and returned as BGR like every decoded image. Frames are read by offset, so
// a stack is never decoded whole.

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
  std::size_t data_offset = 0;
};

Result<std::string> NpyQuotedValue(const ImageErrors& err, std::string_view dict,
                                   std::string_view key) {
  const std::size_t k = dict.find("'" + std::string(key) + "'");
  if (k == std::string_view::npos)
    return err.Corrupt("NPY header has no '" + std::string(key) + "'");
  const std::size_t open = dict.find_first_of("'\"", dict.find(':', k) + 1);
  if (open == std::string_view::npos)
    return err.Corrupt("NPY header: bad '" + std::string(key) + "'");
  const std::size_t close = dict.find(dict[open], open + 1);
  if (close == std::string_view::npos)
    return err.Corrupt("NPY header: bad '" + std::string(key) + "'");
  return std::string(dict.substr(open + 1, close - open - 1));
}

Result<NpyHeader> ParseNpyHeader(const ImageErrors& err, Bytes bytes) {
  if (bytes.size() < 10) return err.Corrupt("NPY header is cut short");
  const int major = ByteAt(bytes, 6);
  std::size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = ReadLE16(bytes, 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return err.Corrupt("NPY header is cut short");
    header_len = ReadLE32(bytes, 8);
    header_start = 12;
  } else {
    return err.Corrupt("unknown NPY format version " + std::to_string(major));
  }
  if (header_start + header_len > bytes.size()) return err.Corrupt("NPY header is cut short");
  const std::string_view dict(reinterpret_cast<const char*>(bytes.data()) + header_start,
                              header_len);
  NpyHeader header;
  header.data_offset = header_start + header_len;
  ORBIT_ASSIGN_OR_RETURN(header.descr, NpyQuotedValue(err, dict, "descr"));
  const std::size_t fortran = dict.find("'fortran_order'");
  if (fortran == std::string_view::npos) return err.Corrupt("NPY header has no 'fortran_order'");
  const std::size_t colon = dict.find(':', fortran);
  const std::string_view fortran_value =
      dict.substr(colon + 1, dict.find_first_of(",}", colon) - colon - 1);
  header.fortran_order = fortran_value.find("True") != std::string_view::npos;
  const std::size_t shape_key = dict.find("'shape'");
  if (shape_key == std::string_view::npos) return err.Corrupt("NPY header has no 'shape'");
  const std::size_t open = dict.find('(', shape_key);
  const std::size_t close = dict.find(')', open == std::string_view::npos ? shape_key : open);
  if (open == std::string_view::npos || close == std::string_view::npos) {
    return err.Corrupt("NPY header: bad 'shape'");
  }
  const std::string_view dims = dict.substr(open + 1, close - open - 1);
  std::size_t i = 0;
  while (i < dims.size()) {
    while (i < dims.size() && (dims[i] == ' ' || dims[i] == ',')) ++i;
    if (i >= dims.size()) break;
    std::int64_t value = 0;
    bool any = false;
    while (i < dims.size() && dims[i] >= '0' && dims[i] <= '9') {
      if (value > (std::int64_t{1} << 40)) return err.Corrupt("NPY shape dimension out of range");
      value = value * 10 + (dims[i] - '0');
      ++i;
      any = true;
    }
    while (i < dims.size() && dims[i] == 'L') ++i;  // Python 2 longs
    if (!any) return err.Corrupt("NPY header: bad 'shape'");
    header.shape.push_back(value);
  }
  return header;
}

// Where the frames of an NPY array lie and what each one is.
struct NpyLayout {
  int frames = 1;
  int height = 0, width = 0, channels = 1;
  int depth = CV_8U;
  bool swap_bytes = false;
  std::size_t data_offset = 0;
  std::size_t frame_bytes = 0;
};

// Checks the header against the limits and `file_bytes` (the whole file's size, which may be
// more than the header bytes given) before any pixel buffer exists.
Result<NpyLayout> ReadNpyLayout(const ImageErrors& err, Bytes header_bytes,
                                std::uint64_t file_bytes, const DecodeLimits& limits) {
  ORBIT_ASSIGN_OR_RETURN(const NpyHeader header, ParseNpyHeader(err, header_bytes));
  NpyLayout layout;
  const std::string& d = header.descr;
  if (d == "|u1" || d == "<u1" || d == ">u1" || d == "u1" || d == "=u1") {
    layout.depth = CV_8U;
  } else if (d == "<u2" || d == "=u2") {
    layout.depth = CV_16U;
  } else if (d == ">u2") {
    layout.depth = CV_16U;
    layout.swap_bytes = true;
  } else {
    return err.Invalid("NPY dtype '" + d +
                       "' is not supported (expected uint8 '|u1' or uint16 '<u2')");
  }
  if (header.fortran_order) {
    return err.Invalid("NPY array is in Fortran order (expected C order)");
  }
  // Split the shape into (frames, height, width, channels).
  const auto& shape = header.shape;
  std::int64_t frames = 1, height = 0, width = 0, channels = 1;
  const bool stack_3d = shape.size() == 3 && shape[2] > 4;
  if (shape.size() == 2) {
    height = shape[0];
    width = shape[1];
  } else if (shape.size() == 3 && !stack_3d) {
    height = shape[0];
    width = shape[1];
    channels = shape[2];
  } else if (shape.size() == 3) {
    frames = shape[0];
    height = shape[1];
    width = shape[2];
  } else if (shape.size() == 4) {
    frames = shape[0];
    height = shape[1];
    width = shape[2];
    channels = shape[3];
  } else {
    return err.Invalid("NPY array has " + std::to_string(shape.size()) +
                       " dimensions (expected (height, width), (height, width, channels), "
                       "(frames, height, width) or (frames, height, width, channels))");
  }
  if (frames <= 0) return err.Invalid("NPY stack has no frames (shape starts with 0)");
  if (frames > limits.max_pages) {
    return err.TooLarge("NPY stack has " + std::to_string(frames) + " frames, over the limit of " +
                        std::to_string(limits.max_pages));
  }
  ORBIT_RETURN_IF_ERROR(CheckDimensions(err, width, height, limits));
  ORBIT_RETURN_IF_ERROR(CheckChannelCount(err, channels));
  layout.frames = static_cast<int>(frames);
  layout.height = static_cast<int>(height);
  layout.width = static_cast<int>(width);
  layout.channels = static_cast<int>(channels);
  layout.data_offset = header.data_offset;
  const std::uint64_t element = layout.depth == CV_8U ? 1 : 2;
  // No overflow: height * width <= max_pixels (checked), frames <= max_pages, channels <= 3.
  layout.frame_bytes = static_cast<std::size_t>(height * width * channels) * element;
  const std::uint64_t expected = static_cast<std::uint64_t>(frames) * layout.frame_bytes;
  const std::uint64_t available = file_bytes - header.data_offset;
  if (available != expected) {
    return err.Corrupt("NPY data has " + std::to_string(available) + " bytes, shape needs " +
                       std::to_string(expected));
  }
  return layout;
}

cv::Mat DecodeNpyFrame(const NpyLayout& layout, Bytes bytes, int frame) {
  cv::Mat image(layout.height, layout.width, CV_MAKETYPE(layout.depth, layout.channels));
  std::memcpy(
      image.data,
      bytes.data() + layout.data_offset + static_cast<std::size_t>(frame) * layout.frame_bytes,
      layout.frame_bytes);
  if (layout.swap_bytes) {
    auto* p = reinterpret_cast<std::uint16_t*>(image.data);
    for (std::size_t k = 0; k < layout.frame_bytes / 2; ++k)
      p[k] = static_cast<std::uint16_t>((p[k] >> 8) | (p[k] << 8));
  }
  if (layout.channels == 3) cv::cvtColor(image, image, cv::COLOR_RGB2BGR);
  return image;
}

// ---- TIFF via libtiff on the in-memory bytes. Pass 1 reads every directory's tags (no pixel
// data) and checks sizes and pixel types; pass 2 reads strips or tiles.

struct TiffSource {
  Bytes bytes;
  toff_t pos = 0;
  std::string error;  // last libtiff error, for the message
};

tmsize_t TiffRead(thandle_t handle, void* buffer, tmsize_t size) {
  auto* src = static_cast<TiffSource*>(handle);
  if (size <= 0 || src->pos >= src->bytes.size()) return 0;
  const auto n = static_cast<std::size_t>(
      std::min<std::uint64_t>(static_cast<std::uint64_t>(size), src->bytes.size() - src->pos));
  std::memcpy(buffer, src->bytes.data() + src->pos, n);
  src->pos += n;
  return static_cast<tmsize_t>(n);
}
tmsize_t TiffWrite(thandle_t, void*, tmsize_t) { return -1; }
toff_t TiffSeek(thandle_t handle, toff_t offset, int whence) {
  auto* src = static_cast<TiffSource*>(handle);
  std::uint64_t base = 0;
  if (whence == SEEK_CUR) base = src->pos;
  if (whence == SEEK_END) base = src->bytes.size();
  const std::uint64_t target = base + offset;  // offset may be a negative value cast to toff_t
  if (target > (std::uint64_t{1} << 62)) return static_cast<toff_t>(-1);
  src->pos = target;
  return target;
}
int TiffClose(thandle_t) { return 0; }
toff_t TiffSize(thandle_t handle) { return static_cast<TiffSource*>(handle)->bytes.size(); }
int TiffMap(thandle_t handle, void** base, toff_t* size) {
  auto* src = static_cast<TiffSource*>(handle);
  *base = const_cast<std::byte*>(src->bytes.data());
  *size = src->bytes.size();
  return 1;
}
void TiffUnmap(thandle_t, void*, toff_t) {}

int TiffErrorHandler(TIFF*, void* user_data, const char* module, const char* fmt, va_list ap) {
  char text[512];
  std::vsnprintf(text, sizeof(text), fmt, ap);
  auto* src = static_cast<TiffSource*>(user_data);
  src->error = (module != nullptr && *module != '\0' ? std::string(module) + ": " : "") + text;
  return 1;
}
int TiffWarningHandler(TIFF*, void*, const char*, const char*, va_list) { return 1; }

struct TiffCloser {
  void operator()(TIFF* tiff) const { TIFFClose(tiff); }
};
struct TiffOptionsDeleter {
  void operator()(TIFFOpenOptions* options) const { TIFFOpenOptionsFree(options); }
};

struct TiffPage {
  std::uint32_t width = 0, height = 0;
  std::uint16_t samples = 1, bits = 1, format = SAMPLEFORMAT_UINT;
  std::uint16_t planar = PLANARCONFIG_CONTIG, photometric = PHOTOMETRIC_MINISBLACK;
  std::uint16_t compression = COMPRESSION_NONE;
};

std::string SampleTypeName(const TiffPage& page) {
  std::string kind = "unsigned";
  if (page.format == SAMPLEFORMAT_INT) kind = "signed integer";
  if (page.format == SAMPLEFORMAT_IEEEFP) kind = "float";
  if (page.format == SAMPLEFORMAT_COMPLEXINT || page.format == SAMPLEFORMAT_COMPLEXIEEEFP) {
    kind = "complex";
  }
  return std::to_string(page.bits) + "-bit " + kind;
}

Result<TiffPage> ReadTiffPageHeader(const ImageErrors& err, TIFF* tiff, const DecodeLimits& limits,
                                    const std::string& label) {
  TiffPage page;
  TIFFGetField(tiff, TIFFTAG_IMAGEWIDTH, &page.width);
  TIFFGetField(tiff, TIFFTAG_IMAGELENGTH, &page.height);
  TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLESPERPIXEL, &page.samples);
  TIFFGetFieldDefaulted(tiff, TIFFTAG_BITSPERSAMPLE, &page.bits);
  TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLEFORMAT, &page.format);
  TIFFGetFieldDefaulted(tiff, TIFFTAG_PLANARCONFIG, &page.planar);
  TIFFGetFieldDefaulted(tiff, TIFFTAG_COMPRESSION, &page.compression);
  if (!TIFFGetField(tiff, TIFFTAG_PHOTOMETRIC, &page.photometric)) {
    page.photometric = page.samples >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
  }
  ORBIT_RETURN_IF_ERROR(CheckDimensions(err, page.width, page.height, limits, label));
  ORBIT_RETURN_IF_ERROR(CheckChannelCount(err, page.samples, label));
  const bool unsigned_samples =
      page.format == SAMPLEFORMAT_UINT || page.format == SAMPLEFORMAT_VOID;
  if (!unsigned_samples || (page.bits != 8 && page.bits != 16)) {
    return err.Invalid(label + SampleTypeName(page) +
                       " samples are not supported (expected 8- or 16-bit unsigned)");
  }
  switch (page.photometric) {
    case PHOTOMETRIC_MINISBLACK:
    case PHOTOMETRIC_MINISWHITE:
    case PHOTOMETRIC_RGB:
      break;
    case PHOTOMETRIC_YCBCR:
      if (page.compression == COMPRESSION_JPEG || page.compression == COMPRESSION_OJPEG) break;
      return err.Invalid(label + "uncompressed YCbCr TIFF is not supported");
    case PHOTOMETRIC_PALETTE:
      return err.Invalid(label + "palette (indexed colour) TIFF is not supported");
    default:
      return err.Invalid(label + "TIFF photometric interpretation " +
                         std::to_string(page.photometric) + " is not supported");
  }
  return page;
}

// Copies `rows` × `cols` pixels of one decoded strip/tile (row stride `src_stride` bytes) to
// (x0, y0) of `image`; `plane` >= 0 for planar-separate data (one sample per pixel).
void CopyBlock(const std::uint8_t* src, std::size_t src_stride, int x0, int y0, int cols, int rows,
               int plane, cv::Mat& image) {
  const std::size_t elem = image.elemSize1();
  const int channels = image.channels();
  for (int r = 0; r < rows; ++r) {
    std::uint8_t* dst =
        image.ptr<std::uint8_t>(y0 + r) + static_cast<std::size_t>(x0) * image.elemSize();
    const std::uint8_t* in = src + r * src_stride;
    if (plane < 0) {
      std::memcpy(dst, in, static_cast<std::size_t>(cols) * image.elemSize());
    } else {
      for (int c = 0; c < cols; ++c) {
        std::memcpy(dst + (static_cast<std::size_t>(c) * channels + plane) * elem, in + c * elem,
                    elem);
      }
    }
  }
}

Result<cv::Mat> ReadTiffPixels(const ImageErrors& err, TIFF* tiff, TiffSource& src,
                               const TiffPage& page, const std::string& label) {
  if (page.photometric == PHOTOMETRIC_YCBCR) {
    TIFFSetField(tiff, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
  }
  const int depth = page.bits == 8 ? CV_8U : CV_16U;
  cv::Mat image(static_cast<int>(page.height), static_cast<int>(page.width),
                CV_MAKETYPE(depth, page.samples));
  const bool separate = page.planar == PLANARCONFIG_SEPARATE && page.samples > 1;
  const int planes = separate ? page.samples : 1;
  const std::size_t pixel_bytes = (separate ? 1 : page.samples) * (page.bits / 8);
  auto fail = [&](const std::string& what) {
    return err.Corrupt(label + what + (src.error.empty() ? "" : ": " + src.error));
  };
  if (TIFFIsTiled(tiff)) {
    std::uint32_t tw = 0, th = 0;
    TIFFGetField(tiff, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tiff, TIFFTAG_TILELENGTH, &th);
    const tmsize_t tile_size = TIFFTileSize(tiff);
    if (tw == 0 || th == 0 || tile_size <= 0 ||
        static_cast<std::uint64_t>(tile_size) < std::uint64_t{tw} * th * pixel_bytes) {
      return fail("bad TIFF tile layout");
    }
    std::vector<std::uint8_t> buffer(static_cast<std::size_t>(tile_size));
    for (int plane = 0; plane < planes; ++plane) {
      for (std::uint32_t y = 0; y < page.height; y += th) {
        for (std::uint32_t x = 0; x < page.width; x += tw) {
          const ttile_t tile = TIFFComputeTile(tiff, x, y, 0, static_cast<tsample_t>(plane));
          if (TIFFReadEncodedTile(tiff, tile, buffer.data(), tile_size) < 0) {
            return fail("cannot read TIFF tile " + std::to_string(tile));
          }
          CopyBlock(buffer.data(), tw * pixel_bytes, static_cast<int>(x), static_cast<int>(y),
                    static_cast<int>(std::min(tw, page.width - x)),
                    static_cast<int>(std::min(th, page.height - y)), separate ? plane : -1, image);
        }
      }
    }
  } else {
    std::uint32_t rows_per_strip = 0;
    TIFFGetFieldDefaulted(tiff, TIFFTAG_ROWSPERSTRIP, &rows_per_strip);
    rows_per_strip = std::clamp<std::uint32_t>(rows_per_strip, 1, page.height);
    const std::size_t row_bytes = page.width * pixel_bytes;
    const tmsize_t strip_size = TIFFStripSize(tiff);
    if (strip_size <= 0 || static_cast<std::uint64_t>(strip_size) < rows_per_strip * row_bytes) {
      return fail("bad TIFF strip layout");
    }
    std::vector<std::uint8_t> buffer(static_cast<std::size_t>(strip_size));
    for (int plane = 0; plane < planes; ++plane) {
      for (std::uint32_t y = 0; y < page.height; y += rows_per_strip) {
        const std::uint32_t rows = std::min(rows_per_strip, page.height - y);
        const tstrip_t strip = TIFFComputeStrip(tiff, y, static_cast<tsample_t>(plane));
        const tmsize_t got = TIFFReadEncodedStrip(tiff, strip, buffer.data(), strip_size);
        if (got < 0 || static_cast<std::uint64_t>(got) < rows * row_bytes) {
          return fail("cannot read TIFF strip " + std::to_string(strip));
        }
        CopyBlock(buffer.data(), row_bytes, 0, static_cast<int>(y), static_cast<int>(page.width),
                  static_cast<int>(rows), separate ? plane : -1, image);
      }
    }
  }
  if (page.photometric == PHOTOMETRIC_MINISWHITE) cv::bitwise_not(image, image);
  if (page.samples == 3) cv::cvtColor(image, image, cv::COLOR_RGB2BGR);
  return image;
}

std::unique_ptr<TIFFOpenOptions, TiffOptionsDeleter> TiffOpenOptions(TiffSource& src,
                                                                     const DecodeLimits& limits) {
  std::unique_ptr<TIFFOpenOptions, TiffOptionsDeleter> options(TIFFOpenOptionsAlloc());
  TIFFOpenOptionsSetErrorHandlerExtR(options.get(), TiffErrorHandler, &src);
  TIFFOpenOptionsSetWarningHandlerExtR(options.get(), TiffWarningHandler, &src);
  // libtiff's own allocations (strip tables, codec state) stay proportional to the page limit.
  TIFFOpenOptionsSetMaxSingleMemAlloc(
      options.get(),
      static_cast<tmsize_t>(std::min<std::int64_t>(limits.max_pixels, std::int64_t{1} << 40) * 8 +
                            (std::int64_t{64} << 20)));
  return options;
}

// PNG and JPEG: one page, checked and decoded by DecodePage(0).
class SinglePageDecoder final : public PageDecoder {
 public:
  SinglePageDecoder(Bytes bytes, std::string_view name, const DecodeLimits& limits, bool is_png)
      : bytes_(bytes), err_(name), limits_(limits), is_png_(is_png) {}
  int page_count() const override { return 1; }
  Result<cv::Mat> DecodePage(int index) override {
    if (index != 0) return OutOfRangeError("image has 1 page, no page " + std::to_string(index));
    return is_png_ ? DecodePng(err_, bytes_, limits_) : DecodeJpeg(err_, bytes_, limits_);
  }

 private:
  Bytes bytes_;
  ImageErrors err_;
  DecodeLimits limits_;
  bool is_png_;
};

// NPY: the header is checked once; a frame is one memcpy from its offset.
class NpyPageDecoder final : public PageDecoder {
 public:
  NpyPageDecoder(Bytes bytes, const NpyLayout& layout) : bytes_(bytes), layout_(layout) {}
  int page_count() const override { return layout_.frames; }
  Result<cv::Mat> DecodePage(int index) override {
    if (index < 0 || index >= layout_.frames) {
      return OutOfRangeError("NPY stack has " + std::to_string(layout_.frames) +
                             " frame(s), no frame " + std::to_string(index));
    }
    return DecodeNpyFrame(layout_, bytes_, index);
  }

 private:
  Bytes bytes_;
  NpyLayout layout_;
};

// TIFF via libtiff on the in-memory bytes: Open reads every directory's tags (pass 1, no pixel
// data) and checks sizes and pixel types; DecodePage reads one directory's strips or tiles.
// Reading pages in ascending order moves to the next directory (TIFFReadDirectory) instead of
// walking the chain from the start.
class TiffPageDecoder final : public PageDecoder {
 public:
  static Result<std::unique_ptr<PageDecoder>> Open(Bytes bytes, std::string_view name,
                                                   const DecodeLimits& limits,
                                                   bool first_page_only) {
    std::unique_ptr<TiffPageDecoder> d(new TiffPageDecoder(bytes, name));
    const auto options = TiffOpenOptions(d->src_, limits);
    d->tiff_.reset(TIFFClientOpenExt("memory", "rm", &d->src_, TiffRead, TiffWrite, TiffSeek,
                                     TiffClose, TiffSize, TiffMap, TiffUnmap, options.get()));
    if (d->tiff_ == nullptr) {
      return d->err_.Corrupt(d->src_.error.empty() ? "not a readable TIFF" : d->src_.error);
    }
    do {
      if (static_cast<int>(d->pages_.size()) >= limits.max_pages) {
        return d->err_.TooLarge("has more than " + std::to_string(limits.max_pages) +
                                " pages, over the limit");
      }
      ORBIT_ASSIGN_OR_RETURN(
          TiffPage page, ReadTiffPageHeader(d->err_, d->tiff_.get(), limits,
                                            "page " + std::to_string(d->pages_.size() + 1) + ": "));
      d->pages_.push_back(page);
      if (first_page_only) break;
    } while (TIFFReadDirectory(d->tiff_.get()));
    d->current_ = static_cast<int>(d->pages_.size()) - 1;
    return std::unique_ptr<PageDecoder>(std::move(d));
  }

  int page_count() const override { return static_cast<int>(pages_.size()); }

  Result<cv::Mat> DecodePage(int index) override {
    if (index < 0 || index >= page_count()) {
      return OutOfRangeError("TIFF has " + std::to_string(page_count()) + " page(s), no page " +
                             std::to_string(index));
    }
    src_.error.clear();
    const bool moved = index == current_ + 1 ? TIFFReadDirectory(tiff_.get()) != 0
                       : index == current_
                           ? true
                           : TIFFSetDirectory(tiff_.get(), static_cast<tdir_t>(index)) != 0;
    if (!moved) {
      current_ = -2;  // unknown: the next call seeks from the start
      return err_.Corrupt("cannot re-read TIFF directory " + std::to_string(index + 1));
    }
    current_ = index;
    return ReadTiffPixels(err_, tiff_.get(), src_, pages_[static_cast<std::size_t>(index)],
                          "page " + std::to_string(index + 1) + ": ");
  }

 private:
  TiffPageDecoder(Bytes bytes, std::string_view name) : src_{bytes}, err_(name) {}

  TiffSource src_;  // libtiff's handle points here: the decoder never moves (heap only)
  ImageErrors err_;
  std::unique_ptr<TIFF, TiffCloser> tiff_;
  std::vector<TiffPage> pages_;
  int current_ = -2;  // directory libtiff is on
};

Result<std::unique_ptr<PageDecoder>> OpenPages(Bytes bytes, std::string_view name,
                                               const DecodeLimits& limits, bool first_page_only) {
  const ImageErrors err(name);
  if (bytes.empty()) return err.Invalid("file is empty");
  if (bytes.size() > limits.max_file_bytes) {
    return err.TooLarge("is " + std::to_string(bytes.size()) + " bytes, over the limit of " +
                        std::to_string(limits.max_file_bytes));
  }
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return err.TooLarge("is over 2 GiB, which the decoders cannot take");
  }
  switch (DetectFormat(bytes)) {
    case ImageFormat::kPng:
    case ImageFormat::kJpeg:
      return std::unique_ptr<PageDecoder>(std::make_unique<SinglePageDecoder>(
          bytes, name, limits, DetectFormat(bytes) == ImageFormat::kPng));
    case ImageFormat::kNpy: {
      ORBIT_ASSIGN_OR_RETURN(const NpyLayout layout,
                             ReadNpyLayout(err, bytes, bytes.size(), limits));
      return std::unique_ptr<PageDecoder>(std::make_unique<NpyPageDecoder>(bytes, layout));
    }
    case ImageFormat::kTiff:
      return TiffPageDecoder::Open(bytes, name, limits, first_page_only);
    case ImageFormat::kUnknown:
      break;
  }
  return err.Invalid("is not a PNG, JPEG, TIFF or NPY image (starts with bytes " +
                     HexPrefix(bytes) + ")");
}

Result<std::vector<cv::Mat>> DecodePages(Bytes bytes, std::string_view name,
                                         const DecodeLimits& limits, bool first_page_only) {
  ORBIT_ASSIGN_OR_RETURN(auto decoder, OpenPages(bytes, name, limits, first_page_only));
  const int count = first_page_only ? 1 : decoder->page_count();
  std::vector<cv::Mat> pages;
  pages.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    ORBIT_ASSIGN_OR_RETURN(cv::Mat page, decoder->DecodePage(i));
    pages.push_back(std::move(page));
  }
  return pages;
}

Bytes AsBytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

}  // namespace

ImageFormat DetectFormat(std::span<const std::byte> bytes) {
  if (StartsWith(bytes, "\x89PNG\r\n\x1a\n")) return ImageFormat::kPng;
  if (StartsWith(bytes, "\xFF\xD8\xFF")) return ImageFormat::kJpeg;
  if (StartsWith(bytes, std::string_view("II*\0", 4)) ||
      StartsWith(bytes, std::string_view("MM\0*", 4)) ||
      StartsWith(bytes, std::string_view("II+\0", 4)) ||
      StartsWith(bytes, std::string_view("MM\0+", 4))) {
    return ImageFormat::kTiff;
  }
  if (StartsWith(bytes, "\x93NUMPY")) return ImageFormat::kNpy;
  return ImageFormat::kUnknown;
}

Result<std::unique_ptr<PageDecoder>> PageDecoder::Open(std::span<const std::byte> bytes,
                                                       std::string_view name,
                                                       const DecodeLimits& limits) {
  return OpenPages(bytes, name, limits, /*first_page_only=*/false);
}

Result<int> CountImageFilePages(const std::filesystem::path& path, const DecodeLimits& limits) {
  const ImageErrors err(path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("image '" + path.string() + "' cannot be opened");
  std::error_code ec;
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return NotFoundError("image '" + path.string() + "': " + ec.message());
  // The NPY header is at most 64 KiB in practice (version 1 cannot say more); read that much.
  std::string head(static_cast<std::size_t>(std::min<std::uint64_t>(size, 1 << 16)), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  const Bytes head_bytes = AsBytes(head);
  switch (DetectFormat(head_bytes)) {
    case ImageFormat::kNpy: {
      ORBIT_ASSIGN_OR_RETURN(const NpyLayout layout, ReadNpyLayout(err, head_bytes, size, limits));
      return layout.frames;
    }
    case ImageFormat::kTiff: {
      TiffSource src{};
      const auto options = TiffOpenOptions(src, limits);
      std::unique_ptr<TIFF, TiffCloser> tiff(TIFFOpenExt(path.c_str(), "r", options.get()));
      if (tiff == nullptr)
        return err.Corrupt(src.error.empty() ? "not a readable TIFF" : src.error);
      const int pages = static_cast<int>(TIFFNumberOfDirectories(tiff.get()));
      if (pages > limits.max_pages) {
        return err.TooLarge("has " + std::to_string(pages) + " pages, over the limit of " +
                            std::to_string(limits.max_pages));
      }
      return std::max(1, pages);
    }
    default:
      return 1;
  }
}

Result<std::vector<cv::Mat>> DecodeImagePages(std::span<const std::byte> bytes,
                                              std::string_view name, const DecodeLimits& limits) {
  return DecodePages(bytes, name, limits, /*first_page_only=*/false);
}

Result<cv::Mat> DecodeImage(std::span<const std::byte> bytes, std::string_view name,
                            const DecodeLimits& limits) {
  ORBIT_ASSIGN_OR_RETURN(std::vector<cv::Mat> pages,
                         DecodePages(bytes, name, limits, /*first_page_only=*/true));
  return std::move(pages.front());
}

Result<cv::Mat> ReadImageFile(const std::filesystem::path& path, const DecodeLimits& limits) {
  ORBIT_ASSIGN_OR_RETURN(const std::string bytes, ReadFileBytes(path, limits.max_file_bytes));
  return DecodeImage(AsBytes(bytes), path.string(), limits);
}

Result<std::vector<cv::Mat>> ReadImagePagesFile(const std::filesystem::path& path,
                                                const DecodeLimits& limits) {
  ORBIT_ASSIGN_OR_RETURN(const std::string bytes, ReadFileBytes(path, limits.max_file_bytes));
  return DecodeImagePages(AsBytes(bytes), path.string(), limits);
}

Result<cv::Mat> ImageFromRaw(std::span<const std::byte> bytes, int width, int height, int channels,
                             DType dtype, std::string_view name) {
  const ImageErrors err(name);
  if (width <= 0 || height <= 0) {
    return err.Invalid("raw size " + std::to_string(width) + " x " + std::to_string(height) +
                       " is not a positive size");
  }
  ORBIT_RETURN_IF_ERROR(CheckChannelCount(err, channels));
  if (dtype != DType::kUInt8 && dtype != DType::kUInt16) {
    return err.Invalid("raw dtype " + std::string(DTypeName(dtype)) +
                       " is not supported (expected UINT8 or UINT16)");
  }
  const std::uint64_t expected = static_cast<std::uint64_t>(width) *
                                 static_cast<std::uint64_t>(height) *
                                 static_cast<std::uint64_t>(channels) * DTypeSize(dtype);
  if (bytes.size() != expected) {
    return err.Invalid("raw data has " + std::to_string(bytes.size()) + " bytes, " +
                       std::to_string(width) + " x " + std::to_string(height) + " x " +
                       std::to_string(channels) + " " + std::string(DTypeName(dtype)) + " needs " +
                       std::to_string(expected));
  }
  cv::Mat image(height, width, CV_MAKETYPE(dtype == DType::kUInt8 ? CV_8U : CV_16U, channels));
  std::memcpy(image.data, bytes.data(), bytes.size());
  if (channels == 3) cv::cvtColor(image, image, cv::COLOR_RGB2BGR);
  return image;
}

Result<std::string> EncodePng(const cv::Mat& image) {
  if (image.empty()) return InvalidArgumentError("cannot encode an empty image as PNG");
  if (image.depth() != CV_8U && image.depth() != CV_16U) {
    return InvalidArgumentError("cannot encode pixel depth " + std::to_string(image.depth()) +
                                " as PNG (expected 8- or 16-bit unsigned)");
  }
  const int channels = image.channels();
  if (channels != 1 && channels != 3 && channels != 4) {
    return InvalidArgumentError("cannot encode " + std::to_string(channels) +
                                " channels as PNG (expected 1, 3 or 4)");
  }
  std::vector<std::uint8_t> buffer;
  try {
    if (!cv::imencode(".png", image, buffer)) return InternalError("PNG encoder failed");
  } catch (const cv::Exception& e) {
    return InternalError(std::string("PNG encoder failed: ") + e.what());
  }
  return std::string(buffer.begin(), buffer.end());
}

Status WritePng(const std::filesystem::path& path, const cv::Mat& image) {
  auto png = EncodePng(image);
  if (!png.ok()) return png.status().WithContext("'" + path.string() + "'");
  return WriteFileAtomic(path, *png);
}

Result<cv::Mat> LabelsTo16Bit(const cv::Mat& labels) {
  double max_label = 0;
  if (!labels.empty()) cv::minMaxLoc(labels, nullptr, &max_label);
  if (max_label > 65535) {
    return OutOfRangeError(std::to_string(static_cast<long>(max_label)) +
                           " objects do not fit a 16-bit label image");
  }
  cv::Mat out;
  labels.convertTo(out, CV_16U);
  return out;
}

}  // namespace orbit::vision
