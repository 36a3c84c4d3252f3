#include "serving/grpc_service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <type_traits>

#include "serving/kserve_codec.h"
#include "serving/proto/grpc_service.grpc.pb.h"
#include "serving/status_mapping.h"

namespace orbit::serving {
namespace {

using AsyncService = inference::GRPCInferenceService::AsyncService;

grpc::Status ToGrpcStatus(const Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(GrpcCodeFor(status.code())), status.message());
}

std::string InputPrefix(std::string_view name) { return "input '" + std::string(name) + "': "; }

// "" (the server chooses) or a positive integer, as in the HTTP path's /versions/{v}.
Result<std::optional<std::int64_t>> ParseVersion(const std::string& text) {
  if (text.empty()) return std::optional<std::int64_t>();
  std::int64_t v = 0;
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (err != std::errc() || end != text.data() + text.size() || v < 1) {
    return InvalidArgumentError("version '" + text + "' is not a positive integer");
  }
  return std::optional<std::int64_t>(v);
}

// One RPC in progress; its address is its completion-queue tag.
class Call {
 public:
  virtual ~Call() = default;
  // Asks gRPC for the next call of this method (the tag comes back through Proceed).
  virtual void Arm() = 0;
  // On the call's queue thread, with the outcome of its last operation.
  virtual void Proceed(bool ok) = 0;
};

// Everything the calls share: the service, the model manager and the bookkeeping that lets
// Shutdown know when no call can touch a completion queue any more.
class GrpcCore {
 public:
  GrpcCore(ModelManager& models, GrpcServerOptions options)
      : models_(models), options_(std::move(options)) {}

  AsyncService& service() { return service_; }
  ModelManager& models() { return models_; }
  const GrpcServerOptions& options() const { return options_; }

  // Arms `call` unless the queues are shutting down (then it is simply destroyed). Holding mu_
  // while arming keeps a queue from being shut down between the check and the request.
  void Spawn(std::unique_ptr<Call> call) {
    std::lock_guard lock(mu_);
    if (!arming_) return;
    call.release()->Arm();
  }
  // A call started: false when the queues are already shutting down (it must then be dropped
  // without finishing, since nothing may be posted to a queue after its Shutdown).
  bool BeginCall() {
    std::lock_guard lock(mu_);
    if (!arming_) return false;
    ++running_;
    return true;
  }
  // A started call's final tag came back.
  void EndCall() {
    std::lock_guard lock(mu_);
    if (--running_ == 0) idle_cv_.notify_all();
  }
  // Waits until no started call is left, then stops arming (and starting) calls.
  void StopArming() {
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock, [this] { return running_ == 0; });
    arming_ = false;
  }

  // Arms one call of each method on `queue`.
  void ArmAll(grpc::ServerCompletionQueue* queue);

 private:
  ModelManager& models_;
  const GrpcServerOptions options_;
  AsyncService service_;

  std::mutex mu_;
  std::condition_variable idle_cv_;
  bool arming_ = true;        // guarded by mu_
  std::int64_t running_ = 0;  // guarded by mu_: started calls whose final tag is still due
};

// The state machine of one unary RPC: kWaiting (armed, no client yet) → kRunning (the handler
// owns it; it ends by calling Finish, from any thread) → kFinishing (Finish's tag comes back on
// the queue thread, which deletes it).
template <typename Request, typename Response>
class UnaryCall final : public Call {
 public:
  using Responder = grpc::ServerAsyncResponseWriter<Response>;
  using RequestMethod = void (AsyncService::*)(grpc::ServerContext*, Request*, Responder*,
                                               grpc::CompletionQueue*, grpc::ServerCompletionQueue*,
                                               void*);
  // Must call Finish exactly once, now or later from another thread, and not touch the call
  // after that.
  using Handler = void (*)(GrpcCore&, UnaryCall&);

  UnaryCall(GrpcCore& core, grpc::ServerCompletionQueue* queue, RequestMethod method,
            Handler handler)
      : core_(core), queue_(queue), method_(method), handler_(handler), responder_(&context_) {}

  void Arm() override {
    (core_.service().*method_)(&context_, &request_, &responder_, queue_, queue_, this);
  }

  void Proceed(bool ok) override {
    if (state_ == State::kWaiting) {
      // Not ok: the server is shutting down and this call never started.
      if (!ok || !core_.BeginCall()) {
        delete this;
        return;
      }
      core_.Spawn(std::make_unique<UnaryCall>(core_, queue_, method_, handler_));
      state_ = State::kRunning;
      handler_(core_, *this);
      return;
    }
    // kFinishing: the response was sent, or the call was cancelled on the wire.
    core_.EndCall();
    delete this;
  }

