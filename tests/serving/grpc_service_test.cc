#include "serving/grpc_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "runtime/engine.h"
#include "serving/proto/grpc_service.grpc.pb.h"
#include "telemetry/metric_registry.h"

namespace orbit::serving {
namespace {
namespace fs = std::filesystem;

const fs::path kModel = fs::path(ORBIT_SOURCE_DIR) / "models/cellseg";
constexpr int kSize = 32;
// Batches of up to 8, waiting up to 20 ms for company.
constexpr const char* kBatching = "serving:\n  max_batch_size: 8\n  max_queue_delay_us: 20000\n";

// Remembers the largest batch any scheduler ran, to prove that gRPC requests were batched.
class BatchRecorder final : public scheduler::SchedulerListener {
 public:
  explicit BatchRecorder(std::shared_ptr<std::atomic<int>> largest) : largest_(largest) {}
  void OnRequestDone(const scheduler::RequestTiming&, const Status&) override {}
  void OnBatchExecuted(int batch_size, std::chrono::nanoseconds) override {
    int seen = largest_->load();
    while (batch_size > seen && !largest_->compare_exchange_weak(seen, batch_size)) {
    }
  }

 private:
  std::shared_ptr<std::atomic<int>> largest_;
};

std::vector<float> TestImage() {
  std::vector<float> pixels(kSize * kSize);
  for (std::size_t i = 0; i < pixels.size(); ++i) {
    pixels[i] = static_cast<float>((i * 37) % 101) / 100.0f;
  }
  return pixels;
}

std::string RawBytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

std::vector<float> FloatsOf(const std::string& raw) {
  std::vector<float> out(raw.size() / sizeof(float));
  std::memcpy(out.data(), raw.data(), out.size() * sizeof(float));
  return out;
}

// An infer request for the cellseg model carrying `pixels` as raw_input_contents.
inference::ModelInferRequest RawRequest(const std::string& model,
                                        const std::vector<float>& pixels) {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  auto* input = request.add_inputs();
  input->set_name("image");
  input->set_datatype("FP32");
  for (const std::int64_t dim : {1, 1, kSize, kSize}) input->add_shape(dim);
  request.add_raw_input_contents(RawBytes(pixels));
  return request;
}

class GrpcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("orbit_grpc_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override {
    stub_.reset();
    channel_.reset();
    if (server_) server_->Shutdown(std::chrono::milliseconds(0));
    server_.reset();
    if (manager_) manager_->Shutdown();
    manager_.reset();
    fs::remove_all(root_);
  }

  // root_/<name>/orbit.yaml (+ serving section) and version 1 of the demo model.
  void AddModel(const std::string& name, const std::string& serving) {
    fs::create_directories(root_ / name / "1");
    std::ifstream in(kModel / "orbit.yaml");
    std::string yaml((std::istreambuf_iterator<char>(in)), {});
    yaml.replace(yaml.find("name: cellseg"), 13, "name: " + name);
    std::ofstream(root_ / name / "orbit.yaml") << yaml << serving;
    fs::copy_file(kModel / "model.onnx", root_ / name / "1" / "model.onnx");
  }

