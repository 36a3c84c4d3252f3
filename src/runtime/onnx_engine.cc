// OnnxEngine: the Engine backed by an ONNX Runtime session (C++ API). Every Ort::Exception is
// caught in this file and becomes a Status that names the model.
#include "runtime/onnx_engine.h"

#include <onnxruntime_cxx_api.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/engine.h"

namespace orbit::runtime {
namespace internal {

namespace {

bool IsPathChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '\\' || c == '_' ||
         c == '.' || c == '-';
}

// If a source location "<path>.<ext>:<line> " ends at `colon` + digits + space, returns where its
// path starts and where the text after it starts.
std::optional<std::pair<std::size_t, std::size_t>> SourceLocationAt(std::string_view text,
                                                                    std::size_t colon) {
  std::size_t end = colon + 1;
  while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
  if (end == colon + 1 || end >= text.size() || text[end] != ' ') return std::nullopt;
  std::size_t begin = colon;
  while (begin > 0 && IsPathChar(text[begin - 1])) --begin;
  const std::string_view path = text.substr(begin, colon - begin);
  for (const std::string_view ext : {".cc", ".h", ".cpp", ".hpp", ".cu"}) {
    if (path.size() > ext.size() && path.ends_with(ext)) return std::pair{begin, end + 1};
  }
  return std::nullopt;
}

}  // namespace

std::string CleanOrtMessage(std::string_view message) {
  // Our messages already name the model; ORT's "Load model from /long/path failed:" repeats it.
  constexpr std::string_view kLoadPrefix = "Load model from ";
  if (message.starts_with(kLoadPrefix)) {
    const std::size_t failed = message.find(" failed:");
    if (failed != std::string_view::npos) message.remove_prefix(failed + 8);
  }

  // ORT_ENFORCE/ORT_THROW prepend "<file>:<line> <C++ signature> "; neither helps a user.
  std::string cleaned;
  std::size_t copied = 0;
  for (std::size_t colon = message.find(':'); colon != std::string_view::npos;
       colon = message.find(':', colon + 1)) {
    const auto location = SourceLocationAt(message, colon);
    if (!location || location->first < copied) continue;
    cleaned += message.substr(copied, location->first - copied);
    std::size_t next = location->second;
    // The signature runs to the parenthesis that closes its parameter list (plus " const").
    const std::size_t open = message.find('(', next);
    if (open != std::string_view::npos && open - next < 300 &&
        message.substr(next, open - next).find('.') == std::string_view::npos) {
      int depth = 0;
      std::size_t pos = open;
      for (; pos < message.size(); ++pos) {
        if (message[pos] == '(') ++depth;
        if (message[pos] == ')' && --depth == 0) break;
      }
      if (pos < message.size()) {
        next = pos + 1;
        if (message.substr(next).starts_with(" const")) next += 6;
      }
    }
    copied = next;
    colon = next == 0 ? 0 : next - 1;
  }
  cleaned += message.substr(std::min(copied, message.size()));

  std::string out;
  out.reserve(cleaned.size());
  for (const char c : cleaned) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  constexpr std::size_t kMaxLength = 400;
  if (out.size() > kMaxLength) {
    out.resize(kMaxLength - 3);
    out += "...";
  }
  if (out.empty()) out = "no reason given by ONNX Runtime";
  return out;
}

std::string ShortProviderName(std::string_view ort_name) {
  constexpr std::string_view kSuffix = "ExecutionProvider";
  if (ort_name.ends_with(kSuffix)) ort_name.remove_suffix(kSuffix.size());
  std::string out(ort_name);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace internal

namespace {

using internal::CleanOrtMessage;

constexpr std::string_view kKnownProviders[] = {"cpu", "cuda", "tensorrt"};

// Routes ONNX Runtime's own log lines into spdlog so that they share format, sink and level.
void LogOrtMessage(void* /*param*/, OrtLoggingLevel severity, const char* /*category*/,
                   const char* /*logid*/, const char* /*code_location*/, const char* message) {
  spdlog::level::level_enum level = spdlog::level::warn;
  switch (severity) {
    case ORT_LOGGING_LEVEL_VERBOSE:
      level = spdlog::level::trace;
      break;
    case ORT_LOGGING_LEVEL_INFO:
      level = spdlog::level::debug;
      break;
    case ORT_LOGGING_LEVEL_WARNING:
      level = spdlog::level::warn;
      break;
    case ORT_LOGGING_LEVEL_ERROR:
      level = spdlog::level::err;
      break;
    case ORT_LOGGING_LEVEL_FATAL:
      level = spdlog::level::critical;
      break;
  }
  spdlog::log(level, "onnxruntime: {}", message);
}

// The one Ort::Env of the process (ORT allows only one). Created on first use; throws
// Ort::Exception if ORT cannot initialise, which callers convert like any other ORT error.
Ort::Env& SharedEnv() {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "orbit", &LogOrtMessage, nullptr);
  return env;
}

std::string Quoted(std::string_view model) { return "model '" + std::string(model) + "'"; }

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string_view OrtElementTypeName(ONNXTensorElementDataType type) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING:
      return "STRING";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16:
      return "BFLOAT16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX64:
      return "COMPLEX64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX128:
      return "COMPLEX128";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED:
      return "UNDEFINED";
    default:
      return "a type without an Orbit equivalent";
  }
}

