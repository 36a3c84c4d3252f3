#include "tensor/tensor.h"

#include <gtest/gtest.h>

namespace orbit {
namespace {

TEST(DTypeTest, SizesAndNamesRoundTrip) {
  for (DType d : {DType::kBool, DType::kUInt8, DType::kUInt16, DType::kUInt32, DType::kUInt64,
                  DType::kInt8, DType::kInt16, DType::kInt32, DType::kInt64, DType::kFloat16,
                  DType::kFloat32, DType::kFloat64}) {
    auto parsed = ParseDType(DTypeName(d));
    ASSERT_TRUE(parsed.ok()) << DTypeName(d);
    EXPECT_EQ(*parsed, d);
  }
  EXPECT_EQ(DTypeSize(DType::kFloat16), 2u);
  EXPECT_EQ(DTypeSize(DType::kInt64), 8u);
  EXPECT_EQ(*ParseDType("float32"), DType::kFloat32);
}

TEST(DTypeTest, UnknownNameIsInvalidArgument) {
  auto r = ParseDType("FP8");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'FP8'"), std::string::npos);
}

TEST(ElementCountTest, RejectsNegativeAndOverflowingShapes) {
  EXPECT_EQ(*ElementCount({2, 3, 4}), 24);
  EXPECT_EQ(*ElementCount({}), 1);
  EXPECT_EQ(*ElementCount({3, 0}), 0);
  EXPECT_EQ(ElementCount({1, -1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ElementCount({1LL << 40, 1LL << 40}).status().code(), StatusCode::kOutOfRange);
}

TEST(TensorTest, RejectsTensorWithWrongByteCount) {
  std::vector<float> values(5);
  auto r = Tensor::CopyFrom(DType::kFloat32, {2, 3}, std::as_bytes(std::span(values)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "tensor of FP32 [2, 3] needs 24 bytes, got 20");
}

TEST(TensorTest, TypedAccessChecksDType) {
  auto t = Tensor::FromVector<float>({2, 2}, {1, 2, 3, 4});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->data<float>()[3], 4.0f);
  EXPECT_TRUE(t->data<std::int32_t>().empty());
  EXPECT_EQ(t->byte_size(), 16u);
}

TEST(TensorTest, BorrowSharesBytesCloneCopies) {
  std::vector<std::int32_t> values = {1, 2, 3};
  auto view = Tensor::Borrow(DType::kInt32, {3}, std::as_writable_bytes(std::span(values)));
  ASSERT_TRUE(view.ok());
  EXPECT_FALSE(view->is_owned());
  Tensor copy = view->Clone();
  values[0] = 42;
  EXPECT_EQ(view->data<std::int32_t>()[0], 42);
  EXPECT_EQ(copy.data<std::int32_t>()[0], 1);
  EXPECT_TRUE(copy.is_owned());
}

TEST(TensorTest, ReshapeKeepsElementCount) {
  auto t = *Tensor::Zeros(DType::kUInt8, {2, 6});
  EXPECT_TRUE(t.Reshape({3, 4}).ok());
  EXPECT_EQ(t.shape(), (Shape{3, 4}));
  EXPECT_EQ(t.Reshape({5}).code(), StatusCode::kInvalidArgument);
}

TEST(BatchTest, ConcatThenSliceRoundTrips) {
  std::vector<Tensor> parts;
  parts.push_back(*Tensor::FromVector<float>({1, 2}, {1, 2}));
  parts.push_back(*Tensor::FromVector<float>({2, 2}, {3, 4, 5, 6}));
  auto batch = ConcatBatch(parts);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->shape(), (Shape{3, 2}));
  auto tail = SliceBatch(*batch, 1, 2);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(std::vector<float>(tail->data<float>().begin(), tail->data<float>().end()),
            (std::vector<float>{3, 4, 5, 6}));
  EXPECT_EQ(SliceBatch(*batch, 2, 2).status().code(), StatusCode::kOutOfRange);
}

TEST(BatchTest, ConcatRejectsMismatchedTrailingDims) {
  std::vector<Tensor> parts;
  parts.push_back(*Tensor::FromVector<float>({1, 2}, {1, 2}));
  parts.push_back(*Tensor::FromVector<float>({1, 3}, {3, 4, 5}));
  auto r = ConcatBatch(parts);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tensor 1"), std::string::npos);
}

TEST(BatchTest, ViewBatchSharesBytesAndOutlivesTheBatch) {
  Tensor first_item;
  Tensor second_item;
  {
    auto batch = Tensor::FromVector<float>({3, 2}, {1, 2, 3, 4, 5, 6});
    ASSERT_TRUE(batch.ok());
    auto first = ViewBatch(*batch, 0, 1);
    auto rest = ViewBatch(*batch, 1, 2);
    ASSERT_TRUE(first.ok() && rest.ok());
    EXPECT_EQ(rest->bytes().data(), batch->bytes().data() + 2 * sizeof(float));  // no copy
    first_item = std::move(first).value();
    second_item = std::move(rest).value();
  }  // the batch tensor is gone; the views keep its buffer alive
  EXPECT_TRUE(first_item.is_owned());
  EXPECT_EQ(first_item.shape(), (Shape{1, 2}));
  EXPECT_EQ(std::vector<float>(second_item.data<float>().begin(), second_item.data<float>().end()),
            (std::vector<float>{3, 4, 5, 6}));
  EXPECT_EQ(first_item.data<float>()[1], 2.0f);
}

TEST(BatchTest, ViewBatchOfBorrowedTensorBorrowsAndChecksRange) {
  std::vector<float> values{1, 2, 3, 4};
  auto borrowed = Tensor::Borrow(DType::kFloat32, {4},
                                 std::as_writable_bytes(std::span(values.data(), values.size())));
  ASSERT_TRUE(borrowed.ok());
  auto view = ViewBatch(*borrowed, 3, 1);
  ASSERT_TRUE(view.ok());
  EXPECT_FALSE(view->is_owned());
  EXPECT_EQ(view->data<float>()[0], 4.0f);
  EXPECT_EQ(ViewBatch(*borrowed, 3, 2).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(ViewBatch(*borrowed, -1, 1).status().code(), StatusCode::kOutOfRange);
}

TEST(TensorTest, ShareKeepsStorageAliveAndChecksSize) {
  auto storage = std::make_shared<std::vector<float>>(std::vector<float>{7, 8});
  auto bytes = std::as_writable_bytes(std::span(storage->data(), storage->size()));
  auto shared = Tensor::Share(DType::kFloat32, {2}, bytes, storage);
  ASSERT_TRUE(shared.ok());
  storage.reset();  // the tensor holds the last reference now
  EXPECT_TRUE(shared->is_owned());
  EXPECT_EQ(shared->data<float>()[1], 8.0f);
  EXPECT_EQ(Tensor::Share(DType::kFloat32, {3}, bytes, std::make_shared<int>(0)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Tensor::Share(DType::kFloat32, {2}, bytes, nullptr).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace orbit