  const grpc::ServerContext& context() const { return context_; }
  Request& request() { return request_; }
  Response& response() { return response_; }

  void Finish(const grpc::Status& status) {
    state_ = State::kFinishing;  // before Finish: its tag may be handled at once
    if (status.ok()) {
      responder_.Finish(response_, status, this);
    } else {
      responder_.FinishWithError(status, this);
    }
  }

 private:
  enum class State { kWaiting, kRunning, kFinishing };

  GrpcCore& core_;
  grpc::ServerCompletionQueue* const queue_;
  const RequestMethod method_;
  const Handler handler_;
  State state_ = State::kWaiting;
  grpc::ServerContext context_;
  Request request_;
  Response response_;
  Responder responder_;
};

using ServerLiveCall = UnaryCall<inference::ServerLiveRequest, inference::ServerLiveResponse>;
using ServerReadyCall = UnaryCall<inference::ServerReadyRequest, inference::ServerReadyResponse>;
using ModelReadyCall = UnaryCall<inference::ModelReadyRequest, inference::ModelReadyResponse>;
using ServerMetadataCall =
    UnaryCall<inference::ServerMetadataRequest, inference::ServerMetadataResponse>;
using ModelMetadataCall =
    UnaryCall<inference::ModelMetadataRequest, inference::ModelMetadataResponse>;
using ModelInferCall = UnaryCall<inference::ModelInferRequest, inference::ModelInferResponse>;

// ---------------------------------------------------------------------------------------------
// Tensor conversion.

// Copies typed values into `tensor`, rejecting integers that do not fit its element type.
template <typename T, typename Values>
Status FillTyped(const Values& values, Tensor& tensor, std::string_view name) {
  auto out = tensor.data<T>();
  if (out.size() != static_cast<std::size_t>(values.size())) {
    return InternalError(InputPrefix(name) + "contents size changed during conversion");
  }
  for (int i = 0; i < values.size(); ++i) {
    const auto value = values[i];
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      // Same signedness on both sides (int32 → INT8/16/32, uint32 → UINT8/16/32), so a round
      // trip detects every value out of range.
      if (static_cast<decltype(value)>(static_cast<T>(value)) != value) {
        return InvalidArgumentError(InputPrefix(name) + "element " + std::to_string(i) + " value " +
                                    std::to_string(value) + " does not fit " +
                                    std::string(DTypeName(tensor.dtype())));
      }
    }
    out[static_cast<std::size_t>(i)] = static_cast<T>(value);
  }
  return Status::Ok();
}

// The InferTensorContents field a datatype travels in, and how many values each field holds.
struct ContentsField {
  std::string_view name;
  int size = 0;
};

std::vector<ContentsField> ContentsFields(const inference::InferTensorContents& c) {
  return {
      {"bool_contents", c.bool_contents_size()},     {"int_contents", c.int_contents_size()},
      {"int64_contents", c.int64_contents_size()},   {"uint_contents", c.uint_contents_size()},
      {"uint64_contents", c.uint64_contents_size()}, {"fp32_contents", c.fp32_contents_size()},
      {"fp64_contents", c.fp64_contents_size()},     {"bytes_contents", c.bytes_contents_size()}};
}

std::string_view ContentsFieldFor(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return "bool_contents";
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
      return "int_contents";
    case DType::kInt64:
      return "int64_contents";
    case DType::kUInt8:
    case DType::kUInt16:
    case DType::kUInt32:
      return "uint_contents";
    case DType::kUInt64:
      return "uint64_contents";
    case DType::kFloat32:
      return "fp32_contents";
    case DType::kFloat64:
      return "fp64_contents";
    case DType::kFloat16:
      return "";
  }
  return "";
}