  // Loads the repository and serves it over gRPC on an ephemeral port of 127.0.0.1.
  void Start(const std::string& serving = kBatching, GrpcServerOptions server_options = {}) {
    AddModel("cellseg", serving);
    ModelManager::Options options;
    options.repository = root_;
    options.engine.intra_op_threads = 1;
    options.make_listener = [largest = largest_batch_](const std::string&, std::int64_t) {
      return std::make_unique<BatchRecorder>(largest);
    };
    auto manager = ModelManager::Create(options);
    ASSERT_TRUE(manager.ok()) << manager.status().ToString();
    manager_ = std::move(*manager);
    auto metrics = InferenceMetrics::Register(registry_);
    ASSERT_TRUE(metrics.ok());
    auto server = GrpcInferenceServer::Start("127.0.0.1:0", *manager_, *metrics, server_options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = inference::GRPCInferenceService::NewStub(channel_);
  }

  grpc::Status Infer(const inference::ModelInferRequest& request,
                     inference::ModelInferResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->ModelInfer(&context, request, response);
  }

  fs::path root_;
  MetricRegistry registry_;
  std::shared_ptr<std::atomic<int>> largest_batch_ = std::make_shared<std::atomic<int>>(0);
  std::unique_ptr<ModelManager> manager_;
  std::unique_ptr<GrpcInferenceServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(GrpcServiceTest, ServerIsLiveAndReady) {
  Start();
  grpc::ClientContext live_context;
  inference::ServerLiveResponse live;
  ASSERT_TRUE(stub_->ServerLive(&live_context, {}, &live).ok());
  EXPECT_TRUE(live.live());
  grpc::ClientContext ready_context;
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(stub_->ServerReady(&ready_context, {}, &ready).ok());
  EXPECT_TRUE(ready.ready());
}

TEST_F(GrpcServiceTest, ModelReadyIsTrueForLoadedVersionsAndFalseForUnknownOnes) {
  Start();
  auto ready = [&](const std::string& name, const std::string& version, bool* out) {
    grpc::ClientContext context;
    inference::ModelReadyRequest request;
    request.set_name(name);
    request.set_version(version);
    inference::ModelReadyResponse response;
    const grpc::Status status = stub_->ModelReady(&context, request, &response);
    *out = response.ready();
    return status;
  };
  bool is_ready = false;
  ASSERT_TRUE(ready("cellseg", "", &is_ready).ok());
  EXPECT_TRUE(is_ready);
  ASSERT_TRUE(ready("cellseg", "1", &is_ready).ok());
  EXPECT_TRUE(is_ready);
  ASSERT_TRUE(ready("cellseg", "2", &is_ready).ok());
  EXPECT_FALSE(is_ready);
  ASSERT_TRUE(ready("nope", "", &is_ready).ok());
  EXPECT_FALSE(is_ready);
  const grpc::Status bad = ready("cellseg", "one", &is_ready);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.error_message(), "version 'one' is not a positive integer");
}

TEST_F(GrpcServiceTest, ServerMetadataNamesServerAndExtensions) {
  Start();
  grpc::ClientContext context;
  inference::ServerMetadataResponse response;
  ASSERT_TRUE(stub_->ServerMetadata(&context, {}, &response).ok());
  EXPECT_EQ(response.name(), "orbit");
  EXPECT_FALSE(response.version().empty());
  EXPECT_NE(
      std::find(response.extensions().begin(), response.extensions().end(), "model_repository"),
      response.extensions().end());
}

TEST_F(GrpcServiceTest, ModelMetadataReportsTensorsWithDynamicDimensions) {
  Start();
  grpc::ClientContext context;
  inference::ModelMetadataRequest request;
  request.set_name("cellseg");
  inference::ModelMetadataResponse response;
  ASSERT_TRUE(stub_->ModelMetadata(&context, request, &response).ok());
  EXPECT_EQ(response.name(), "cellseg");
  ASSERT_EQ(response.versions_size(), 1);
  EXPECT_EQ(response.versions(0), "1");
  EXPECT_EQ(response.platform(), "onnxruntime_onnx");
  ASSERT_EQ(response.inputs_size(), 1);
  EXPECT_EQ(response.inputs(0).name(), "image");
  EXPECT_EQ(response.inputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<std::int64_t>(response.inputs(0).shape().begin(),
                                      response.inputs(0).shape().end()),
            (std::vector<std::int64_t>{-1, 1, -1, -1}));
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "logits");
  EXPECT_EQ(std::vector<std::int64_t>(response.outputs(0).shape().begin(),
                                      response.outputs(0).shape().end()),
            (std::vector<std::int64_t>{-1, 2, -1, -1}));

  grpc::ClientContext missing_context;
  request.set_name("nope");
  const grpc::Status missing = stub_->ModelMetadata(&missing_context, request, &response);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServiceTest, InferWithRawContentsMatchesTheEngine) {
  Start();
  const std::vector<float> pixels = TestImage();
  auto request = RawRequest("cellseg", pixels);
  request.set_id("req-7");
  inference::ModelInferResponse response;
  const grpc::Status status = Infer(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.model_name(), "cellseg");
  EXPECT_EQ(response.model_version(), "1");
  EXPECT_EQ(response.id(), "req-7");
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "logits");
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<std::int64_t>(response.outputs(0).shape().begin(),
                                      response.outputs(0).shape().end()),
            (std::vector<std::int64_t>{1, 2, kSize, kSize}));
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  const std::vector<float> got = FloatsOf(response.raw_output_contents(0));

  runtime::EngineOptions engine_options;
  engine_options.intra_op_threads = 1;
  auto engine = runtime::LoadOnnxEngine(kModel / "model.onnx", engine_options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  std::vector<Tensor> inputs;
  inputs.push_back(*Tensor::FromVector<float>({1, 1, kSize, kSize}, pixels));
  auto expected = (*engine)->Run(inputs);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  const auto want = (*expected)[0].data<float>();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-5) << "element " << i;
  }
}

