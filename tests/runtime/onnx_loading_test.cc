// Loading ONNX models: from files and bytes, the errors for files that are missing or not ONNX,
// and the choice of execution providers with and without fallback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/file.h"
#include "runtime/engine.h"

namespace orbit::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::filesystem::path DataPath(const std::string& file) {
  return std::filesystem::path(ORBIT_SOURCE_DIR) / "tests/runtime/data" / file;
}

bool IsAvailable(const std::string& provider) {
  const auto available = AvailableExecutionProviders();
  return std::find(available.begin(), available.end(), provider) != available.end();
}

std::string AvailableList() {
  std::string out;
  for (const auto& name : AvailableExecutionProviders()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// A scratch directory removed at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("orbit_runtime_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::filesystem::path Write(const std::string& name, const std::string& bytes) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << bytes;
    return file;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Sends everything spdlog's default logger writes to a string for the life of the object.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
    sink->set_pattern("%l %v");
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::istringstream in(stream_.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream stream_;
};

EngineOptions WithProviders(std::vector<std::string> providers, bool allow_fallback = true) {
  EngineOptions options;
  options.execution_providers = std::move(providers);
  options.allow_provider_fallback = allow_fallback;
  return options;
}

// --- files and bytes -------------------------------------------------------------------------

TEST(OnnxLoadingTest, MissingFileIsNotFound) {
  const auto path = DataPath("no_such_model.onnx");
  auto engine = LoadOnnxEngine(path);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(engine.status().message(), "model file '" + path.string() + "' does not exist");
}

TEST(OnnxLoadingTest, DirectoryIsInvalidArgument) {
  ScratchDir dir;
  auto engine = LoadOnnxEngine(dir.path());
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(engine.status().message(), HasSubstr("is not a regular file"));
}

TEST(OnnxLoadingTest, TextFileIsNotAValidModel) {
  ScratchDir dir;
  const auto path = dir.Write("notes.onnx", "this is a text file, not a model\nsecond line\n");
  auto engine = LoadOnnxEngine(path);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  // ORT's reason is kept; its "Load model from <path> failed:" preamble is not.
  EXPECT_EQ(engine.status().message(),
            "model 'notes': not a valid ONNX model: Protobuf parsing failed.");
}

TEST(OnnxLoadingTest, RandomBytesAreNotAValidModel) {
  ScratchDir dir;
  std::mt19937 random(42);
  std::string noise(4096, '\0');
  for (auto& c : noise) c = static_cast<char>(random());
  const auto path = dir.Write("noise.onnx", noise);
  auto engine = LoadOnnxEngine(path, {}, "noisy");
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(engine.status().message(), StartsWith("model 'noisy': not a valid ONNX model: "));
}

TEST(OnnxLoadingTest, EmptyFileIsNotAValidModel) {
  ScratchDir dir;
  const auto path = dir.Write("empty.onnx", "");
  auto engine = LoadOnnxEngine(path);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine.status().message(),
            "model 'empty': not a valid ONNX model: the file '" + path.string() + "' is empty");
}

TEST(OnnxLoadingTest, LoadsFromBytesUnderTheGivenName) {
  auto bytes = ReadFileBytes(DataPath("add_one.onnx"));
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto engine = LoadOnnxEngineFromBytes(std::as_bytes(std::span(*bytes)), "adder");
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ((*engine)->name(), "adder");
  EXPECT_EQ((*engine)->inputs().at(0).name, "x");
  auto input = Tensor::FromVector<float>({1, 3}, {1, 2, 3});
  ASSERT_TRUE(input.ok());
  std::vector<Tensor> inputs;
  inputs.push_back(std::move(input).value());
  auto outputs = (*engine)->Run(inputs);
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  EXPECT_THAT((*outputs)[0].data<float>(), ElementsAre(2, 3, 4));
  // The name labels errors too.
  inputs.push_back(inputs[0].Clone());
  EXPECT_THAT((*engine)->Run(inputs).status().message(), StartsWith("model 'adder': "));
}

TEST(OnnxLoadingTest, BytesThatAreNotAModelAreInvalidArgument) {
  const std::string text = "definitely not protobuf";
  auto engine = LoadOnnxEngineFromBytes(std::as_bytes(std::span(text)), "garbage");
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(engine.status().message(), StartsWith("model 'garbage': not a valid ONNX model: "));
}

TEST(OnnxLoadingTest, EmptyBytesAreInvalidArgument) {
  auto engine = LoadOnnxEngineFromBytes({}, "nothing");
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine.status().message(), "model 'nothing': not a valid ONNX model: no bytes given");
}

TEST(OnnxLoadingTest, ExplicitNameOverridesFileStem) {
  auto engine = LoadOnnxEngine(DataPath("add_one.onnx"), {}, "cellseg");
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ((*engine)->name(), "cellseg");
}

// --- execution providers ---------------------------------------------------------------------

