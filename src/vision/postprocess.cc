#include "vision/postprocess.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include <opencv2/imgproc.hpp>

namespace orbit::vision {
namespace {

// "model output [1, 2, 8, 8]" — the thing every ForegroundProbability error names.
std::string OutputName(const Tensor& output) {
  return "model output " + ShapeToString(output.shape());
}

// Single-channel CV_8U mask, 255 where `mask` (first channel, any depth) is non-zero.
cv::Mat ToBinary(const cv::Mat& mask) {
  cv::Mat first = mask;
  if (mask.channels() > 1) cv::extractChannel(mask, first, 0);
  cv::Mat binary;
  cv::compare(first, cv::Scalar(0), binary, cv::CMP_NE);
  return binary;
}

// CV_32S copy (or the same Mat) of an integer label map.
cv::Mat ToInt32Labels(const cv::Mat& labels) {
  cv::Mat first = labels;
  if (labels.channels() > 1) cv::extractChannel(labels, first, 0);
  if (first.depth() == CV_32S) return first;
  cv::Mat converted;
  first.convertTo(converted, CV_32S);
  return converted;
}

// Renumbers a CV_32S label map to 1..N in raster order of first appearance, dropping labels with
// fewer than `min_area` pixels and every label <= 0.
cv::Mat Relabel(const cv::Mat& labels32, int min_area) {
  cv::Mat out = cv::Mat::zeros(labels32.size(), CV_32S);
  if (labels32.empty()) return out;
  int max_label = 0;
  for (int y = 0; y < labels32.rows; ++y) {
    const auto* row = labels32.ptr<std::int32_t>(y);
    for (int x = 0; x < labels32.cols; ++x) max_label = std::max(max_label, row[x]);
  }
  if (max_label == 0) return out;

  // Dense tables when the labels are compact (always, for labels made here); a hash map for a
  // sparse foreign label map such as {1, 2'000'000'000}.
  const bool dense = static_cast<double>(max_label) <= 4.0 * labels32.total() + 1024;
  std::vector<std::int64_t> dense_area;
  std::vector<std::int32_t> dense_new;
  std::unordered_map<std::int32_t, std::int64_t> sparse_area;
  std::unordered_map<std::int32_t, std::int32_t> sparse_new;
  if (dense) {
    dense_area.assign(static_cast<std::size_t>(max_label) + 1, 0);
    dense_new.assign(static_cast<std::size_t>(max_label) + 1, -1);
  }
  if (min_area > 1) {
    for (int y = 0; y < labels32.rows; ++y) {
      const auto* row = labels32.ptr<std::int32_t>(y);
      for (int x = 0; x < labels32.cols; ++x) {
        if (row[x] <= 0) continue;
        if (dense) {
          ++dense_area[static_cast<std::size_t>(row[x])];
        } else {
          ++sparse_area[row[x]];
        }
      }
    }
  }
  std::int32_t next = 0;
  for (int y = 0; y < labels32.rows; ++y) {
    const auto* in = labels32.ptr<std::int32_t>(y);
    auto* o = out.ptr<std::int32_t>(y);
    for (int x = 0; x < labels32.cols; ++x) {
      const std::int32_t label = in[x];
      if (label <= 0) continue;
      std::int32_t* slot;
      std::int64_t area;
      if (dense) {
        slot = &dense_new[static_cast<std::size_t>(label)];
        area = dense_area[static_cast<std::size_t>(label)];
      } else {
        auto [it, inserted] = sparse_new.try_emplace(label, -1);
        slot = &it->second;
        area = min_area > 1 ? sparse_area[label] : 0;
      }
      if (*slot < 0) *slot = (min_area > 1 && area < min_area) ? 0 : ++next;
      o[x] = *slot;
    }
  }
  return out;
}

// FIFO bucket queue over integer priorities, popping the highest priority first. Entries are
// pixel indices linked through a caller-provided `next` array (one slot per pixel, as each pixel
// is queued at most once), so pushing and popping never allocate. A two-level bitset finds the
// next non-empty bucket in a few word scans.
class BucketQueue {
 public:
  BucketQueue(int bucket_count, std::int32_t* next)
      : head_(static_cast<std::size_t>(bucket_count), -1),
        tail_(static_cast<std::size_t>(bucket_count), -1),
        words_((static_cast<std::size_t>(bucket_count) + 63) / 64, 0),
        summary_((words_.size() + 63) / 64, 0),
        next_(next) {}

  void Push(std::int32_t pixel, int bucket) {
    const auto b = static_cast<std::size_t>(bucket);
    next_[pixel] = -1;
    if (tail_[b] < 0) {
      head_[b] = pixel;
      words_[b >> 6] |= 1ULL << (b & 63);
      summary_[b >> 12] |= 1ULL << ((b >> 6) & 63);
    } else {
      next_[tail_[b]] = pixel;
    }
    tail_[b] = pixel;
    top_ = std::max(top_, bucket);
  }

  // The oldest pixel of the highest non-empty bucket, or -1 when empty.
  std::int32_t Pop() {
    if (top_ < 0) return -1;
    if (head_[static_cast<std::size_t>(top_)] < 0) {
      top_ = HighestNonEmptyAtOrBelow(top_);
      if (top_ < 0) return -1;
    }
    const auto b = static_cast<std::size_t>(top_);
    const std::int32_t pixel = head_[b];
    head_[b] = next_[pixel];
    if (head_[b] < 0) {
      tail_[b] = -1;
      words_[b >> 6] &= ~(1ULL << (b & 63));
      if (words_[b >> 6] == 0) summary_[b >> 12] &= ~(1ULL << ((b >> 6) & 63));
    }
    return pixel;
  }

 private:
  static std::uint64_t BitsUpTo(int bit) { return bit >= 63 ? ~0ULL : (1ULL << (bit + 1)) - 1; }
  static int HighestBit(std::uint64_t bits) { return 63 - std::countl_zero(bits); }