std::optional<DType> ToDType(ONNXTensorElementDataType type) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL:
      return DType::kBool;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
      return DType::kUInt8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16:
      return DType::kUInt16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32:
      return DType::kUInt32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64:
      return DType::kUInt64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8:
      return DType::kInt8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16:
      return DType::kInt16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
      return DType::kInt32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
      return DType::kInt64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
      return DType::kFloat16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
      return DType::kFloat32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
      return DType::kFloat64;
    default:
      return std::nullopt;
  }
}

ONNXTensorElementDataType ToOrtType(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL;
    case DType::kUInt8:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8;
    case DType::kUInt16:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16;
    case DType::kUInt32:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32;
    case DType::kUInt64:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64;
    case DType::kInt8:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8;
    case DType::kInt16:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16;
    case DType::kInt32:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
    case DType::kInt64:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    case DType::kFloat16:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
    case DType::kFloat32:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    case DType::kFloat64:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE;
  }
  return ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
}

GraphOptimizationLevel ToOrtLevel(GraphOptimization level) {
  switch (level) {
    case GraphOptimization::kDisabled:
      return ORT_DISABLE_ALL;
    case GraphOptimization::kBasic:
      return ORT_ENABLE_BASIC;
    case GraphOptimization::kExtended:
      return ORT_ENABLE_EXTENDED;
    case GraphOptimization::kAll:
      return ORT_ENABLE_ALL;
  }
  return ORT_ENABLE_ALL;
}

// A load-time ORT error as a Status. Protobuf and graph errors mean the bytes are not a model ORT
// can use; an unimplemented operator or opset is Unimplemented; anything else is ORT's problem.
Status LoadError(std::string_view model, const Ort::Exception& e) {
  const std::string reason = CleanOrtMessage(e.what());
  switch (e.GetOrtErrorCode()) {
    case ORT_INVALID_PROTOBUF:
    case ORT_INVALID_GRAPH:
    case ORT_INVALID_ARGUMENT:
    case ORT_NO_MODEL:
    case ORT_FAIL:  // e.g. "ModelProto does not have a graph."
      return InvalidArgumentError(Quoted(model) + ": not a valid ONNX model: " + reason);
    case ORT_NOT_IMPLEMENTED:
      return UnimplementedError(Quoted(model) + ": not supported by ONNX Runtime " +
                                Ort::GetVersionString() + ": " + reason);
    case ORT_NO_SUCHFILE:
      return NotFoundError(Quoted(model) + ": " + reason);
    default:
      return InternalError(Quoted(model) + ": ONNX Runtime could not create a session: " + reason);
  }
}

// ORT reports shape errors from its own input checks as INVALID_ARGUMENT, but an inconsistency
// between dynamic dimensions only surfaces inside a kernel as a generic FAIL; the message is the
// only way to tell those apart from genuine internal failures.
Status RunError(std::string_view model, const Ort::Exception& e) {
  const std::string reason = CleanOrtMessage(e.what());
  std::string lower = reason;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const bool is_shape_error = lower.find("broadcast") != std::string::npos ||
                              lower.find("shape") != std::string::npos ||
                              lower.find("dimension") != std::string::npos;
  if (e.GetOrtErrorCode() == ORT_INVALID_ARGUMENT || is_shape_error) {
    return InvalidArgumentError(Quoted(model) + ": run failed: " + reason);
  }
  return InternalError(Quoted(model) + ": run failed: " + reason);
}