Result<Tensor> FromTypedContents(const inference::ModelInferRequest::InferInputTensor& input,
                                 DType dtype, const Shape& shape, std::int64_t count) {
  const std::string& name = input.name();
  const std::string_view expected = ContentsFieldFor(dtype);
  if (expected.empty()) {
    return InvalidArgumentError(InputPrefix(name) + std::string(DTypeName(dtype)) +
                                " has no typed contents field: send it in raw_input_contents");
  }
  int expected_size = 0;
  for (const auto& field : ContentsFields(input.contents())) {
    if (field.name == expected) {
      expected_size = field.size;
    } else if (field.size > 0) {
      return InvalidArgumentError(InputPrefix(name) + "contents hold " + std::string(field.name) +
                                  " but datatype " + std::string(DTypeName(dtype)) + " uses " +
                                  std::string(expected));
    }
  }
  if (expected_size != count) {
    return InvalidArgumentError(InputPrefix(name) + "shape " + ShapeToString(shape) + " has " +
                                std::to_string(count) + " elements but " + std::string(expected) +
                                " has " + std::to_string(expected_size));
  }
  ORBIT_ASSIGN_OR_RETURN(Tensor tensor, Tensor::Zeros(dtype, shape));
  const auto& c = input.contents();
  Status filled;
  switch (dtype) {
    case DType::kBool:
      filled = FillTyped<bool>(c.bool_contents(), tensor, name);
      break;
    case DType::kInt8:
      filled = FillTyped<std::int8_t>(c.int_contents(), tensor, name);
      break;
    case DType::kInt16:
      filled = FillTyped<std::int16_t>(c.int_contents(), tensor, name);
      break;
    case DType::kInt32:
      filled = FillTyped<std::int32_t>(c.int_contents(), tensor, name);
      break;
    case DType::kInt64:
      filled = FillTyped<std::int64_t>(c.int64_contents(), tensor, name);
      break;
    case DType::kUInt8:
      filled = FillTyped<std::uint8_t>(c.uint_contents(), tensor, name);
      break;
    case DType::kUInt16:
      filled = FillTyped<std::uint16_t>(c.uint_contents(), tensor, name);
      break;
    case DType::kUInt32:
      filled = FillTyped<std::uint32_t>(c.uint_contents(), tensor, name);
      break;
    case DType::kUInt64:
      filled = FillTyped<std::uint64_t>(c.uint64_contents(), tensor, name);
      break;
    case DType::kFloat32:
      filled = FillTyped<float>(c.fp32_contents(), tensor, name);
      break;
    case DType::kFloat64:
      filled = FillTyped<double>(c.fp64_contents(), tensor, name);
      break;
    case DType::kFloat16:
      break;  // rejected above
  }
  ORBIT_RETURN_IF_ERROR(filled);
  return tensor;
}

// One input as a tensor. With `raw` (its raw_input_contents entry) the tensor borrows those
// bytes when they are aligned for the dtype: the request message outlives the scheduler's use of
// them (the call, and so the message, is deleted only after Finish).
Result<Tensor> ConvertInput(const inference::ModelInferRequest::InferInputTensor& input,
                            std::string* raw) {
  const std::string& name = input.name();
  const std::string& datatype = input.datatype();
  if (datatype == "BYTES") {
    return UnimplementedError(InputPrefix(name) +
                              "datatype BYTES is not supported (Orbit serves numeric tensors)");
  }
  auto dtype = ParseDType(datatype);
  if (!dtype.ok() || DTypeName(*dtype) != datatype) {
    return InvalidArgumentError(InputPrefix(name) + "unknown datatype '" + datatype +
                                "' (expected BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, "
                                "INT32, INT64, FP16, FP32 or FP64)");
  }
  const Shape shape(input.shape().begin(), input.shape().end());
  auto count = ElementCount(shape);
  if (!count.ok()) return count.status().WithContext("input '" + name + "'");
  if (raw == nullptr) return FromTypedContents(input, *dtype, shape, *count);

  for (const auto& field : ContentsFields(input.contents())) {
    if (field.size > 0) {
      return InvalidArgumentError(InputPrefix(name) + "has both " + std::string(field.name) +
                                  " and raw_input_contents");
    }
  }
  const std::uint64_t element_size = DTypeSize(*dtype);
  const bool fits =
      static_cast<std::uint64_t>(*count) <= std::numeric_limits<std::uint64_t>::max() / 8;
  const std::uint64_t needed = static_cast<std::uint64_t>(*count) * element_size;
  if (!fits || raw->size() != needed) {
    return InvalidArgumentError(InputPrefix(name) + "raw_input_contents holds " +
                                std::to_string(raw->size()) + " bytes but shape " +
                                ShapeToString(shape) + " of " + datatype + " needs " +
                                (fits ? std::to_string(needed) + " bytes" : "too many bytes"));
  }
  auto bytes = std::as_writable_bytes(std::span<char>(raw->data(), raw->size()));
  if (*dtype == DType::kBool) {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] != std::byte{0} && bytes[i] != std::byte{1}) {
        return InvalidArgumentError(InputPrefix(name) + "BOOL element " + std::to_string(i) +
                                    " is byte " + std::to_string(std::to_integer<int>(bytes[i])) +
                                    ", expected 0 or 1");
      }
    }
  }
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % element_size == 0) {
    return Tensor::Borrow(*dtype, shape, bytes);
  }
  return Tensor::CopyFrom(*dtype, shape, bytes);
}