TEST_F(GrpcServiceTest, InferWithFp32ContentsGivesTheSameOutputAsRaw) {
  Start();
  const std::vector<float> pixels = TestImage();
  inference::ModelInferResponse raw_response;
  ASSERT_TRUE(Infer(RawRequest("cellseg", pixels), &raw_response).ok());

  auto request = RawRequest("cellseg", pixels);
  request.clear_raw_input_contents();
  for (const float v : pixels) request.mutable_inputs(0)->mutable_contents()->add_fp32_contents(v);
  inference::ModelInferResponse typed_response;
  const grpc::Status status = Infer(request, &typed_response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(typed_response.raw_output_contents_size(), 1);  // outputs always come back raw
  EXPECT_EQ(typed_response.raw_output_contents(0), raw_response.raw_output_contents(0));
}

TEST_F(GrpcServiceTest, RequestedOutputsAreFilteredAndUnknownOnesRejected) {
  Start();
  auto request = RawRequest("cellseg", TestImage());
  request.add_outputs()->set_name("logits");
  inference::ModelInferResponse response;
  ASSERT_TRUE(Infer(request, &response).ok());
  EXPECT_EQ(response.outputs_size(), 1);

  request.add_outputs()->set_name("probabilities");
  const grpc::Status status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "model 'cellseg' has no output 'probabilities'");
}

TEST_F(GrpcServiceTest, WrongRawByteCountIsInvalidArgumentNamingTheInput) {
  Start();
  auto request = RawRequest("cellseg", TestImage());
  request.mutable_raw_input_contents(0)->resize(100);
  inference::ModelInferResponse response;
  const grpc::Status status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "input 'image': raw_input_contents holds 100 bytes but shape [1, 1, 32, 32] of FP32 "
            "needs 4096 bytes");
}

TEST_F(GrpcServiceTest, TypedContentsOfTheWrongTypeOrCountAreRejected) {
  Start();
  auto request = RawRequest("cellseg", TestImage());
  request.clear_raw_input_contents();
  request.mutable_inputs(0)->mutable_contents()->add_fp64_contents(1.0);
  inference::ModelInferResponse response;
  grpc::Status status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "input 'image': contents hold fp64_contents but datatype FP32 uses fp32_contents");

  request.mutable_inputs(0)->mutable_contents()->Clear();
  request.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1.0f);
  status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "input 'image': shape [1, 1, 32, 32] has 1024 elements but fp32_contents has 1");
}

TEST_F(GrpcServiceTest, RequestOverTheMessageLimitIsResourceExhaustedButResponsesAreNotLimited) {
  GrpcServerOptions options;
  options.max_message_bytes = 6000;  // the 4 KiB image fits, its 8 KiB of logits are sent anyway
  Start(kBatching, options);
  inference::ModelInferResponse response;
  ASSERT_TRUE(Infer(RawRequest("cellseg", TestImage()), &response).ok());
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  EXPECT_EQ(response.raw_output_contents(0).size(), 2u * kSize * kSize * sizeof(float));

  auto big = RawRequest("cellseg", TestImage());
  big.mutable_raw_input_contents(0)->append(4096, '\0');
  const grpc::Status status = Infer(big, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(GrpcServiceTest, UnknownModelIsNotFound) {
  Start();
  inference::ModelInferResponse response;
  const grpc::Status status = Infer(RawRequest("nope", TestImage()), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "unknown model 'nope'");
}

TEST_F(GrpcServiceTest, MissingAndUnknownInputsAreInvalidArgument) {
  Start();
  auto request = RawRequest("cellseg", TestImage());
  request.mutable_inputs(0)->set_name("picture");
  inference::ModelInferResponse response;
  grpc::Status status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "model 'cellseg': input 'image' is missing");

  request = RawRequest("cellseg", TestImage());
  auto* extra = request.add_inputs();
  extra->set_name("mask");
  extra->set_datatype("FP32");
  extra->add_shape(1);
  request.add_raw_input_contents(std::string(4, '\0'));
  status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "model 'cellseg' has no input 'mask'");
}

