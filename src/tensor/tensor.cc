#include "tensor/tensor.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace orbit {

std::size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kBool:
    case DType::kUInt8:
    case DType::kInt8:
      return 1;
    case DType::kUInt16:
    case DType::kInt16:
    case DType::kFloat16:
      return 2;
    case DType::kUInt32:
    case DType::kInt32:
    case DType::kFloat32:
      return 4;
    case DType::kUInt64:
    case DType::kInt64:
    case DType::kFloat64:
      return 8;
  }
  return 1;
}

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return "BOOL";
    case DType::kUInt8:
      return "UINT8";
    case DType::kUInt16:
      return "UINT16";
    case DType::kUInt32:
      return "UINT32";
    case DType::kUInt64:
      return "UINT64";
    case DType::kInt8:
      return "INT8";
    case DType::kInt16:
      return "INT16";
    case DType::kInt32:
      return "INT32";
    case DType::kInt64:
      return "INT64";
    case DType::kFloat16:
      return "FP16";
    case DType::kFloat32:
      return "FP32";
    case DType::kFloat64:
      return "FP64";
  }
  return "UNKNOWN";
}

Result<DType> ParseDType(std::string_view name) {
  struct Alias {
    std::string_view name;
    DType dtype;
  };
  static constexpr Alias kAliases[] = {
      {"BOOL", DType::kBool},       {"UINT8", DType::kUInt8},     {"UINT16", DType::kUInt16},
      {"UINT32", DType::kUInt32},   {"UINT64", DType::kUInt64},   {"INT8", DType::kInt8},
      {"INT16", DType::kInt16},     {"INT32", DType::kInt32},     {"INT64", DType::kInt64},
      {"FP16", DType::kFloat16},    {"FP32", DType::kFloat32},    {"FP64", DType::kFloat64},
      {"bool", DType::kBool},       {"uint8", DType::kUInt8},     {"uint16", DType::kUInt16},
      {"uint32", DType::kUInt32},   {"uint64", DType::kUInt64},   {"int8", DType::kInt8},
      {"int16", DType::kInt16},     {"int32", DType::kInt32},     {"int64", DType::kInt64},
      {"float16", DType::kFloat16}, {"float32", DType::kFloat32}, {"float64", DType::kFloat64},
  };
  for (const auto& alias : kAliases) {
    if (alias.name == name) return alias.dtype;
  }
  return InvalidArgumentError("unknown datatype '" + std::string(name) +
                              "' (expected one of BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, "
                              "FP64)");
}

Result<std::int64_t> ElementCount(const Shape& shape) {
  std::int64_t count = 1;
  for (const auto dim : shape) {
    if (dim < 0) {
      return InvalidArgumentError("shape " + ShapeToString(shape) +
                                  " has a negative (dynamic) dimension");
    }
    if (dim != 0 && count > std::numeric_limits<std::int64_t>::max() / dim) {
      return OutOfRangeError("shape " + ShapeToString(shape) + " has too many elements");
    }
    count *= dim;
  }
  return count;
}

std::string ShapeToString(const Shape& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  out += "]";
  return out;
}

namespace {
Result<std::int64_t> CheckedCount(DType dtype, const Shape& shape, std::size_t byte_count) {
  ORBIT_ASSIGN_OR_RETURN(const std::int64_t count, ElementCount(shape));
  const auto size = DTypeSize(dtype);
  if (count > std::numeric_limits<std::int64_t>::max() / static_cast<std::int64_t>(size) ||
      static_cast<std::uint64_t>(count) * size != byte_count) {
    return InvalidArgumentError("tensor of " + std::string(DTypeName(dtype)) + " " +
                                ShapeToString(shape) + " needs " +
                                std::to_string(static_cast<std::uint64_t>(count) * size) +
                                " bytes, got " + std::to_string(byte_count));
  }
  return count;
}
}  // namespace

Result<Tensor> Tensor::Zeros(DType dtype, Shape shape) {
  ORBIT_ASSIGN_OR_RETURN(const std::int64_t count, ElementCount(shape));
  const std::size_t size = static_cast<std::size_t>(count) * DTypeSize(dtype);
  std::shared_ptr<std::byte[]> owned(new std::byte[size == 0 ? 1 : size]());  // zero-filled
  std::byte* data = owned.get();
  return Tensor(dtype, std::move(shape), count, std::move(owned), data);
}

Result<Tensor> Tensor::CopyFrom(DType dtype, Shape shape, std::span<const std::byte> bytes) {
  ORBIT_ASSIGN_OR_RETURN(const std::int64_t count, CheckedCount(dtype, shape, bytes.size()));
  std::shared_ptr<std::byte[]> owned(new std::byte[bytes.empty() ? 1 : bytes.size()]);
  if (!bytes.empty()) std::memcpy(owned.get(), bytes.data(), bytes.size());
  std::byte* data = owned.get();
  return Tensor(dtype, std::move(shape), count, std::move(owned), data);
}