// An output to return: its index in Engine::outputs() and its name.
struct SelectedOutput {
  std::size_t index = 0;
  std::string name;
};

struct PreparedInfer {
  scheduler::InferenceRequest work;
  std::vector<SelectedOutput> outputs;
};

// Checks a request against the model version and turns it into scheduler work, with the same
// messages as the HTTP path for missing and unknown inputs and outputs.
Result<PreparedInfer> PrepareInfer(inference::ModelInferRequest& request,
                                   const LoadedVersion& loaded) {
  const std::string& model = request.model_name();
  const int input_count = request.inputs_size();
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != input_count) {
    return InvalidArgumentError("raw_input_contents has " +
                                std::to_string(request.raw_input_contents_size()) +
                                " entries but the request has " + std::to_string(input_count) +
                                " inputs (one entry per input, in input order)");
  }
  for (int i = 0; i < input_count; ++i) {
    for (int j = 0; j < i; ++j) {
      if (request.inputs(i).name() == request.inputs(j).name()) {
        return InvalidArgumentError("duplicate input '" + request.inputs(i).name() + "' (inputs[" +
                                    std::to_string(j) + "] and inputs[" + std::to_string(i) + "])");
      }
    }
  }

  PreparedInfer prepared;
  const auto& engine_inputs = loaded.engine->inputs();
  std::vector<int> order;  // request input index for each engine input
  for (const auto& info : engine_inputs) {
    const auto& inputs = request.inputs();
    auto it = std::find_if(inputs.begin(), inputs.end(),
                           [&](const auto& in) { return in.name() == info.name; });
    if (it == inputs.end()) {
      return InvalidArgumentError("model '" + model + "': input '" + info.name + "' is missing");
    }
    order.push_back(static_cast<int>(it - inputs.begin()));
  }
  for (const auto& in : request.inputs()) {
    const bool known = std::any_of(engine_inputs.begin(), engine_inputs.end(),
                                   [&](const auto& info) { return info.name == in.name(); });
    if (!known) {
      return InvalidArgumentError("model '" + model + "' has no input '" + in.name() + "'");
    }
  }

  const auto& engine_outputs = loaded.engine->outputs();
  if (request.outputs_size() == 0) {
    for (std::size_t i = 0; i < engine_outputs.size(); ++i) {
      prepared.outputs.push_back({i, engine_outputs[i].name});
    }
  }
  for (const auto& want : request.outputs()) {
    auto it = std::find_if(engine_outputs.begin(), engine_outputs.end(),
                           [&](const auto& info) { return info.name == want.name(); });
    if (it == engine_outputs.end()) {
      return InvalidArgumentError("model '" + model + "' has no output '" + want.name() + "'");
    }
    const bool twice = std::any_of(prepared.outputs.begin(), prepared.outputs.end(),
                                   [&](const auto& out) { return out.name == want.name(); });
    if (twice) return InvalidArgumentError("output '" + want.name() + "' is requested twice");
    prepared.outputs.push_back({static_cast<std::size_t>(it - engine_outputs.begin()), it->name});
  }

  for (const int index : order) {
    std::string* bytes = raw ? request.mutable_raw_input_contents(index) : nullptr;
    ORBIT_ASSIGN_OR_RETURN(Tensor tensor, ConvertInput(request.inputs(index), bytes));
    prepared.work.inputs.push_back(std::move(tensor));
  }
  return prepared;
}

// The client's deadline as the scheduler's queue deadline (none when the client set none).
std::optional<std::chrono::steady_clock::time_point> QueueDeadline(
    const grpc::ServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return std::nullopt;
  const auto left = deadline - std::chrono::system_clock::now();
  if (left > std::chrono::hours(24 * 365)) return std::nullopt;  // effectively none
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
}

// ---------------------------------------------------------------------------------------------
// Handlers.

void HandleServerLive(GrpcCore&, ServerLiveCall& call) {
  call.response().set_live(true);
  call.Finish(grpc::Status::OK);
}

void HandleServerReady(GrpcCore& core, ServerReadyCall& call) {
  call.response().set_ready(core.models().IsReady());
  call.Finish(grpc::Status::OK);
}

