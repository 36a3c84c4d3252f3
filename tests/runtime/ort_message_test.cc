// Turning ONNX Runtime's error text into one readable Status line, and provider short names.
#include <gtest/gtest.h>

#include <string>

#include "runtime/onnx_engine.h"

namespace orbit::runtime::internal {
namespace {

TEST(CleanOrtMessageTest, DropsSourceLocationAndSignature) {
  EXPECT_EQ(
      CleanOrtMessage("Load model from /tmp/empty.onnx failed:/onnxruntime_src/onnxruntime/"
                      "core/graph/model.cc:177 onnxruntime::Model::Model(onnx::ModelProto&&, "
                      "const onnxruntime::PathString&, const onnxruntime::logging::Logger&, "
                      "const onnxruntime::ModelOptions&) ModelProto does not have a graph.\n"),
      "ModelProto does not have a graph.");
}

TEST(CleanOrtMessageTest, KeepsKernelContextAndReason) {
  EXPECT_EQ(CleanOrtMessage(
                "Non-zero status code returned while running Add node. Name:'' Status Message: "
                "/onnxruntime_src/onnxruntime/core/providers/cpu/math/element_wise_ops.h:563 void "
                "onnxruntime::BroadcastIterator::Init(ptrdiff_t, ptrdiff_t) axis == 1 || axis == "
                "largest was false. Attempting to broadcast an axis by a dimension other than 1. 2 "
                "by 3\n"),
            "Non-zero status code returned while running Add node. Name:'' Status Message: axis "
            "== 1 || axis == largest was false. Attempting to broadcast an axis by a dimension "
            "other than 1. 2 by 3");
}

TEST(CleanOrtMessageTest, CollapsesWhitespaceOfMultiLineMessages) {
  EXPECT_EQ(CleanOrtMessage("Got invalid dimensions for input: x for the following indices\n "
                            "index: 1 Got: 2 Expected: 3\n Please fix either the inputs/outputs "
                            "or the model."),
            "Got invalid dimensions for input: x for the following indices index: 1 Got: 2 "
            "Expected: 3 Please fix either the inputs/outputs or the model.");
}

TEST(CleanOrtMessageTest, LeavesPlainMessagesAlone) {
  EXPECT_EQ(CleanOrtMessage("Protobuf parsing failed."), "Protobuf parsing failed.");
  EXPECT_EQ(CleanOrtMessage("value 3.5 at index.cc is odd"), "value 3.5 at index.cc is odd");
}

TEST(CleanOrtMessageTest, CapsVeryLongMessages) {
  const std::string cleaned = CleanOrtMessage(std::string(5000, 'x'));
  EXPECT_EQ(cleaned.size(), 400u);
  EXPECT_TRUE(cleaned.ends_with("..."));
}

TEST(CleanOrtMessageTest, NamesAnEmptyReason) {
  EXPECT_EQ(CleanOrtMessage(" \n"), "no reason given by ONNX Runtime");
}

TEST(ShortProviderNameTest, StripsSuffixAndLowercases) {
  EXPECT_EQ(ShortProviderName("CPUExecutionProvider"), "cpu");
  EXPECT_EQ(ShortProviderName("CUDAExecutionProvider"), "cuda");
  EXPECT_EQ(ShortProviderName("TensorrtExecutionProvider"), "tensorrt");
  EXPECT_EQ(ShortProviderName("cuda"), "cuda");
}

}  // namespace
}  // namespace orbit::runtime::internal
