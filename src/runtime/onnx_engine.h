// Internals of the ONNX Runtime engine that tests reach directly; everyone else uses engine.h.
#pragma once

#include <string>
#include <string_view>

namespace orbit::runtime::internal {

// Makes an ONNX Runtime error message fit into a one-line Status: drops the source location and
// C++ signature ORT_ENFORCE prepends ("/onnxruntime_src/x.cc:177 void f(int) "), the redundant
// "Load model from <path> failed:" prefix, collapses whitespace and caps the length.
std::string CleanOrtMessage(std::string_view message);

// Short lowercase name of an ORT execution provider: "CUDAExecutionProvider" -> "cuda".
std::string ShortProviderName(std::string_view ort_name);

}  // namespace orbit::runtime::internal