// An unknown model or version is not an error here: it is simply not ready.
void HandleModelReady(GrpcCore& core, ModelReadyCall& call) {
  auto version = ParseVersion(call.request().version());
  if (!version.ok()) return call.Finish(ToGrpcStatus(version.status()));
  call.response().set_ready(core.models().Find(call.request().name(), *version).ok());
  call.Finish(grpc::Status::OK);
}

void HandleServerMetadata(GrpcCore& core, ServerMetadataCall& call) {
  auto& response = call.response();
  response.set_name(core.options().server_name);
  response.set_version(core.options().server_version);
  for (const auto& extension : core.options().extensions) response.add_extensions(extension);
  call.Finish(grpc::Status::OK);
}

void HandleModelMetadata(GrpcCore& core, ModelMetadataCall& call) {
  const std::string& model = call.request().name();
  auto version = ParseVersion(call.request().version());
  if (!version.ok()) return call.Finish(ToGrpcStatus(version.status()));
  auto found = core.models().Find(model, *version);
  if (!found.ok()) return call.Finish(ToGrpcStatus(found.status()));
  auto& response = call.response();
  response.set_name(model);
  if (*version) {
    response.add_versions(std::to_string(**version));
  } else {
    for (const auto& entry : core.models().Index()) {
      if (entry.model == model && entry.version > 0) {
        response.add_versions(std::to_string(entry.version));
      }
    }
  }
  response.set_platform(std::string(kOnnxRuntimePlatform));
  auto describe = [](const runtime::TensorInfo& info, auto* out) {
    out->set_name(info.name);
    out->set_datatype(std::string(DTypeName(info.dtype)));
    for (const auto dim : info.shape) out->add_shape(dim);
  };
  for (const auto& info : (*found)->engine->inputs()) describe(info, response.add_inputs());
  for (const auto& info : (*found)->engine->outputs()) describe(info, response.add_outputs());
  call.Finish(grpc::Status::OK);
}

// Outputs always go back in raw_output_contents (also when the inputs were typed contents), as
// Triton does for raw requests: it is the cheap encoding and every client decodes it.
void HandleModelInfer(GrpcCore& core, ModelInferCall& call) {
  auto& request = call.request();
  auto version = ParseVersion(request.model_version());
  if (!version.ok()) return call.Finish(ToGrpcStatus(version.status()));
  auto found = core.models().Find(request.model_name(), *version);
  if (!found.ok()) return call.Finish(ToGrpcStatus(found.status()));
  const std::shared_ptr<LoadedVersion> loaded = std::move(*found);

  auto prepared = PrepareInfer(request, *loaded);
  if (!prepared.ok()) return call.Finish(ToGrpcStatus(prepared.status()));
  prepared->work.deadline = QueueDeadline(call.context());

  auto& response = call.response();
  response.set_model_name(request.model_name());
  response.set_model_version(std::to_string(loaded->version));
  response.set_id(request.id());
  // After Submit the call belongs to the callback: nothing below may touch it.
  loaded->scheduler->Submit(
      std::move(prepared->work),
      [&call, outputs = std::move(prepared->outputs)](Result<std::vector<Tensor>> result) {
        if (!result.ok()) {
          // A full queue is overload, not a client error: UNAVAILABLE, as Triton answers it.
          const Status& s = result.status();
          return call.Finish(ToGrpcStatus(
              s.code() == StatusCode::kResourceExhausted ? UnavailableError(s.message()) : s));
        }
        auto& response = call.response();
        for (const auto& out : outputs) {
          if (out.index >= result->size()) {
            return call.Finish(
                ToGrpcStatus(InternalError("model returned no output '" + out.name + "'")));
          }
          const Tensor& tensor = (*result)[out.index];
          auto* tensor_out = response.add_outputs();
          tensor_out->set_name(out.name);
          tensor_out->set_datatype(std::string(DTypeName(tensor.dtype())));
          for (const auto dim : tensor.shape()) tensor_out->add_shape(dim);
          const auto bytes = tensor.bytes();
          response.add_raw_output_contents(reinterpret_cast<const char*>(bytes.data()),
                                           bytes.size());
        }
        call.Finish(grpc::Status::OK);
      });
}

