// Tensor: a dtype, a shape and a contiguous row-major buffer that is either owned or borrowed.
// It is the one currency between vision (pre/post-processing), runtime (engines) and serving
// (protocol codecs), so that bytes are converted once and copied only where ownership demands.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace orbit {

// Element types, named after the KServe v2 datatypes they map to.
enum class DType {
  kBool,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFloat16,
  kFloat32,
  kFloat64,
};

// Bytes per element.
std::size_t DTypeSize(DType dtype);
// KServe v2 name: "BOOL", "UINT8", ..., "FP16", "FP32", "FP64".
std::string_view DTypeName(DType dtype);
// Parses a v2 name (case-sensitive as in the protocol); also accepts "float32"-style aliases.
Result<DType> ParseDType(std::string_view name);

template <typename T>
constexpr bool kIsDType = false;
template <typename T>
constexpr DType kDTypeOf = DType::kBool;
#define ORBIT_DECLARE_DTYPE_(T, D)          \
  template <>                               \
  inline constexpr bool kIsDType<T> = true; \
  template <>                               \
  inline constexpr DType kDTypeOf<T> = D;
ORBIT_DECLARE_DTYPE_(bool, DType::kBool)
ORBIT_DECLARE_DTYPE_(std::uint8_t, DType::kUInt8)
ORBIT_DECLARE_DTYPE_(std::uint16_t, DType::kUInt16)
ORBIT_DECLARE_DTYPE_(std::uint32_t, DType::kUInt32)
ORBIT_DECLARE_DTYPE_(std::uint64_t, DType::kUInt64)
ORBIT_DECLARE_DTYPE_(std::int8_t, DType::kInt8)
ORBIT_DECLARE_DTYPE_(std::int16_t, DType::kInt16)
ORBIT_DECLARE_DTYPE_(std::int32_t, DType::kInt32)
ORBIT_DECLARE_DTYPE_(std::int64_t, DType::kInt64)
ORBIT_DECLARE_DTYPE_(float, DType::kFloat32)
ORBIT_DECLARE_DTYPE_(double, DType::kFloat64)
#undef ORBIT_DECLARE_DTYPE_

using Shape = std::vector<std::int64_t>;

// Number of elements of a fully known shape; an error for negative dims or overflow.
Result<std::int64_t> ElementCount(const Shape& shape);
// "[1, 3, 256, 256]"; -1 prints as -1 (a dynamic dimension).
std::string ShapeToString(const Shape& shape);

// Move-only; Clone() makes an owned deep copy. A borrowed tensor must not outlive its buffer.
// Storage may be shared: Share() and ViewBatch() make views that keep a buffer alive without
// copying it (an engine's output handed to each request of a batch); views of one buffer alias.
class Tensor {
 public:
  Tensor() = default;
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  // Owned, zero-filled buffer.
  static Result<Tensor> Zeros(DType dtype, Shape shape);
  // Owned copy of `bytes`, which must hold exactly shape's element count times the dtype size.
  static Result<Tensor> CopyFrom(DType dtype, Shape shape, std::span<const std::byte> bytes);
  // Borrowed view of `bytes` (no copy); same size check as CopyFrom.
  static Result<Tensor> Borrow(DType dtype, Shape shape, std::span<std::byte> bytes);
  // View of `bytes`, which lie inside memory kept alive by `storage` (no copy); same size check.
  static Result<Tensor> Share(DType dtype, Shape shape, std::span<std::byte> bytes,
                              std::shared_ptr<void> storage);
  // Owned tensor from typed values.
  template <typename T>
  static Result<Tensor> FromVector(Shape shape, const std::vector<T>& values) {
    static_assert(kIsDType<T>);
    return CopyFrom(kDTypeOf<T>, std::move(shape),
                    std::as_bytes(std::span<const T>(values.data(), values.size())));
  }

  Tensor Clone() const;

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  std::int64_t element_count() const { return element_count_; }
  std::size_t byte_size() const {
    return static_cast<std::size_t>(element_count_) * DTypeSize(dtype_);
  }
  // True when the tensor keeps its bytes alive itself (alone or together with views of them).
  bool is_owned() const { return storage_ != nullptr; }

  std::span<std::byte> bytes() { return {data_, byte_size()}; }
  std::span<const std::byte> bytes() const { return {data_, byte_size()}; }

  // Typed element access; T must match dtype() (checked, empty span on mismatch).
  template <typename T>
  std::span<T> data() {
    if (!kIsDType<T> || kDTypeOf<T> != dtype_) return {};
    return {reinterpret_cast<T*>(data_), static_cast<std::size_t>(element_count_)};
  }
  template <typename T>
  std::span<const T> data() const {
    if (!kIsDType<T> || kDTypeOf<T> != dtype_) return {};
    return {reinterpret_cast<const T*>(data_), static_cast<std::size_t>(element_count_)};
  }

  // Same bytes, new shape with the same element count.
  Status Reshape(Shape shape);

 private:
  Tensor(DType dtype, Shape shape, std::int64_t count, std::shared_ptr<void> storage,
         std::byte* data)
      : dtype_(dtype),
        shape_(std::move(shape)),
        element_count_(count),
        storage_(std::move(storage)),
        data_(data) {}
  friend Result<Tensor> ViewBatch(const Tensor& tensor, std::int64_t begin, std::int64_t count);

  DType dtype_ = DType::kFloat32;
  Shape shape_;
  std::int64_t element_count_ = 0;
  std::shared_ptr<void> storage_;  // null for a borrowed tensor
  std::byte* data_ = nullptr;
};

// Concatenates tensors along dimension 0 (the batch); all must share dtype and trailing dims.
Result<Tensor> ConcatBatch(std::span<const Tensor> parts);
// Owned copy of items [begin, begin + count) along dimension 0.
Result<Tensor> SliceBatch(const Tensor& tensor, std::int64_t begin, std::int64_t count);
// The same items without a copy: shares `tensor`'s storage (kept alive by the view), or borrows
// like `tensor` does when it is borrowed.
Result<Tensor> ViewBatch(const Tensor& tensor, std::int64_t begin, std::int64_t count);

}  // namespace orbit