TEST(OnnxLoadingTest, ReportsCpuProviderAndRuntimeVersion) {
  const auto available = AvailableExecutionProviders();
  EXPECT_THAT(available, testing::Contains("cpu"));
  for (const auto& name : available) {
    EXPECT_TRUE(std::regex_match(name, std::regex("[a-z0-9_]+"))) << name;
  }
  EXPECT_TRUE(std::regex_match(OnnxRuntimeVersion(), std::regex(R"(1\.[0-9]+\.[0-9]+)")))
      << OnnxRuntimeVersion();
}

TEST(OnnxLoadingTest, FallsBackToCpuWhenCudaIsUnavailable) {
  if (IsAvailable("cuda")) GTEST_SKIP() << "this ONNX Runtime build has CUDA";
  LogCapture log;
  auto engine = LoadOnnxEngine(DataPath("add_one.onnx"), WithProviders({"cuda", "cpu"}));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_THAT((*engine)->active_providers(), ElementsAre("cpu"));
  EXPECT_THAT(log.Lines(), ElementsAre("warning model 'add_one': execution provider 'cuda' is not "
                                       "available in this ONNX Runtime build (available: " +
                                       AvailableList() + "); falling back to cpu"));
}

TEST(OnnxLoadingTest, FallsBackThroughEachUnavailableProviderInOrder) {
  if (IsAvailable("cuda") || IsAvailable("tensorrt")) GTEST_SKIP() << "this build has a GPU EP";
  LogCapture log;
  auto engine = LoadOnnxEngine(DataPath("add_one.onnx"), WithProviders({"tensorrt", "cuda"}));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_THAT((*engine)->active_providers(), ElementsAre("cpu"));
  const auto lines = log.Lines();
  ASSERT_EQ(lines.size(), 2u) << testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr("execution provider 'tensorrt' is not available"));
  EXPECT_THAT(lines[0], testing::EndsWith("falling back to cuda"));
  EXPECT_THAT(lines[1], HasSubstr("execution provider 'cuda' is not available"));
  EXPECT_THAT(lines[1], testing::EndsWith("falling back to cpu"));
}

TEST(OnnxLoadingTest, UnavailableProviderWithoutFallbackIsFailedPrecondition) {
  if (IsAvailable("cuda")) GTEST_SKIP() << "this ONNX Runtime build has CUDA";
  LogCapture log;
  auto engine = LoadOnnxEngine(DataPath("add_one.onnx"), WithProviders({"cuda", "cpu"}, false));
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine.status().message(),
            "model 'add_one': execution provider 'cuda' is not available in this ONNX Runtime "
            "build (available: " +
                AvailableList() + ")");
  EXPECT_THAT(log.Lines(), testing::IsEmpty());
}

TEST(OnnxLoadingTest, UnknownProviderIsInvalidArgument) {
  auto engine = LoadOnnxEngine(DataPath("add_one.onnx"), WithProviders({"foo"}));
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine.status().message(),
            "model 'add_one': unknown execution provider 'foo' (known: cpu, cuda, tensorrt)");
}

TEST(OnnxLoadingTest, UnknownProviderIsRejectedEvenWithFallback) {
  auto engine = LoadOnnxEngine(DataPath("add_one.onnx"), WithProviders({"cuda", "foo", "cpu"}));
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(engine.status().message(), HasSubstr("'foo'"));
}

TEST(OnnxLoadingTest, AcceptsProviderNamesInAnyCaseAndOrtSpelling) {
  auto engine = LoadOnnxEngine(DataPath("add_one.onnx"), WithProviders({"CPUExecutionProvider"}));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_THAT((*engine)->active_providers(), ElementsAre("cpu"));
  engine = LoadOnnxEngine(DataPath("add_one.onnx"), WithProviders({"CPU"}));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
}

TEST(OnnxLoadingTest, EmptyProviderListMeansCpu) {
  auto engine = LoadOnnxEngine(DataPath("add_one.onnx"), WithProviders({}));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_THAT((*engine)->active_providers(), ElementsAre("cpu"));
}

TEST(OnnxLoadingTest, RejectsProviderListedAfterCpu) {
  auto engine = LoadOnnxEngine(DataPath("add_one.onnx"), WithProviders({"cpu", "cuda"}));
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(engine.status().message(),
              HasSubstr("execution provider 'cuda' is listed after 'cpu'"));
}

TEST(OnnxLoadingTest, RejectsProviderListedTwice) {
  auto engine = LoadOnnxEngine(DataPath("add_one.onnx"), WithProviders({"cuda", "cuda"}));
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(engine.status().message(), HasSubstr("'cuda' is listed twice"));
}

TEST(OnnxLoadingTest, RejectsNegativeDeviceId) {
  EngineOptions options;
  options.device_id = -1;
  auto engine = LoadOnnxEngine(DataPath("add_one.onnx"), options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(engine.status().message(), Not(HasSubstr("onnxruntime")));
  EXPECT_THAT(engine.status().message(), HasSubstr("device_id must be >= 0"));
}

}  // namespace
}  // namespace orbit::runtime