Result<Tensor> Tensor::Share(DType dtype, Shape shape, std::span<std::byte> bytes,
                             std::shared_ptr<void> storage) {
  if (storage == nullptr) return InvalidArgumentError("a shared tensor needs its storage");
  ORBIT_ASSIGN_OR_RETURN(const std::int64_t count, CheckedCount(dtype, shape, bytes.size()));
  return Tensor(dtype, std::move(shape), count, std::move(storage), bytes.data());
}

Result<Tensor> Tensor::Borrow(DType dtype, Shape shape, std::span<std::byte> bytes) {
  ORBIT_ASSIGN_OR_RETURN(const std::int64_t count, CheckedCount(dtype, shape, bytes.size()));
  return Tensor(dtype, std::move(shape), count, nullptr, bytes.data());
}

Tensor Tensor::Clone() const {
  if (data_ == nullptr) return Tensor();
  auto result = CopyFrom(dtype_, shape_, bytes());
  return std::move(result).value();
}

Status Tensor::Reshape(Shape shape) {
  ORBIT_ASSIGN_OR_RETURN(const std::int64_t count, ElementCount(shape));
  if (count != element_count_) {
    return InvalidArgumentError("cannot reshape " + ShapeToString(shape_) + " (" +
                                std::to_string(element_count_) + " elements) to " +
                                ShapeToString(shape) + " (" + std::to_string(count) + " elements)");
  }
  shape_ = std::move(shape);
  return Status::Ok();
}

Result<Tensor> ConcatBatch(std::span<const Tensor> parts) {
  if (parts.empty()) return InvalidArgumentError("cannot concatenate an empty list of tensors");
  const Tensor& first = parts.front();
  if (first.shape().empty()) return InvalidArgumentError("cannot concatenate scalars");
  Shape shape = first.shape();
  std::int64_t batch = 0;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Tensor& part = parts[i];
    if (part.dtype() != first.dtype() || part.shape().size() != shape.size() ||
        !std::equal(part.shape().begin() + 1, part.shape().end(), shape.begin() + 1)) {
      return InvalidArgumentError(
          "cannot concatenate tensor " + std::to_string(i) + " (" +
          std::string(DTypeName(part.dtype())) + " " + ShapeToString(part.shape()) +
          ") with tensor 0 (" + std::string(DTypeName(first.dtype())) + " " +
          ShapeToString(first.shape()) + "): dtype and all but the first dimension must match");
    }
    batch += part.shape()[0];
    bytes += part.byte_size();
  }
  shape[0] = batch;
  // Every byte is written below, so the buffer is not zero-filled first.
  std::shared_ptr<std::byte[]> joined(new std::byte[bytes == 0 ? 1 : bytes]);
  ORBIT_ASSIGN_OR_RETURN(
      Tensor out, Tensor::Share(first.dtype(), std::move(shape), {joined.get(), bytes}, joined));
  std::byte* dst = out.bytes().data();
  for (const Tensor& part : parts) {
    if (part.byte_size() > 0) std::memcpy(dst, part.bytes().data(), part.byte_size());
    dst += part.byte_size();
  }
  return out;
}

Result<Tensor> SliceBatch(const Tensor& tensor, std::int64_t begin, std::int64_t count) {
  ORBIT_ASSIGN_OR_RETURN(const Tensor view, ViewBatch(tensor, begin, count));
  return view.Clone();
}

Result<Tensor> ViewBatch(const Tensor& tensor, std::int64_t begin, std::int64_t count) {
  if (tensor.shape().empty()) return InvalidArgumentError("cannot slice a scalar");
  const std::int64_t batch = tensor.shape()[0];
  if (begin < 0 || count < 0 || begin + count > batch) {
    return OutOfRangeError("slice [" + std::to_string(begin) + ", " +
                           std::to_string(begin + count) + ") is outside a batch of " +
                           std::to_string(batch));
  }
  Shape shape = tensor.shape();
  shape[0] = count;
  ORBIT_ASSIGN_OR_RETURN(const std::int64_t elements, ElementCount(shape));
  const std::size_t item_bytes =
      batch == 0 ? 0 : tensor.byte_size() / static_cast<std::size_t>(batch);
  std::byte* data = tensor.data_ + static_cast<std::size_t>(begin) * item_bytes;
  return Tensor(tensor.dtype(), std::move(shape), elements, tensor.storage_, data);
}

}  // namespace orbit