  int HighestNonEmptyAtOrBelow(int bucket) const {
    const int word = bucket >> 6;
    if (const std::uint64_t bits = words_[static_cast<std::size_t>(word)] & BitsUpTo(bucket & 63)) {
      return (word << 6) + HighestBit(bits);
    }
    for (int w = word - 1; w >= 0;) {
      const int s = w >> 6;
      const std::uint64_t bits = summary_[static_cast<std::size_t>(s)] & BitsUpTo(w & 63);
      if (bits) {
        const int found = (s << 6) + HighestBit(bits);
        return (found << 6) + HighestBit(words_[static_cast<std::size_t>(found)]);
      }
      w = (s << 6) - 1;
    }
    return -1;
  }

  std::vector<std::int32_t> head_, tail_;
  std::vector<std::uint64_t> words_, summary_;
  std::int32_t* next_;
  int top_ = -1;
};

// A plateau of distance-transform maxima: one watershed seed.
struct Seed {
  float value = 0;                 // squared distance
  std::int32_t first_pixel = 0;    // padded raster index, for deterministic ordering
  std::int32_t component = 0;      // connected component of the mask it lies in
  std::size_t begin = 0, end = 0;  // its pixels in the shared pixel list
};

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {  // b > 0
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// Exact squared Euclidean distance from each pixel of `binary` (CV_8UC1, non-zero = foreground)
// to the nearest zero pixel: Meijster, Roerdink & Hesselink (2000), a column pass and then the
// lower envelope of parabolas along each row, in integer arithmetic. Outside the image counts as
// foreground, as in scipy's distance_transform_edt, so an object cut by the border peaks at the
// border. Returned as CV_32F (exact below 2^24, i.e. distances under 4096 px) on a grid padded by
// one zero pixel; pixels with no background anywhere get rows² + cols² + 1, above any real value.
cv::Mat PaddedSquaredDistance(const cv::Mat& binary) {
  const int rows = binary.rows, cols = binary.cols;
  const std::int64_t no_background = static_cast<std::int64_t>(rows) + cols;
  const std::int64_t cap =
      static_cast<std::int64_t>(rows) * rows + static_cast<std::int64_t>(cols) * cols + 1;
  cv::Mat padded = cv::Mat::zeros(rows + 2, cols + 2, CV_32F);

  // Column pass, stored in `padded` (small integers, exact in float): the distance to the
  // nearest background pixel in the same column.
  const auto far = static_cast<float>(no_background);
  for (int y = 0; y < rows; ++y) {
    const std::uint8_t* b = binary.ptr<std::uint8_t>(y);
    float* out = padded.ptr<float>(y + 1) + 1;
    const float* above = y > 0 ? padded.ptr<float>(y) + 1 : nullptr;
    for (int x = 0; x < cols; ++x) {
      out[x] = b[x] == 0 ? 0.0f : (above ? std::min(above[x] + 1.0f, far) : far);
    }
  }
  for (int y = rows - 2; y >= 0; --y) {
    float* out = padded.ptr<float>(y + 1) + 1;
    const float* below = padded.ptr<float>(y + 2) + 1;
    for (int x = 0; x < cols; ++x) out[x] = std::min(out[x], below[x] + 1.0f);
  }

  // Row pass: d(x) = min over i of (x - i)² + g(i)².
  std::vector<std::int64_t> g(static_cast<std::size_t>(cols));
  std::vector<std::int32_t> site(static_cast<std::size_t>(cols)),
      start(static_cast<std::size_t>(cols));
  for (int y = 0; y < rows; ++y) {
    float* out = padded.ptr<float>(y + 1) + 1;
    for (int x = 0; x < cols; ++x)
      g[static_cast<std::size_t>(x)] = static_cast<std::int64_t>(out[x]);
    auto f = [&](std::int64_t x, std::int64_t i) {
      const std::int64_t gi = g[static_cast<std::size_t>(i)];
      return (x - i) * (x - i) + gi * gi;
    };
    auto sep = [&](std::int64_t i, std::int64_t u) {
      const std::int64_t gi = g[static_cast<std::size_t>(i)], gu = g[static_cast<std::size_t>(u)];
      return FloorDiv(u * u - i * i + gu * gu - gi * gi, 2 * (u - i));
    };
    std::size_t q = 0;
    site[0] = 0;
    start[0] = 0;
    for (int u = 1; u < cols; ++u) {
      bool emptied = false;
      while (f(start[q], site[q]) > f(start[q], u)) {
        if (q == 0) {
          emptied = true;
          break;
        }
        --q;
      }
      if (emptied) {
        site[0] = u;
      } else if (const std::int64_t w = 1 + sep(site[q], u); w < cols) {
        ++q;
        site[q] = u;
        start[q] = static_cast<std::int32_t>(w);
      }
    }
    for (int u = cols - 1; u >= 0; --u) {
      out[u] = static_cast<float>(std::min(f(u, site[q]), cap));
      if (u == start[q] && q > 0) --q;
    }
  }
  return padded;
}

// Squared distances are integers, so they are exact flooding priorities; beyond this many
// (distances above 1024 px, i.e. huge objects) they are scaled down to bound the queue's memory.
constexpr std::int64_t kMaxBuckets = 1 << 20;

// Flooding priority from the padded squared distance: deepest first. Squared distances are
// integers, so they are exact priorities (scaled down only beyond kMaxBuckets).
class DistancePriority {
 public:
  explicit DistancePriority(const cv::Mat& dist) : d_(dist.ptr<float>()) {
    double max_squared = 0;
    cv::minMaxLoc(dist, nullptr, &max_squared);
    max_key_ = static_cast<std::int64_t>(max_squared);
  }
  int bucket_count() const { return static_cast<int>(std::min(max_key_, kMaxBuckets - 1) + 1); }
  int operator()(std::int32_t pixel) const {
    const auto key = static_cast<std::int64_t>(d_[pixel]);
    return static_cast<int>(max_key_ < kMaxBuckets ? key : key * (kMaxBuckets - 1) / max_key_);
  }

 private:
  const float* d_;
  std::int64_t max_key_ = 0;
};

// Flooding priority from a padded seed probability map: most probable first. The logit (the
// same order as the probability, but not crowded near 0 and 1) is clamped to ±kMaxLogit and
// quantised to 1/1024, so the order of skimage's float priorities is kept wherever two
// probabilities differ noticeably, even far from any seed where they are tiny.
class SeedPriority {
 public:
  static constexpr double kMaxLogit = 64, kStepsPerUnit = 1024;
  static constexpr int kBucketCount = 2 * static_cast<int>(kMaxLogit * kStepsPerUnit) + 1;
  explicit SeedPriority(const cv::Mat& seed) : p_(seed.ptr<float>()) {}
  int bucket_count() const { return kBucketCount; }
  int operator()(std::int32_t pixel) const {
    const double p = static_cast<double>(p_[pixel]);
    const double logit = p <= 0 ? -kMaxLogit : p >= 1 ? kMaxLogit : std::log(p / (1.0 - p));
    return static_cast<int>(
        std::lround((std::clamp(logit, -kMaxLogit, kMaxLogit) + kMaxLogit) * kStepsPerUnit));
  }

 private:
  const float* p_;
};

// Bits of the per-pixel scratch flags in LabelWatershed.
constexpr std::uint8_t kIsMaximum = 1, kInPlateau = 2, kNearKeptSeed = 4;

// One item of a validated NCHW FP32 output: its first float and its dimensions.
struct OutputItem {
  const float* data = nullptr;
  std::int64_t channels = 0;
  int height = 0, width = 0;
};

Result<OutputItem> CheckOutputItem(const Tensor& output, int batch_index) {
  const Shape& shape = output.shape();
  if (shape.size() != 4) {
    return InvalidArgumentError(OutputName(output) + ": expected rank 4 (NCHW), got rank " +
                                std::to_string(shape.size()));
  }
  if (output.dtype() != DType::kFloat32) {
    return InvalidArgumentError(OutputName(output) + ": expected FP32, got " +
                                std::string(DTypeName(output.dtype())));
  }
  const std::int64_t batch = shape[0], channels = shape[1], height = shape[2], width = shape[3];
  if (batch_index < 0 || batch_index >= batch) {
    return InvalidArgumentError(OutputName(output) + ": batch index " +
                                std::to_string(batch_index) + " is out of range for batch size " +
                                std::to_string(batch));
  }
  if (height <= 0 || width <= 0 || height > std::numeric_limits<int>::max() ||
      width > std::numeric_limits<int>::max()) {
    return InvalidArgumentError(OutputName(output) + ": height and width must be positive");
  }
  if (channels == 0) {
    return InvalidArgumentError(OutputName(output) + ": has no channels");
  }
  OutputItem item;
  item.channels = channels;
  item.height = static_cast<int>(height);
  item.width = static_cast<int>(width);
  item.data = output.data<float>().data() + static_cast<std::size_t>(batch_index) *
                                                static_cast<std::size_t>(channels) *
                                                static_cast<std::size_t>(height * width);
  return item;
}

// Sigmoid (or the raw value, for kNone) of one channel of `item` as a CV_32F map.
Result<cv::Mat> ChannelProbability(const Tensor& output, const OutputItem& item, int channel,
                                   std::string_view role, Activation activation) {
  if (channel < 0 || channel >= item.channels) {
    return InvalidArgumentError(OutputName(output) + ": " + std::string(role) + " channel " +
                                std::to_string(channel) + " is out of range for " +
                                std::to_string(item.channels) + " channel(s)");
  }
  const auto plane = static_cast<std::size_t>(item.height) * static_cast<std::size_t>(item.width);
  const float* in = item.data + static_cast<std::size_t>(channel) * plane;
  cv::Mat probability(item.height, item.width, CV_32F);
  auto* out = probability.ptr<float>();  // freshly allocated, so continuous
  if (activation == Activation::kSigmoid) {
    // 1 / (1 + exp(-x)) with OpenCV's vectorised float exp: a scalar double exp per pixel cost
    // ~10 ms per megapixel map. exp overflowing to +inf for very negative x still gives 0.
    const cv::Mat logits(item.height, item.width, CV_32F, const_cast<float*>(in));
    cv::exp(-logits, probability);
    probability += 1.0f;
    cv::divide(1.0, probability, probability);
  } else {
    std::copy(in, in + plane, out);
  }
  return probability;
}

// The common end of both watersheds, on grids padded by one background pixel: gives every
// object without a seed its deepest pixel (by `dist`), floods from `starts` ((object, pixel) of
// every seed pixel, labels already set in `label_mat`) in order of `key_of(pixel)` (an integer
// priority in [0, bucket_count), highest first) and returns a view of the unpadded raw labels
// (object ids > 0, not consecutive; background -1): callers renumber once, with Relabel.
// `comp` (object ids per pixel) is reused as the queue's links, so it is clobbered.
template <typename KeyFn>
cv::Mat FloodFromSeeds(const cv::Mat& dist, std::int32_t* comp, int component_count,
                       const std::vector<std::uint8_t>& has_seed,
                       std::vector<std::pair<std::int32_t, std::int32_t>>& starts,
                       std::int32_t seed_count, cv::Mat& label_mat, int bucket_count,
                       KeyFn key_of) {
  const int pcols = label_mat.cols, prows = label_mat.rows;
  const std::size_t pixel_count = static_cast<std::size_t>(pcols) * static_cast<std::size_t>(prows);
  std::int32_t* label = label_mat.ptr<std::int32_t>();
  const std::int32_t neighbours[8] = {-pcols - 1, -pcols,    -pcols + 1, -1,
                                      1,          pcols - 1, pcols,      pcols + 1};

  // Every object gets at least one seed: its deepest pixel (first in raster order among ties).
  if (std::count(has_seed.begin() + 1, has_seed.end(), 0) > 0) {
    const float* d = dist.ptr<float>();  // the caller computes it whenever an object is seedless
    std::vector<std::int32_t> deepest(static_cast<std::size_t>(component_count), -1);
    for (std::size_t i = 0; i < pixel_count; ++i) {
      const auto c = static_cast<std::size_t>(comp[i]);
      if (c == 0 || has_seed[c]) continue;
      if (deepest[c] < 0 || d[i] > d[deepest[c]]) deepest[c] = static_cast<std::int32_t>(i);
    }
    for (std::size_t c = 1; c < deepest.size(); ++c) {
      if (deepest[c] < 0) continue;
      label[deepest[c]] = ++seed_count;
      starts.emplace_back(static_cast<std::int32_t>(c), deepest[c]);
    }
  }
  std::sort(starts.begin(), starts.end());

  // Priority flood (Meyer; the order of skimage.segmentation.watershed on -relief with
  // 8-connectivity): pop the highest-priority queued pixel (FIFO among equals) and give its
  // label to every unlabelled foreground neighbour. A pixel is labelled when first reached, so
  // there are no watershed lines and every pixel of every object is labelled. Objects cannot
  // interact, so each is flooded on its own: the same order within the object, with better
  // cache locality.
  BucketQueue queue(bucket_count, comp);  // object ids are no longer needed
  for (std::size_t group = 0; group < starts.size();) {
    std::size_t group_end = group;
    for (; group_end < starts.size() && starts[group_end].first == starts[group].first;
         ++group_end) {
      queue.Push(starts[group_end].second, key_of(starts[group_end].second));
    }
    group = group_end;
    for (std::int32_t p = queue.Pop(); p >= 0; p = queue.Pop()) {
      const std::int32_t l = label[p];
      for (const std::int32_t offset : neighbours) {
        const std::int32_t q = p + offset;
        if (label[q] != 0) continue;
        label[q] = l;
        queue.Push(q, key_of(q));
      }
    }
  }

  return label_mat(cv::Rect(1, 1, pcols - 2, prows - 2));
}

}  // namespace

Result<cv::Mat> ForegroundProbability(const Tensor& output, int batch_index,
                                      const PostprocessRecipe& recipe) {
  ORBIT_ASSIGN_OR_RETURN(const OutputItem item, CheckOutputItem(output, batch_index));
  const std::int64_t channels = item.channels;
  if (recipe.activation != Activation::kSoftmax) {
    return ChannelProbability(output, item, recipe.foreground_channel, "foreground",
                              recipe.activation);
  }
  if (channels < 2) {
    return InvalidArgumentError(OutputName(output) + ": softmax needs at least 2 channels, got " +
                                std::to_string(channels));
  }
  if (recipe.background_class < 0 || recipe.background_class >= channels) {
    return InvalidArgumentError(OutputName(output) + ": softmax background_class " +
                                std::to_string(recipe.background_class) + " is out of range for " +
                                std::to_string(channels) + " channels");
  }

  const auto plane = static_cast<std::size_t>(item.height) * static_cast<std::size_t>(item.width);
  const float* data = item.data;
  cv::Mat probability(item.height, item.width, CV_32F);
  auto* out = probability.ptr<float>();  // freshly allocated, so continuous
  const auto bg = static_cast<std::size_t>(recipe.background_class);
  const auto c_count = static_cast<std::size_t>(channels);
  for (std::size_t i = 0; i < plane; ++i) {
    double max_logit = -std::numeric_limits<double>::infinity();
    for (std::size_t c = 0; c < c_count; ++c) {
      max_logit = std::max(max_logit, static_cast<double>(data[c * plane + i]));
    }
    // Sum the foreground classes directly rather than 1 - p(background), which would lose
    // every digit of a small foreground probability.
    double total = 0, foreground = 0;
    for (std::size_t c = 0; c < c_count; ++c) {
      const double e = std::exp(static_cast<double>(data[c * plane + i]) - max_logit);
      total += e;
      if (c != bg) foreground += e;
    }
    out[i] = static_cast<float>(foreground / total);
  }
  return probability;
}

Result<cv::Mat> SeedProbability(const Tensor& output, int batch_index,
                                const PostprocessRecipe& recipe) {
  if (!recipe.seed_channel) {
    return InvalidArgumentError(OutputName(output) + ": the recipe declares no seed channel");
  }
  if (recipe.activation == Activation::kSoftmax) {
    return InvalidArgumentError(OutputName(output) +
                                ": a seed channel needs activation sigmoid or none, not softmax");
  }
  ORBIT_ASSIGN_OR_RETURN(const OutputItem item, CheckOutputItem(output, batch_index));
  return ChannelProbability(output, item, *recipe.seed_channel, "seed", recipe.activation);
}

cv::Mat ThresholdMask(const cv::Mat& probability, double threshold) {
  cv::Mat first = probability;
  if (probability.channels() > 1) cv::extractChannel(probability, first, 0);
  // Compared in double so that "p > threshold" is exact for every float p and double threshold.
  cv::Mat values = first;
  if (first.depth() != CV_32F) first.convertTo(values, CV_64F);
  cv::Mat mask(values.size(), CV_8U);
  for (int y = 0; y < values.rows; ++y) {
    auto* out = mask.ptr<std::uint8_t>(y);
    if (values.depth() == CV_32F) {
      const auto* in = values.ptr<float>(y);
      for (int x = 0; x < values.cols; ++x) {
        out[x] = static_cast<double>(in[x]) > threshold ? 255 : 0;
      }
    } else {
      const auto* in = values.ptr<double>(y);
      for (int x = 0; x < values.cols; ++x) out[x] = in[x] > threshold ? 255 : 0;
    }
  }
  return mask;
}

cv::Mat RemoveSmallObjects(const cv::Mat& mask, int min_area) {
  cv::Mat binary = ToBinary(mask);
  if (min_area <= 1 || binary.empty()) return binary;
  // connectedComponentsWithStats is several times slower than counting areas here.
  cv::Mat labels;
  const int count = cv::connectedComponents(binary, labels, 8, CV_32S);
  std::vector<std::int64_t> area(static_cast<std::size_t>(count), 0);
  for (int y = 0; y < labels.rows; ++y) {
    const auto* l = labels.ptr<std::int32_t>(y);
    for (int x = 0; x < labels.cols; ++x) ++area[static_cast<std::size_t>(l[x])];
  }
  std::vector<std::uint8_t> keep(static_cast<std::size_t>(count), 0);
  for (std::size_t i = 1; i < keep.size(); ++i) keep[i] = area[i] >= min_area ? 255 : 0;
  for (int y = 0; y < binary.rows; ++y) {
    const auto* l = labels.ptr<std::int32_t>(y);
    auto* m = binary.ptr<std::uint8_t>(y);
    for (int x = 0; x < binary.cols; ++x) m[x] = keep[static_cast<std::size_t>(l[x])];
  }
  return binary;
}

cv::Mat FillHoles(const cv::Mat& mask) {
  const cv::Mat binary = ToBinary(mask);
  if (binary.empty()) return binary;
  // Flood the background from a one-pixel background frame: it reaches exactly the background
  // components that touch the image border (4-connected). Whatever background is left is a hole.
  constexpr int kOutside = 128;
  cv::Mat padded;
  cv::copyMakeBorder(binary, padded, 1, 1, 1, 1, cv::BORDER_CONSTANT, cv::Scalar(0));
  cv::floodFill(padded, cv::Point(0, 0), cv::Scalar(kOutside), nullptr, cv::Scalar(0),
                cv::Scalar(0), 4);
  cv::Mat filled;
  cv::compare(padded(cv::Rect(1, 1, binary.cols, binary.rows)), cv::Scalar(kOutside), filled,
              cv::CMP_NE);
  return filled;
}

cv::Mat LabelConnectedComponents(const cv::Mat& mask) {
  cv::Mat binary = ToBinary(mask);
  if (binary.empty()) return cv::Mat(mask.size(), CV_32S);
  cv::Mat labels;
  cv::connectedComponents(binary, labels, 8, CV_32S);
  // OpenCV numbers components in its own scan order; make it raster order of first appearance.
  return Relabel(labels, 0);
}

cv::Mat RemoveSmallLabels(const cv::Mat& labels, int min_area) {
  if (labels.empty()) return cv::Mat(labels.size(), CV_32S);
  return Relabel(ToInt32Labels(labels), min_area);
}

// LabelWatershed before renumbering (see FloodFromSeeds).
static cv::Mat LabelWatershedRaw(const cv::Mat& mask, int min_distance) {
  const cv::Mat binary = mask.type() == CV_8UC1 ? mask : ToBinary(mask);
  if (binary.empty()) return cv::Mat(mask.size(), CV_32S);
  const int rows = binary.rows, cols = binary.cols;
  if (cv::countNonZero(binary) == 0) return cv::Mat::zeros(rows, cols, CV_32S);
  // A window wider than the image sees the whole image; clamping keeps the dilation cheap.
  min_distance = std::clamp(min_distance, 1, std::max(rows, cols));

  // Everything below works on grids padded by one background pixel, so neighbour loops need no
  // bounds checks. d = squared distance to the background; foreground <=> d > 0. Scratch
  // buffers are reused where their lifetimes allow: large fresh allocations cost page faults.
  const int pcols = cols + 2, prows = rows + 2;
  const std::size_t pixel_count = static_cast<std::size_t>(pcols) * static_cast<std::size_t>(prows);
  // Pixel indices are int32; an image that large (far beyond DecodeLimits) is not split.
  if (pixel_count > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    return LabelConnectedComponents(binary);
  }
  const cv::Mat dist = PaddedSquaredDistance(binary);
  const float* d = dist.ptr<float>();
  const std::int32_t neighbours[8] = {-pcols - 1, -pcols,    -pcols + 1, -1,
                                      1,          pcols - 1, pcols,      pcols + 1};

  // Objects = 8-connected components of the mask (on the padded grid).
  cv::Mat scratch;  // CV_8U: the padded mask, then per-pixel flags
  cv::copyMakeBorder(binary, scratch, 1, 1, 1, 1, cv::BORDER_CONSTANT, cv::Scalar(0));
  cv::Mat components;  // CV_32S: object ids, later the bucket queue's links
  const int component_count = cv::connectedComponents(scratch, components, 8, CV_32S);
  std::int32_t* comp = components.ptr<std::int32_t>();
  std::uint8_t* flags = scratch.ptr<std::uint8_t>();

  // Local maxima of the distance in a (2 * min_distance + 1)² window.
  {
    cv::Mat dilated;
    cv::dilate(dist, dilated,
               cv::getStructuringElement(cv::MORPH_RECT,
                                         cv::Size(2 * min_distance + 1, 2 * min_distance + 1)));
    const float* w = dilated.ptr<float>();
    for (std::size_t i = 0; i < pixel_count; ++i) {
      flags[i] = d[i] > 0 && d[i] == w[i] ? kIsMaximum : 0;
    }
  }

  // Plateaus: 8-connected runs of maxima pixels (adjacent maxima always have equal distance),
  // one seed each.
  std::vector<Seed> seeds;
  std::vector<std::int32_t> seed_pixels;
  for (std::size_t i = 0; i < pixel_count; ++i) {
    if (flags[i] != kIsMaximum) continue;
    Seed seed;
    seed.value = d[i];
    seed.first_pixel = static_cast<std::int32_t>(i);
    seed.component = comp[i];
    seed.begin = seed_pixels.size();
    flags[i] |= kInPlateau;
    seed_pixels.push_back(static_cast<std::int32_t>(i));
    for (std::size_t k = seed.begin; k < seed_pixels.size(); ++k) {  // breadth-first
      for (const std::int32_t offset : neighbours) {
        const std::int32_t q = seed_pixels[k] + offset;
        if (flags[q] == kIsMaximum) {
          flags[q] |= kInPlateau;
          seed_pixels.push_back(q);
        }
      }
    }
    seed.end = seed_pixels.size();
    seeds.push_back(seed);
  }

  // label: -1 = never flooded (background, padding), 0 = foreground not yet labelled, > 0 = seed.
  cv::Mat label_mat(prows, pcols, CV_32S);
  std::int32_t* label = label_mat.ptr<std::int32_t>();
  for (std::size_t i = 0; i < pixel_count; ++i) label[i] = d[i] > 0 ? 0 : -1;

  // Strongest first; a seed closer than min_distance (Chebyshev, as skimage's peak_local_max with
  // p_norm=inf) to a stronger kept seed of the same object is dropped.
  std::sort(seeds.begin(), seeds.end(), [](const Seed& a, const Seed& b) {
    return a.value != b.value ? a.value > b.value : a.first_pixel < b.first_pixel;
  });
  std::vector<int> seeds_per_component(static_cast<std::size_t>(component_count), 0);
  for (const Seed& seed : seeds) ++seeds_per_component[static_cast<std::size_t>(seed.component)];
  std::vector<std::uint8_t> has_seed(static_cast<std::size_t>(component_count), 0);
  std::vector<std::pair<std::int32_t, std::int32_t>> starts;  // (object, pixel) of every seed
  const int reach = min_distance - 1;
  std::int32_t seed_count = 0;
  for (const Seed& seed : seeds) {
    bool suppressed = false;
    for (std::size_t k = seed.begin; k < seed.end && !suppressed; ++k) {
      suppressed = (flags[seed_pixels[k]] & kNearKeptSeed) != 0;
    }
    if (suppressed) continue;
    ++seed_count;
    has_seed[static_cast<std::size_t>(seed.component)] = 1;
    const bool has_rivals = seeds_per_component[static_cast<std::size_t>(seed.component)] > 1;
    for (std::size_t k = seed.begin; k < seed.end; ++k) {
      const std::int32_t p = seed_pixels[k];
      label[p] = seed_count;
      starts.emplace_back(seed.component, p);
      if (!has_rivals || reach == 0) continue;
      const int py = p / pcols, px = p % pcols;
      for (int y = std::max(py - reach, 0); y <= std::min(py + reach, prows - 1); ++y) {
        for (int x = std::max(px - reach, 0); x <= std::min(px + reach, pcols - 1); ++x) {
          const std::size_t q = static_cast<std::size_t>(y) * static_cast<std::size_t>(pcols) +
                                static_cast<std::size_t>(x);
          if (comp[q] == seed.component) flags[q] |= kNearKeptSeed;
        }
      }
    }
  }

  const DistancePriority priority(dist);
  return FloodFromSeeds(dist, comp, component_count, has_seed, starts, seed_count, label_mat,
                        priority.bucket_count(), priority);
}

cv::Mat SeedMarkers(const cv::Mat& seed_probability, const cv::Mat& mask, double threshold,
                    int min_area) {
  if (seed_probability.empty()) return cv::Mat(seed_probability.size(), CV_32S);
  cv::Mat seeds = ThresholdMask(seed_probability, threshold);
  if (mask.size() != seeds.size()) return cv::Mat::zeros(seeds.size(), CV_32S);
  cv::bitwise_and(seeds, ToBinary(mask), seeds);
  cv::Mat labels;
  cv::connectedComponents(seeds, labels, 8, CV_32S);
  return Relabel(labels, min_area);
}

// LabelWatershedFromMarkers before renumbering (see FloodFromSeeds).
static cv::Mat LabelWatershedFromMarkersRaw(const cv::Mat& mask, const cv::Mat& markers,
                                            const cv::Mat& relief) {
  const cv::Mat binary = mask.type() == CV_8UC1 ? mask : ToBinary(mask);
  if (binary.empty()) return cv::Mat(mask.size(), CV_32S);
  const int rows = binary.rows, cols = binary.cols;
  if (cv::countNonZero(binary) == 0) return cv::Mat::zeros(rows, cols, CV_32S);
  const int pcols = cols + 2, prows = rows + 2;
  const std::size_t pixel_count = static_cast<std::size_t>(pcols) * static_cast<std::size_t>(prows);
  if (pixel_count > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    return LabelConnectedComponents(binary);
  }

  // Seeds: marker values inside the mask, renumbered 1..K (one seed per value).
  cv::Mat seeds = cv::Mat::zeros(rows, cols, CV_32S);
  if (markers.size() == binary.size()) ToInt32Labels(markers).copyTo(seeds, binary);
  double max_seed = 0;
  cv::minMaxLoc(seeds, nullptr, &max_seed);
  // Seed ids need not be consecutive (the result is renumbered once at the end), only small
  // enough that the ids added for seedless objects cannot overflow.
  if (max_seed > static_cast<double>(seeds.total())) {
    seeds = Relabel(seeds, 0);
    cv::minMaxLoc(seeds, nullptr, &max_seed);
  }

  cv::Mat padded_mask;
  cv::copyMakeBorder(binary, padded_mask, 1, 1, 1, 1, cv::BORDER_CONSTANT, cv::Scalar(0));
  cv::Mat components;  // CV_32S: object ids, later the bucket queue's links
  const int component_count = cv::connectedComponents(padded_mask, components, 8, CV_32S);
  std::int32_t* comp = components.ptr<std::int32_t>();

  cv::Mat label_mat(prows, pcols, CV_32S);
  std::int32_t* label = label_mat.ptr<std::int32_t>();
  const std::uint8_t* inside = padded_mask.ptr<std::uint8_t>();
  for (std::size_t i = 0; i < pixel_count; ++i) label[i] = inside[i] != 0 ? 0 : -1;
  std::vector<std::uint8_t> has_seed(static_cast<std::size_t>(component_count), 0);
  std::vector<std::pair<std::int32_t, std::int32_t>> starts;  // (object, pixel) of every seed
  for (int y = 0; y < rows; ++y) {
    const auto* row = seeds.ptr<std::int32_t>(y);
    for (int x = 0; x < cols; ++x) {
      if (row[x] <= 0) continue;
      const auto p = static_cast<std::int32_t>((y + 1) * pcols + x + 1);
      label[p] = row[x];
      has_seed[static_cast<std::size_t>(comp[p])] = 1;
      starts.emplace_back(comp[p], p);
    }
  }
  const auto seed_count = static_cast<std::int32_t>(max_seed);
  const bool has_relief =
      !relief.empty() && relief.size() == binary.size() && relief.type() == CV_32FC1;
  // The distance map orders the flood without a relief and places the seed of a seedless
  // object; when every object has a seed and the relief orders the flood, it is not needed.
  const bool every_object_seeded = std::count(has_seed.begin() + 1, has_seed.end(), 0) == 0;
  const cv::Mat dist =
      has_relief && every_object_seeded ? cv::Mat() : PaddedSquaredDistance(binary);
  if (has_relief) {
    cv::Mat padded_relief;
    cv::copyMakeBorder(relief, padded_relief, 1, 1, 1, 1, cv::BORDER_CONSTANT, cv::Scalar(0));
    const SeedPriority priority(padded_relief);
    return FloodFromSeeds(dist, comp, component_count, has_seed, starts, seed_count, label_mat,
                          priority.bucket_count(), priority);
  }
  const DistancePriority priority(dist);
  return FloodFromSeeds(dist, comp, component_count, has_seed, starts, seed_count, label_mat,
                        priority.bucket_count(), priority);
}

cv::Mat LabelWatershed(const cv::Mat& mask, int min_distance) {
  return Relabel(ToInt32Labels(LabelWatershedRaw(mask, min_distance)), 0);
}

cv::Mat LabelWatershedFromMarkers(const cv::Mat& mask, const cv::Mat& markers,
                                  const cv::Mat& relief) {
  return Relabel(ToInt32Labels(LabelWatershedFromMarkersRaw(mask, markers, relief)), 0);
}

std::vector<ObjectMeasurement> MeasureObjects(const cv::Mat& labels, const cv::Mat& intensity) {
  std::vector<ObjectMeasurement> objects;
  if (labels.empty()) return objects;
  const cv::Mat labels32 = ToInt32Labels(labels);

  cv::Mat values;  // first channel as double; empty when there is no usable intensity image
  if (!intensity.empty() && intensity.size() == labels.size()) {
    cv::Mat first = intensity;
    if (intensity.channels() > 1) cv::extractChannel(intensity, first, 0);
    first.convertTo(values, CV_64F);
  }

  struct Sums {
    std::int64_t count = 0;
    double x = 0, y = 0, xx = 0, yy = 0, xy = 0, intensity = 0;
    int min_x = 0, min_y = 0, max_x = 0, max_y = 0;
  };
  // Labels are made compact by the pipeline; a sparse foreign map goes through an index table.
  std::unordered_map<std::int32_t, std::int32_t> index_of;
  std::vector<std::int32_t> label_of;
  std::vector<Sums> sums;
  auto slot = [&](std::int32_t label) -> Sums& {
    auto [it, inserted] = index_of.try_emplace(label, static_cast<std::int32_t>(sums.size()));
    if (inserted) {
      sums.emplace_back();
      label_of.push_back(label);
    }
    return sums[static_cast<std::size_t>(it->second)];
  };
  std::int32_t last_label = 0;
  Sums* last = nullptr;
  for (int y = 0; y < labels32.rows; ++y) {
    const auto* row = labels32.ptr<std::int32_t>(y);
    const double* v = values.empty() ? nullptr : values.ptr<double>(y);
    for (int x = 0; x < labels32.cols; ++x) {
      const std::int32_t label = row[x];
      if (label <= 0) continue;
      if (last == nullptr || label != last_label) {  // runs make the lookup rare
        last = &slot(label);
        last_label = label;
      }
      Sums& s = *last;
      if (s.count == 0) {
        s.min_x = s.max_x = x;
        s.min_y = s.max_y = y;
      } else {
        s.min_x = std::min(s.min_x, x);
        s.max_x = std::max(s.max_x, x);
        s.min_y = std::min(s.min_y, y);
        s.max_y = std::max(s.max_y, y);
      }
      ++s.count;
      const double fx = x, fy = y;
      s.x += fx;
      s.y += fy;
      s.xx += fx * fx;
      s.yy += fy * fy;
      s.xy += fx * fy;
      if (v != nullptr) s.intensity += v[x];
    }
  }

  std::vector<std::size_t> order(sums.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return label_of[a] < label_of[b]; });