Status CheckOptions(std::string_view model, const EngineOptions& options) {
  if (options.intra_op_threads < 0) {
    return InvalidArgumentError(Quoted(model) +
                                ": intra_op_threads must be >= 0 (0 = default), got " +
                                std::to_string(options.intra_op_threads));
  }
  if (options.inter_op_threads < 0) {
    return InvalidArgumentError(Quoted(model) +
                                ": inter_op_threads must be >= 0 (0 = default), got " +
                                std::to_string(options.inter_op_threads));
  }
  if (options.device_id < 0) {
    return InvalidArgumentError(Quoted(model) + ": device_id must be >= 0, got " +
                                std::to_string(options.device_id));
  }
  return Status::Ok();
}

// The requested providers, lowercased and validated: known names, no repeats, and "cpu" (which
// ORT always registers last and which takes every node it can run) only at the end.
Result<std::vector<std::string>> NormalizeProviders(std::string_view model,
                                                    const std::vector<std::string>& requested) {
  std::vector<std::string> names;
  for (const auto& raw : requested) {
    std::string name = internal::ShortProviderName(raw);
    if (std::find(std::begin(kKnownProviders), std::end(kKnownProviders), name) ==
        std::end(kKnownProviders)) {
      return InvalidArgumentError(Quoted(model) + ": unknown execution provider '" + raw +
                                  "' (known: cpu, cuda, tensorrt)");
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      return InvalidArgumentError(Quoted(model) + ": execution provider '" + name +
                                  "' is listed twice");
    }
    if (!names.empty() && names.back() == "cpu") {
      return InvalidArgumentError(Quoted(model) + ": execution provider '" + name +
                                  "' is listed after 'cpu'; cpu takes every node it can run, "
                                  "so it must come last");
    }
    names.push_back(std::move(name));
  }
  if (names.empty() || names.back() != "cpu") names.emplace_back("cpu");
  return names;
}

// Appends one GPU provider through the V2 options API; throws Ort::Exception when ORT cannot
// enable it (provider library or CUDA/TensorRT libraries missing, bad device id).
void AppendProvider(Ort::SessionOptions& session_options, const std::string& name, int device_id) {
  const std::string device = std::to_string(device_id);
  if (name == "cuda") {
    Ort::CUDAProviderOptions cuda;
    cuda.Update({{"device_id", device}});
    session_options.AppendExecutionProvider_CUDA_V2(*cuda);
  } else if (name == "tensorrt") {
    Ort::TensorRTProviderOptions tensorrt;
    tensorrt.Update({{"device_id", device}});
    session_options.AppendExecutionProvider_TensorRT_V2(*tensorrt);
  }
}

// Session options without providers (ORT adds its CPU provider implicitly).
Ort::SessionOptions BaseSessionOptions(const EngineOptions& options) {
  Ort::SessionOptions session_options;
  session_options.SetIntraOpNumThreads(options.intra_op_threads);
  session_options.SetInterOpNumThreads(options.inter_op_threads);
  session_options.SetExecutionMode(options.parallel_execution ? ORT_PARALLEL : ORT_SEQUENTIAL);
  session_options.SetGraphOptimizationLevel(ToOrtLevel(options.optimization));
  const char* spinning = options.allow_spinning ? "1" : "0";
  session_options.AddConfigEntry("session.intra_op.allow_spinning", spinning);
  session_options.AddConfigEntry("session.inter_op.allow_spinning", spinning);
  return session_options;
}

// Appends the requested providers in order. An unavailable one either fails the load
// (FailedPrecondition) or is skipped with one warning; returns the providers actually in use.
Result<std::vector<std::string>> AppendProviders(std::string_view model,
                                                 const EngineOptions& options,
                                                 Ort::SessionOptions& session_options) {
  ORBIT_ASSIGN_OR_RETURN(const std::vector<std::string> requested,
                         NormalizeProviders(model, options.execution_providers));
  const std::vector<std::string> available = AvailableExecutionProviders();
  std::vector<std::string> active;
  for (std::size_t i = 0; i < requested.size(); ++i) {
    const std::string& name = requested[i];
    if (name == "cpu") continue;  // always present, always last
    std::string problem;
    if (std::find(available.begin(), available.end(), name) == available.end()) {
      problem = "is not available in this ONNX Runtime build (available: " + Join(available) + ")";
    } else {
      try {
        AppendProvider(session_options, name, options.device_id);
      } catch (const Ort::Exception& e) {
        problem = "could not be enabled on device " + std::to_string(options.device_id) + ": " +
                  CleanOrtMessage(e.what());
      }
    }
    if (problem.empty()) {
      active.push_back(name);
      continue;
    }
    const std::string message = Quoted(model) + ": execution provider '" + name + "' " + problem;
    if (!options.allow_provider_fallback) return FailedPreconditionError(message);
    spdlog::warn("{}; falling back to {}", message, requested[i + 1]);
  }
  active.emplace_back("cpu");
  return active;
}

