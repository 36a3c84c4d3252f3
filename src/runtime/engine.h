// Engine: runs one loaded model on tensors. The interface hides ONNX Runtime so the scheduler,
// the CLI and tests can use any engine (and fakes); OnnxEngine is the production one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tensor/tensor.h"

namespace orbit::runtime {

// A model input or output as the model declares it; -1 marks a dynamic dimension.
struct TensorInfo {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
};

// Descriptive fields a model file carries; engines without them return an empty one.
struct ModelMetadata {
  std::string producer_name;  // e.g. "pytorch"
  std::string graph_name;
  std::string domain;
  std::string description;
  std::int64_t version = 0;  // the model's own version number (ModelProto.model_version)
  int opset = 0;             // of the default ONNX domain; 0 when unknown
  std::map<std::string, std::string> custom;  // ModelProto.metadata_props
};

enum class GraphOptimization { kDisabled, kBasic, kExtended, kAll };

// Knobs for loading a model. Defaults suit a CPU host: ORT picks thread counts, all graph
// optimisations, CPU provider only.
struct EngineOptions {
  int intra_op_threads = 0;  // 0 = ONNX Runtime's default (one per physical core)
  int inter_op_threads = 0;
  bool parallel_execution = false;  // ORT_PARALLEL between independent nodes
  // Whether ORT's pool threads busy-wait for the next parallel section (ORT's default). Spinning
  // is fastest when the model owns the cores; in a server the spinning threads steal CPU from the
  // network threads that feed it.
  bool allow_spinning = true;
  GraphOptimization optimization = GraphOptimization::kAll;
  // Tried in order, e.g. {"tensorrt", "cuda", "cpu"}. Names: cpu, cuda, tensorrt.
  std::vector<std::string> execution_providers = {"cpu"};
  // When a requested provider is unavailable: true = log why and fall back to the next (CPU last);
  // false = fail the load with FailedPrecondition.
  bool allow_provider_fallback = true;
  int device_id = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Name used in every error message ("model 'cellseg': ...").
  virtual const std::string& name() const = 0;
  virtual const std::vector<TensorInfo>& inputs() const = 0;
  virtual const std::vector<TensorInfo>& outputs() const = 0;
  // Providers actually in use after fallback, e.g. {"cpu"}.
  virtual const std::vector<std::string>& active_providers() const = 0;
  // Producer, graph name, opset and custom key/values of the loaded model.
  virtual const ModelMetadata& metadata() const {
    static const ModelMetadata kNone;
    return kNone;
  }

  // Checks count, dtype, rank and every static dimension of `inputs` (in inputs() order);
  // InvalidArgument naming the model, input and mismatch otherwise.
  virtual Status ValidateInputs(std::span<const Tensor> inputs) const = 0;

  // Runs one batch. `inputs` are in inputs() order; returns all outputs in outputs() order.
  // Safe to call from several threads at once (ONNX Runtime sessions are).
  virtual Result<std::vector<Tensor>> Run(std::span<const Tensor> inputs) const = 0;
};

// Loads an ONNX model from a file or from bytes; `name` labels errors (defaults to file stem).
Result<std::unique_ptr<Engine>> LoadOnnxEngine(const std::filesystem::path& model_path,
                                               const EngineOptions& options = {},
                                               std::string name = "");
Result<std::unique_ptr<Engine>> LoadOnnxEngineFromBytes(std::span<const std::byte> model_bytes,
                                                        std::string name,
                                                        const EngineOptions& options = {});

// Execution providers compiled into the loaded ONNX Runtime ("cpu", "cuda", "tensorrt", ...).
std::vector<std::string> AvailableExecutionProviders();
// "1.29.0"
std::string OnnxRuntimeVersion();

}  // namespace orbit::runtime