void GrpcCore::ArmAll(grpc::ServerCompletionQueue* queue) {
  Spawn(std::make_unique<ServerLiveCall>(*this, queue, &AsyncService::RequestServerLive,
                                         &HandleServerLive));
  Spawn(std::make_unique<ServerReadyCall>(*this, queue, &AsyncService::RequestServerReady,
                                          &HandleServerReady));
  Spawn(std::make_unique<ModelReadyCall>(*this, queue, &AsyncService::RequestModelReady,
                                         &HandleModelReady));
  Spawn(std::make_unique<ServerMetadataCall>(*this, queue, &AsyncService::RequestServerMetadata,
                                             &HandleServerMetadata));
  Spawn(std::make_unique<ModelMetadataCall>(*this, queue, &AsyncService::RequestModelMetadata,
                                            &HandleModelMetadata));
  Spawn(std::make_unique<ModelInferCall>(*this, queue, &AsyncService::RequestModelInfer,
                                         &HandleModelInfer));
}

void PollQueue(grpc::ServerCompletionQueue* queue) {
  void* tag = nullptr;
  bool ok = false;
  while (queue->Next(&tag, &ok)) static_cast<Call*>(tag)->Proceed(ok);
}

}  // namespace

struct GrpcInferenceServer::Impl {
  Impl(ModelManager& models, InferenceMetrics m, GrpcServerOptions options)
      : metrics(m), core(models, std::move(options)) {}

  InferenceMetrics metrics;
  GrpcCore core;
  // Declared before the server so that the server is destroyed first.
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  std::unique_ptr<grpc::Server> server;
  std::vector<std::thread> threads;
  int port = 0;

  std::mutex shutdown_mu;
  bool stopped = false;  // guarded by shutdown_mu
};

GrpcInferenceServer::GrpcInferenceServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcInferenceServer::~GrpcInferenceServer() { Shutdown(std::chrono::milliseconds(0)); }

int GrpcInferenceServer::port() const { return impl_->port; }

Result<std::unique_ptr<GrpcInferenceServer>> GrpcInferenceServer::Start(const std::string& address,
                                                                        ModelManager& models,
                                                                        InferenceMetrics metrics,
                                                                        GrpcServerOptions options) {
  if (options.completion_queue_threads < 1) {
    return InvalidArgumentError("gRPC completion_queue_threads must be at least 1, got " +
                                std::to_string(options.completion_queue_threads));
  }
  if (options.max_message_bytes < 1 ||
      options.max_message_bytes > static_cast<std::size_t>(INT_MAX)) {
    return InvalidArgumentError("gRPC max_message_bytes must be in [1, " + std::to_string(INT_MAX) +
                                "], got " + std::to_string(options.max_message_bytes));
  }
  const int threads = options.completion_queue_threads;
  const int max_message = static_cast<int>(options.max_message_bytes);
  auto impl = std::make_unique<Impl>(models, metrics, std::move(options));

  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &impl->port);
  builder.RegisterService(&impl->core.service());
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(-1);  // unlimited: see GrpcServerOptions::max_message_bytes
  // gRPC sets SO_REUSEPORT by default, which would let two servers share a port silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (int i = 0; i < threads; ++i) impl->queues.push_back(builder.AddCompletionQueue());
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    // Nothing was armed yet, so the queues hold no tags: destroying them (which shuts them down)
    // is all that is needed.
    if (impl->server) impl->server->Shutdown();
    impl->server.reset();
    impl->queues.clear();
    return UnavailableError("gRPC: cannot listen on " + address +
                            " (address in use, or not a valid host:port)");
  }
  for (auto& queue : impl->queues) {
    impl->core.ArmAll(queue.get());
    impl->threads.emplace_back(PollQueue, queue.get());
  }
  return std::unique_ptr<GrpcInferenceServer>(new GrpcInferenceServer(std::move(impl)));
}

void GrpcInferenceServer::Shutdown(std::chrono::milliseconds drain) {
  std::lock_guard lock(impl_->shutdown_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  // 1. No new calls; calls in progress get `drain`, then are cancelled on the wire. The queue
  //    threads keep running meanwhile: they deliver Finish tags and fail the armed calls.
  impl_->server->Shutdown(std::chrono::system_clock::now() + drain);
  // 2. Calls that reached a scheduler finish from its callback, whatever the client did.
  impl_->core.StopArming();
  // 3. Nothing can post to the queues any more: shut them down and let the threads drain them
  //    (the armed calls' last tags delete them).
  for (auto& queue : impl_->queues) queue->Shutdown();
  for (auto& thread : impl_->threads) thread.join();
  impl_->threads.clear();
}

}  // namespace orbit::serving