// Where the model comes from: a file (so ORT can resolve external data beside it) or bytes.
struct ModelSource {
  const std::filesystem::path* path = nullptr;
  std::span<const std::byte> bytes;
};

class OnnxEngine final : public Engine {
 public:
  OnnxEngine(std::string name, Ort::Session session, std::vector<std::string> active_providers)
      : name_(std::move(name)),
        session_(std::move(session)),
        active_providers_(std::move(active_providers)),
        memory_info_(Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault)) {}

  // Reads names, types, shapes and metadata; Unimplemented for an input or output Orbit cannot
  // represent (string, bfloat16, sequences, maps).
  Status Introspect() {
    Ort::AllocatorWithDefaultOptions allocator;
    const std::size_t input_count = session_.GetInputCount();
    for (std::size_t i = 0; i < input_count; ++i) {
      const std::string input_name = session_.GetInputNameAllocated(i, allocator).get();
      ORBIT_ASSIGN_OR_RETURN(TensorInfo info,
                             Describe("input", input_name, session_.GetInputTypeInfo(i)));
      inputs_.push_back(std::move(info));
    }
    const std::size_t output_count = session_.GetOutputCount();
    for (std::size_t i = 0; i < output_count; ++i) {
      const std::string output_name = session_.GetOutputNameAllocated(i, allocator).get();
      ORBIT_ASSIGN_OR_RETURN(TensorInfo info,
                             Describe("output", output_name, session_.GetOutputTypeInfo(i)));
      outputs_.push_back(std::move(info));
    }
    for (const auto& info : inputs_) input_names_.push_back(info.name.c_str());
    for (const auto& info : outputs_) output_names_.push_back(info.name.c_str());

    const Ort::ModelMetadata metadata = session_.GetModelMetadata();
    metadata_.producer_name = metadata.GetProducerNameAllocated(allocator).get();
    metadata_.graph_name = metadata.GetGraphNameAllocated(allocator).get();
    metadata_.domain = metadata.GetDomainAllocated(allocator).get();
    metadata_.description = metadata.GetDescriptionAllocated(allocator).get();
    metadata_.version = metadata.GetVersion();
    metadata_.opset = session_.GetOpset("");
    for (const auto& key : metadata.GetCustomMetadataMapKeysAllocated(allocator)) {
      metadata_.custom[key.get()] =
          metadata.LookupCustomMetadataMapAllocated(key.get(), allocator).get();
    }
    return Status::Ok();
  }

  const std::string& name() const override { return name_; }
  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }
  const std::vector<std::string>& active_providers() const override { return active_providers_; }
  const ModelMetadata& metadata() const override { return metadata_; }

  Status ValidateInputs(std::span<const Tensor> inputs) const override {
    if (inputs.size() != inputs_.size()) {
      std::vector<std::string> names;
      for (const auto& info : inputs_) names.push_back("'" + info.name + "'");
      return InvalidArgumentError(Quoted(name_) + ": expects " + std::to_string(inputs_.size()) +
                                  (inputs_.size() == 1 ? " input (" : " inputs (") + Join(names) +
                                  "), got " + std::to_string(inputs.size()));
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const TensorInfo& expected = inputs_[i];
      const Tensor& tensor = inputs[i];
      const std::string input = Quoted(name_) + ": input '" + expected.name + "'";
      if (tensor.dtype() != expected.dtype) {
        return InvalidArgumentError(input + " expects " + std::string(DTypeName(expected.dtype)) +
                                    ", got " + std::string(DTypeName(tensor.dtype())));
      }
      const Shape& shape = tensor.shape();
      if (shape.size() != expected.shape.size()) {
        return InvalidArgumentError(
            input + " expects rank " + std::to_string(expected.shape.size()) + " (shape " +
            ShapeToString(expected.shape) + "), got rank " + std::to_string(shape.size()) + " (" +
            ShapeToString(shape) + ")");
      }
      for (std::size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] < 0) {
          return InvalidArgumentError(input + " dimension " + std::to_string(d) + " is negative (" +
                                      ShapeToString(shape) + ")");
        }
        if (expected.shape[d] >= 0 && shape[d] != expected.shape[d]) {
          return InvalidArgumentError(input + " dimension " + std::to_string(d) + " is " +
                                      std::to_string(expected.shape[d]) + ", got " +
                                      std::to_string(shape[d]) + " (expected shape " +
                                      ShapeToString(expected.shape) + ", got " +
                                      ShapeToString(shape) + ")");
        }
      }
      // A default-constructed or otherwise inconsistent tensor must not reach ORT, which would
      // read past its buffer.
      const Result<std::int64_t> count = ElementCount(shape);
      if (!count.ok() || *count != tensor.element_count() ||
          (tensor.byte_size() > 0 && tensor.bytes().data() == nullptr)) {
        return InvalidArgumentError(input + " holds " + std::to_string(tensor.element_count()) +
                                    " elements, but its shape " + ShapeToString(shape) + " needs " +
                                    (count.ok() ? std::to_string(*count) : "more"));
      }
    }
    return Status::Ok();
  }

  Result<std::vector<Tensor>> Run(std::span<const Tensor> inputs) const override {
    ORBIT_RETURN_IF_ERROR(ValidateInputs(inputs));
    try {
      // Inputs are wrapped, not copied: ORT reads the caller's buffers directly. ORT never writes
      // to an input, so dropping const here is safe.
      std::vector<Ort::Value> values;
      values.reserve(inputs.size());
      for (const Tensor& tensor : inputs) {
        static std::byte empty_buffer[1];
        auto* data = const_cast<std::byte*>(tensor.bytes().data());
        values.push_back(Ort::Value::CreateTensor(
            memory_info_, data != nullptr ? data : empty_buffer, tensor.byte_size(),
            tensor.shape().data(), tensor.shape().size(), ToOrtType(tensor.dtype())));
      }
      // Run failures come back as Status; ORT's own error log line would only repeat them.
      Ort::RunOptions run_options;
      run_options.SetRunLogSeverityLevel(ORT_LOGGING_LEVEL_FATAL);
      // ORT allocates the outputs (their shapes are known only after the run); each Tensor keeps
      // its Ort::Value alive and points into it, so outputs are never copied here.
      std::vector<Ort::Value> results =
          session_.Run(run_options, input_names_.data(), values.data(), values.size(),
                       output_names_.data(), output_names_.size());
      std::vector<Tensor> outputs;
      outputs.reserve(results.size());
      for (std::size_t i = 0; i < results.size(); ++i) {
        ORBIT_ASSIGN_OR_RETURN(Tensor output, ToTensor(outputs_[i].name, std::move(results[i])));
        outputs.push_back(std::move(output));
      }
      return outputs;
    } catch (const Ort::Exception& e) {
      return RunError(name_, e);
    }
  }

 private:
  Result<TensorInfo> Describe(std::string_view kind, const std::string& value_name,
                              const Ort::TypeInfo& type_info) const {
    const std::string what = Quoted(name_) + ": " + std::string(kind) + " '" + value_name + "'";
    if (type_info.GetONNXType() != ONNX_TYPE_TENSOR) {
      return UnimplementedError(what +
                                " is not a tensor (sequences, maps and optionals are not "
                                "supported)");
    }
    const auto tensor_info = type_info.GetTensorTypeAndShapeInfo();
    const ONNXTensorElementDataType element_type = tensor_info.GetElementType();
    const std::optional<DType> dtype = ToDType(element_type);
    if (!dtype) {
      return UnimplementedError(what + " has element type " +
                                std::string(OrtElementTypeName(element_type)) +
                                ", which Orbit tensors cannot hold");
    }
    TensorInfo info{value_name, *dtype, tensor_info.GetShape()};
    for (auto& dim : info.shape) {
      if (dim < 0) dim = -1;  // symbolic ("N") and unnamed dimensions alike
    }
    return info;
  }

  Result<Tensor> ToTensor(const std::string& output_name, Ort::Value value) const {
    const std::string what = Quoted(name_) + ": output '" + output_name + "'";
    if (!value.IsTensor()) return InternalError(what + " is not a tensor");
    const auto info = value.GetTensorTypeAndShapeInfo();
    const std::optional<DType> dtype = ToDType(info.GetElementType());
    if (!dtype) {
      return InternalError(what + " has element type " +
                           std::string(OrtElementTypeName(info.GetElementType())));
    }
    const std::size_t byte_count = info.GetElementCount() * DTypeSize(*dtype);
    auto owner = std::make_shared<Ort::Value>(std::move(value));
    auto* data = static_cast<std::byte*>(owner->GetTensorMutableRawData());
    if (byte_count == 0) return Tensor::Zeros(*dtype, info.GetShape());
    return Tensor::Share(*dtype, info.GetShape(), {data, byte_count}, std::move(owner));
  }

  const std::string name_;
  // Ort::Session::Run is not const in the C++ wrapper, but ORT documents concurrent Run calls on
  // one session as safe; nothing else mutates the session after Introspect().
  mutable Ort::Session session_;
  const std::vector<std::string> active_providers_;
  const Ort::MemoryInfo memory_info_;
  std::vector<TensorInfo> inputs_;
  std::vector<TensorInfo> outputs_;
  std::vector<const char*> input_names_;   // point into inputs_
  std::vector<const char*> output_names_;  // point into outputs_
  ModelMetadata metadata_;
};