TEST_F(GrpcServiceTest, ParallelCallsAllSucceedAndAreBatched) {
  Start();
  constexpr int kCalls = 16;
  const auto request = RawRequest("cellseg", TestImage());
  grpc::CompletionQueue queue;
  struct Pending {
    grpc::ClientContext context;
    inference::ModelInferResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<inference::ModelInferResponse>> reader;
  };
  std::vector<Pending> calls(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    calls[i].context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    calls[i].reader = stub_->AsyncModelInfer(&calls[i].context, request, &queue);
    calls[i].reader->Finish(&calls[i].response, &calls[i].status, &calls[i]);
  }
  for (int i = 0; i < kCalls; ++i) {
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(queue.Next(&tag, &ok));
    EXPECT_TRUE(ok);
  }
  queue.Shutdown();
  for (const auto& call : calls) {
    ASSERT_TRUE(call.status.ok()) << call.status.error_message();
    ASSERT_EQ(call.response.raw_output_contents_size(), 1);
    EXPECT_EQ(call.response.raw_output_contents(0), calls[0].response.raw_output_contents(0));
  }
  EXPECT_GT(largest_batch_->load(), 1);
}

TEST_F(GrpcServiceTest, FullQueueIsUnavailable) {
  // Requests wait up to a second for a batch of 8, so the third of three finds the queue full.
  Start("serving:\n  max_batch_size: 8\n  max_queue_delay_us: 1000000\n  max_queue_size: 2\n");
  const auto request = RawRequest("cellseg", TestImage());
  std::vector<std::future<grpc::Status>> results;
  for (int i = 0; i < 3; ++i) {
    results.push_back(std::async(std::launch::async, [&] {
      inference::ModelInferResponse response;
      return Infer(request, &response);
    }));
  }
  int ok = 0;
  int unavailable = 0;
  for (auto& result : results) {
    const grpc::Status status = result.get();
    if (status.ok()) ++ok;
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      ++unavailable;
      EXPECT_NE(status.error_message().find("queue"), std::string::npos) << status.error_message();
    }
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(unavailable, 1);
}

TEST_F(GrpcServiceTest, ShutdownLetsRequestsInTheSchedulerFinish) {
  Start("serving:\n  max_batch_size: 8\n  max_queue_delay_us: 300000\n");
  const auto request = RawRequest("cellseg", TestImage());
  std::vector<std::future<grpc::Status>> results;
  for (int i = 0; i < 4; ++i) {
    results.push_back(std::async(std::launch::async, [&] {
      inference::ModelInferResponse response;
      return Infer(request, &response);
    }));
  }
  // Let the four reach the scheduler, where they wait for the batch window.
  for (int i = 0; i < 100; ++i) {
    auto found = manager_->Find("cellseg", std::nullopt);
    if (found.ok() && (*found)->scheduler->queue_depth() == 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  server_->Shutdown(std::chrono::seconds(5));
  for (auto& result : results) {
    const grpc::Status status = result.get();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  // Shut down: new calls are refused.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  inference::ServerLiveResponse live;
  EXPECT_FALSE(stub_->ServerLive(&context, {}, &live).ok());
}

TEST(GrpcInferenceServerStartTest, TakenPortIsUnavailable) {
  const fs::path root =
      fs::temp_directory_path() / ("orbit_grpc_port_" + std::to_string(::getpid()));
  fs::create_directories(root);
  ModelManager::Options options;
  options.repository = root;
  auto manager = ModelManager::Create(options);
  ASSERT_TRUE(manager.ok()) << manager.status().ToString();
  MetricRegistry registry;
  auto metrics = InferenceMetrics::Register(registry);
  ASSERT_TRUE(metrics.ok());
  auto first = GrpcInferenceServer::Start("127.0.0.1:0", **manager, *metrics);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = GrpcInferenceServer::Start(taken, **manager, *metrics);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find(taken), std::string::npos);
  (*first)->Shutdown(std::chrono::milliseconds(0));
  (*manager)->Shutdown();
  fs::remove_all(root);
}

}  // namespace
}  // namespace orbit::serving