  objects.reserve(sums.size());
  std::vector<std::vector<cv::Point>> contours;
  for (const std::size_t i : order) {
    const Sums& s = sums[i];
    ObjectMeasurement m;
    m.label = label_of[i];
    const auto n = static_cast<double>(s.count);
    m.area = n;
    m.centroid_x = s.x / n;
    m.centroid_y = s.y / n;
    m.bbox_x = s.min_x;
    m.bbox_y = s.min_y;
    m.bbox_width = s.max_x - s.min_x + 1;
    m.bbox_height = s.max_y - s.min_y + 1;
    m.mean_intensity = values.empty() ? 0.0 : s.intensity / n;

    // Second central moments → eigenvalues of the covariance → eccentricity of the ellipse.
    const double mu20 = std::max(s.xx / n - m.centroid_x * m.centroid_x, 0.0);
    const double mu02 = std::max(s.yy / n - m.centroid_y * m.centroid_y, 0.0);
    const double mu11 = s.xy / n - m.centroid_x * m.centroid_y;
    const double half_sum = (mu20 + mu02) / 2;
    const double root = std::sqrt((mu20 - mu02) * (mu20 - mu02) / 4 + mu11 * mu11);
    const double major = half_sum + root, minor = std::max(half_sum - root, 0.0);
    m.eccentricity = major > 0 ? std::sqrt(std::max(1.0 - minor / major, 0.0)) : 0.0;

    // Outer contour length: the sum over the object's external contours (one for a connected
    // object; a label split into pieces counts each piece's outline).
    const cv::Rect box(m.bbox_x, m.bbox_y, m.bbox_width, m.bbox_height);
    cv::Mat piece;
    cv::compare(labels32(box), cv::Scalar(m.label), piece, cv::CMP_EQ);
    cv::copyMakeBorder(piece, piece, 1, 1, 1, 1, cv::BORDER_CONSTANT, cv::Scalar(0));
    contours.clear();
    cv::findContours(piece, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
    for (const auto& contour : contours) m.perimeter += cv::arcLength(contour, true);
    objects.push_back(m);
  }
  return objects;
}

ImageSummary Summarize(const cv::Mat& labels, const std::vector<ObjectMeasurement>& objects) {
  ImageSummary summary;
  summary.width = labels.cols;
  summary.height = labels.rows;
  summary.object_count = static_cast<int>(objects.size());
  if (!labels.empty()) {
    const cv::Mat labels32 = ToInt32Labels(labels);
    const auto labelled = static_cast<double>(cv::countNonZero(labels32 > 0));
    summary.confluence_percent = labelled / static_cast<double>(labels.total()) * 100.0;
  }
  if (!objects.empty()) {
    double total_area = 0;
    for (const auto& object : objects) total_area += object.area;
    summary.mean_object_area = total_area / static_cast<double>(objects.size());
  }
  return summary;
}

Result<Segmentation> SegmentFromProbability(cv::Mat probability, const cv::Mat& image,
                                            const PostprocessRecipe& recipe,
                                            const cv::Mat& seed_probability) {
  if (probability.empty()) return InvalidArgumentError("probability map is empty");
  if (probability.type() != CV_32FC1) {
    return InvalidArgumentError("probability map: expected CV_32FC1, got " +
                                cv::typeToString(probability.type()));
  }
  if (image.empty()) return InvalidArgumentError("image is empty");
  if (probability.size() != image.size()) {
    return InvalidArgumentError("probability map " + std::to_string(probability.cols) + "x" +
                                std::to_string(probability.rows) + " does not match image " +
                                std::to_string(image.cols) + "x" + std::to_string(image.rows));
  }
  if (recipe.min_object_area < 0) {
    return InvalidArgumentError("postprocess min_object_area " +
                                std::to_string(recipe.min_object_area) + " is negative");
  }
  if (recipe.instances == InstanceMethod::kWatershed && recipe.min_distance < 1) {
    return InvalidArgumentError("postprocess min_distance " + std::to_string(recipe.min_distance) +
                                " must be at least 1 for watershed");
  }

  const bool seeded = recipe.instances == InstanceMethod::kWatershed && recipe.seed_channel;
  if (seeded && seed_probability.empty()) {
    return InvalidArgumentError("postprocess seed_channel " + std::to_string(*recipe.seed_channel) +
                                " is set, but no seed probability map was given");
  }
  if (seeded && seed_probability.type() != CV_32FC1) {
    return InvalidArgumentError("seed probability map: expected CV_32FC1, got " +
                                cv::typeToString(seed_probability.type()));
  }
  if (seeded && seed_probability.size() != probability.size()) {
    return InvalidArgumentError(
        "seed probability map " + std::to_string(seed_probability.cols) + "x" +
        std::to_string(seed_probability.rows) + " does not match probability map " +
        std::to_string(probability.cols) + "x" + std::to_string(probability.rows));
  }

  cv::Mat mask = ThresholdMask(probability, recipe.threshold);
  mask = RemoveSmallObjects(mask, recipe.min_object_area);
  if (recipe.fill_holes) mask = FillHoles(mask);

  Segmentation result;
  switch (recipe.instances) {
    case InstanceMethod::kNone:  // semantic: every foreground pixel is object 1
      result.labels = cv::Mat::zeros(mask.size(), CV_32S);
      result.labels.setTo(1, mask);
      break;
    case InstanceMethod::kConnectedComponents:
      result.labels = LabelConnectedComponents(mask);
      break;
    case InstanceMethod::kWatershed: {
      // Raw labels: RemoveSmallLabels renumbers them, once.
      const cv::Mat labels = seeded ? LabelWatershedFromMarkersRaw(
                                          mask,
                                          SeedMarkers(seed_probability, mask, recipe.seed_threshold,
                                                      recipe.min_seed_area),
                                          seed_probability)
                                    : LabelWatershedRaw(mask, recipe.min_distance);
      // Watershed can cut slivers off an object, so small objects are removed again.
      result.labels = RemoveSmallLabels(labels, recipe.min_object_area);
      break;
    }
  }
  result.objects = MeasureObjects(result.labels, image);
  result.summary = Summarize(result.labels, result.objects);
  result.probability = std::move(probability);
  return result;
}

}  // namespace orbit::vision