Ort::Session CreateSession(const ModelSource& source, const Ort::SessionOptions& options) {
  if (source.path != nullptr) return Ort::Session(SharedEnv(), source.path->c_str(), options);
  return Ort::Session(SharedEnv(), source.bytes.data(), source.bytes.size(), options);
}

Result<std::unique_ptr<Engine>> Load(const ModelSource& source, const std::string& name,
                                     const EngineOptions& options) {
  ORBIT_RETURN_IF_ERROR(CheckOptions(name, options));
  try {
    Ort::SessionOptions session_options = BaseSessionOptions(options);
    ORBIT_ASSIGN_OR_RETURN(std::vector<std::string> active,
                           AppendProviders(name, options, session_options));
    std::optional<Ort::Session> session;
    try {
      session.emplace(CreateSession(source, session_options));
    } catch (const Ort::Exception& e) {
      // A GPU provider can append fine and still fail when the session initialises it (no
      // device, driver too old). With fallback allowed, try once more on the CPU alone; a model
      // that is itself broken fails again there with the same reason.
      if (active.size() == 1 || !options.allow_provider_fallback) return LoadError(name, e);
      spdlog::warn(
          "{}: could not create a session with execution providers [{}] ({}); "
          "falling back to cpu",
          Quoted(name), Join(active), CleanOrtMessage(e.what()));
      active = {"cpu"};
      session.emplace(CreateSession(source, BaseSessionOptions(options)));
    }
    auto engine = std::make_unique<OnnxEngine>(name, std::move(*session), std::move(active));
    ORBIT_RETURN_IF_ERROR(engine->Introspect());
    return std::unique_ptr<Engine>(std::move(engine));
  } catch (const Ort::Exception& e) {
    return LoadError(name, e);
  }
}

}  // namespace

Result<std::unique_ptr<Engine>> LoadOnnxEngine(const std::filesystem::path& model_path,
                                               const EngineOptions& options, std::string name) {
  if (name.empty()) name = model_path.stem().string();
  std::error_code error;
  const auto status = std::filesystem::status(model_path, error);
  if (!std::filesystem::exists(status)) {
    return NotFoundError("model file '" + model_path.string() + "' does not exist");
  }
  if (!std::filesystem::is_regular_file(status)) {
    return InvalidArgumentError("model file '" + model_path.string() + "' is not a regular file");
  }
  if (std::filesystem::file_size(model_path, error) == 0 && !error) {
    return InvalidArgumentError(Quoted(name) + ": not a valid ONNX model: the file '" +
                                model_path.string() + "' is empty");
  }
  return Load(ModelSource{.path = &model_path}, name, options);
}

Result<std::unique_ptr<Engine>> LoadOnnxEngineFromBytes(std::span<const std::byte> model_bytes,
                                                        std::string name,
                                                        const EngineOptions& options) {
  if (name.empty()) name = "unnamed";
  if (model_bytes.empty()) {
    return InvalidArgumentError(Quoted(name) + ": not a valid ONNX model: no bytes given");
  }
  return Load(ModelSource{.bytes = model_bytes}, name, options);
}

std::vector<std::string> AvailableExecutionProviders() {
  std::vector<std::string> names;
  try {
    for (const auto& provider : Ort::GetAvailableProviders()) {
      names.push_back(internal::ShortProviderName(provider));
    }
  } catch (const Ort::Exception& e) {
    spdlog::warn("cannot list ONNX Runtime execution providers: {}", CleanOrtMessage(e.what()));
  }
  if (std::find(names.begin(), names.end(), "cpu") == names.end()) names.emplace_back("cpu");
  return names;
}

std::string OnnxRuntimeVersion() { return Ort::GetVersionString(); }

}  // namespace orbit::runtime
