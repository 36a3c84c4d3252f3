// End-to-end tests of `orbit serve`: the real binary on ephemeral ports, serving a temporary copy
// of the demo model, driven by a small raw-socket HTTP/1.1 client. Each test proves one
// behaviour with exact status codes and messages; waits are bounded polls, never fixed sleeps.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "e2e/subprocess.h"

namespace orbit::testing {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

const fs::path kSource = ORBIT_SOURCE_DIR;
const fs::path kModel = kSource / "models/cellseg";
const fs::path kImage = kModel / "fixtures/images/img_000.png";

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// ---------------------------------------------------------------------------------------------
// Minimal HTTP/1.1 client: one request per connection ("Connection: close"), read to EOF.

struct HttpReply {
  bool connected = false;  // false: the connection failed or broke before a full response
  std::string error;       // why, when !connected or the reply could not be parsed
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  json Json() const { return json::parse(body, nullptr, /*allow_exceptions=*/false); }
  std::string ErrorMessage() const {
    const json j = Json();
    return j.is_object() && j.contains("error") && j["error"].is_string()
               ? j["error"].get<std::string>()
               : "";
  }
};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A connected TCP socket to 127.0.0.1:port with a receive timeout; -1 on failure (errno set).
int Connect(int port, int recv_timeout_s = 60) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{recv_timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

HttpReply ParseReply(const std::string& raw) {
  HttpReply reply;
  const auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.compare(0, 9, "HTTP/1.1 ") != 0) {
    reply.error = "no complete response head in " + std::to_string(raw.size()) + " bytes";
    return reply;
  }
  reply.status = std::atoi(raw.c_str() + 9);
  std::size_t line = raw.find("\r\n") + 2;
  while (line < head_end) {
    const auto end = raw.find("\r\n", line);
    const std::string field = raw.substr(line, end - line);
    const auto colon = field.find(':');
    if (colon != std::string::npos) {
      std::string value = field.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      reply.headers[Lower(field.substr(0, colon))] = value;
    }
    line = end + 2;
  }
  reply.body = raw.substr(head_end + 4);
  const std::string length = reply.Header("content-length");
  if (!length.empty() && reply.body.size() != std::stoul(length)) {
    reply.error =
        "body of " + std::to_string(reply.body.size()) + " bytes, Content-Length " + length;
    return reply;
  }
  reply.connected = true;
  return reply;
}

HttpReply ReadReply(int fd) {
  std::string raw;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      raw.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && raw.empty()) {
      HttpReply r;
      r.error = std::string("recv: ") + std::strerror(errno);
      return r;
    }
    break;  // EOF (or an error after a response arrived: parse what came)
  }
  return ParseReply(raw);
}

HttpReply Http(int port, const std::string& method, const std::string& target,
               const std::string& body = "",
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  const int fd = Connect(port);
  if (fd < 0) {
    HttpReply r;
    r.error = std::string("connect: ") + std::strerror(errno);
    return r;
  }
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                        "Connection: close\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  request += "\r\n";
  // A server may answer (413) and close before the body is sent: a failed send still reads.
  (void)(SendAll(fd, request) && SendAll(fd, body));
  HttpReply reply = ReadReply(fd);
  ::close(fd);
  return reply;
}

// ---------------------------------------------------------------------------------------------
// Inference request builders for the cellseg model (input "image", FP32 [N,1,H,W]).

std::vector<float> RandomImage(int side, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> v(static_cast<std::size_t>(side) * side);
  for (auto& x : v) x = u(rng);
  return v;
}

std::string JsonInferBody(const std::vector<float>& pixels, int side, const std::string& id = "") {
  json body = {{"inputs",
                {{{"name", "image"},
                  {"datatype", "FP32"},
                  {"shape", {1, 1, side, side}},
                  {"data", pixels}}}}};
  if (!id.empty()) body["id"] = id;
  return body.dump();
}

// A binary-extension request: JSON header, then the raw little-endian floats. Returns the body
// and sets the header length to send as Inference-Header-Content-Length.
std::string BinaryInferBody(const std::vector<float>& pixels, int side, bool binary_output,
                            std::size_t* header_length) {
  const std::size_t bytes = pixels.size() * sizeof(float);
  json header = {
      {"inputs",
       {{{"name", "image"},
         {"datatype", "FP32"},
         {"shape", {1, 1, side, side}},
         {"parameters", {{"binary_data_size", bytes}}}}}},
      {"outputs", {{{"name", "logits"}, {"parameters", {{"binary_data", binary_output}}}}}}};
  std::string body = header.dump();
  *header_length = body.size();
  body.append(reinterpret_cast<const char*>(pixels.data()), bytes);
  return body;
}

HttpReply BinaryInfer(int port, const std::vector<float>& pixels, int side) {
  std::size_t header_length = 0;
  const std::string body = BinaryInferBody(pixels, side, /*binary_output=*/true, &header_length);
  return Http(port, "POST", "/v2/models/cellseg/infer", body,
              {{"Inference-Header-Content-Length", std::to_string(header_length)}});
}

// The value of the first Prometheus sample whose line starts with `prefix`; nullopt if none.
std::optional<double> MetricValue(const std::string& text, const std::string& prefix) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// A temporary model repository holding cellseg version 1 with a `serving:` section.

class ModelRepository {
 public:
  explicit ModelRepository(const fs::path& root, const std::string& serving_yaml) : root_(root) {
    fs::remove_all(root_);
    fs::create_directories(root_ / "cellseg");
    std::ofstream(root_ / "cellseg/orbit.yaml") << ReadAll(kModel / "orbit.yaml") << "\nserving:\n"
                                                << serving_yaml;
    AddVersion(1);
  }
  // Publishes version `v` atomically: copied beside the repository, then renamed into it, so a
  // polling server never sees a half-written version directory.
  void AddVersion(int v) const {
    const fs::path staging = root_.parent_path() / (root_.filename().string() + ".staging");
    fs::remove_all(staging);
    fs::create_directories(staging);
    fs::copy_file(kModel / "model.onnx", staging / "model.onnx");
    fs::rename(staging, root_ / "cellseg" / std::to_string(v));
  }
  const fs::path& root() const { return root_; }

 private:
  fs::path root_;
};

// `orbit serve` as a child process. Its stdout is read by a thread (startup and stop lines);
// stderr (logs) goes to a file shown when a test fails.
class ServeProcess {
 public:
  ServeProcess() = default;
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;
  ~ServeProcess() { Kill(); }

  // Starts the server and waits up to 30 s for its startup line. Returns "" or why it failed.
  std::string Start(const fs::path& repository, const std::vector<std::string>& extra,
                    const fs::path& stderr_path) {
    stderr_path_ = stderr_path;
    std::vector<std::string> args = {OrbitBinary(), "--log-level",        "warn",
                                     "serve",       "--model-repository", repository.string(),
                                     "--address",   "127.0.0.1",          "--http-port",
                                     "0",           "--metrics-port",     "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    // Everything the child needs is prepared before fork: it only dup2s and execs.
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int out[2];
    if (err < 0 || ::pipe2(out, O_CLOEXEC) != 0) return "cannot open " + stderr_path.string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err, STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err);
    if (pid_ < 0) {
      ::close(out[0]);
      return "fork failed";
    }
    reader_ = std::thread([this, fd = out[0]] {
      char buffer[4096];
      ssize_t n;
      while ((n = ::read(fd, buffer, sizeof buffer)) > 0) {
        std::lock_guard lock(mu_);
        stdout_.append(buffer, static_cast<std::size_t>(n));
      }
      ::close(fd);
    });
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    static const std::regex kHttp(R"(HTTP on [^ ]+:(\d+))");
    static const std::regex kMetrics(R"(metrics on [^ ]+:(\d+))");
    static const std::regex kGrpc(R"(gRPC on [^ ]+:(\d+))");
    while (Clock::now() < deadline) {
      const std::string out_text = Stdout();
      const auto line_end = out_text.find('\n');
      if (line_end != std::string::npos) {
        const std::string line = out_text.substr(0, line_end);
        std::smatch m;
        if (!std::regex_search(line, m, kHttp)) return "no HTTP port in: " + line;
        http_port_ = std::stoi(m[1]);
        if (!std::regex_search(line, m, kMetrics)) return "no metrics port in: " + line;
        metrics_port_ = std::stoi(m[1]);
        if (std::regex_search(line, m, kGrpc)) grpc_port_ = std::stoi(m[1]);
        return "";
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "orbit serve exited before its startup line: " + Stderr();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "no startup line within 30 s: " + Stderr();
  }

  // Sends `signal` and waits up to `limit` for the exit; the exit code (128+signal when killed by
  // one), or nullopt when it is still running.
  std::optional<int> SignalAndWait(int signal, std::chrono::milliseconds limit) {
    if (pid_ <= 0) return std::nullopt;
    ::kill(pid_, signal);
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        if (reader_.joinable()) reader_.join();
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

  void Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (reader_.joinable()) reader_.join();
  }

  std::string Stdout() const {
    std::lock_guard lock(mu_);
    return stdout_;
  }
  std::string Stderr() const { return ReadAll(stderr_path_); }
  int http_port() const { return http_port_; }
  int metrics_port() const { return metrics_port_; }
  std::optional<int> grpc_port() const { return grpc_port_; }

 private:
  pid_t pid_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  std::string stdout_;
  fs::path stderr_path_;
  int http_port_ = 0;
  int metrics_port_ = 0;
  std::optional<int> grpc_port_;
};

// Whether `orbit serve` has a --grpc-port flag (another front end may add it): passing 0 then
// keeps the tests off fixed ports.
bool HasGrpcFlag() {
  static const bool has = RunOrbit("serve --help").out.find("--grpc-port") != std::string::npos;
  return has;
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("orbit_serve_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (HasFailure() && server_) {
      std::cerr << "--- orbit serve stdout:\n"
                << server_->Stdout() << "--- stderr:\n"
                << server_->Stderr() << "---\n";
    }
    server_.reset();
    fs::remove_all(dir_);
  }

  // Writes the repository and starts the server on it; fails the test if it does not start.
  void StartServer(const std::string& serving_yaml, std::vector<std::string> extra = {}) {
    repository_ = std::make_unique<ModelRepository>(dir_ / "models", serving_yaml);
    if (HasGrpcFlag()) extra.insert(extra.end(), {"--grpc-port", "0"});
    server_ = std::make_unique<ServeProcess>();
    const std::string error = server_->Start(repository_->root(), extra, dir_ / "stderr.txt");
    ASSERT_EQ(error, "");
  }
  int port() const { return server_->http_port(); }
  void ExpectStillServing() {
    const HttpReply r = Http(port(), "GET", "/v2/health/ready");
    EXPECT_EQ(r.status, 200) << r.error;
  }

  static constexpr const char* kDefaultServing =
      "  max_batch_size: 8\n  max_queue_delay_us: 2000\n  max_queue_size: 64\n";

  fs::path dir_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<ServeProcess> server_;
};

TEST_F(ServeTest, HealthAndMetadataEndpointsAnswer) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kDefaultServing));
  EXPECT_EQ(Http(port(), "GET", "/v2/health/live").status, 200);
  EXPECT_EQ(Http(port(), "GET", "/v2/health/ready").status, 200);

  const HttpReply server = Http(port(), "GET", "/v2");
  ASSERT_EQ(server.status, 200) << server.error;
  const json meta = server.Json();
  EXPECT_EQ(meta["name"], "orbit");
  EXPECT_TRUE(meta["version"].is_string());
  const auto& ext = meta["extensions"];
  EXPECT_NE(std::find(ext.begin(), ext.end(), "binary_tensor_data"), ext.end()) << ext;
  EXPECT_NE(std::find(ext.begin(), ext.end(), "model_repository"), ext.end()) << ext;

  const HttpReply model = Http(port(), "GET", "/v2/models/cellseg");
  ASSERT_EQ(model.status, 200);
  const json m = model.Json();
  EXPECT_EQ(m["name"], "cellseg");
  EXPECT_EQ(m["versions"], json::array({"1"}));
  EXPECT_EQ(m["platform"], "onnxruntime_onnx");
  EXPECT_EQ(m["inputs"][0],
            json({{"name", "image"}, {"datatype", "FP32"}, {"shape", {-1, 1, -1, -1}}}));
  EXPECT_EQ(m["outputs"][0]["name"], "logits");
  EXPECT_EQ(m["outputs"][0]["shape"], json({-1, 2, -1, -1}));

  EXPECT_EQ(Http(port(), "GET", "/v2/models/cellseg/ready").status, 200);
  EXPECT_EQ(Http(port(), "GET", "/v2/models/cellseg/versions/1/ready").status, 200);
  const HttpReply unknown = Http(port(), "GET", "/v2/models/nope/ready");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.ErrorMessage(), "unknown model 'nope'");
}

// The JSON and the binary-tensor encodings of one input give bit-identical outputs, the request
// id is echoed, and the binary response is split by Inference-Header-Content-Length.
TEST_F(ServeTest, JsonAndBinaryInferAgreeExactly) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kDefaultServing));
  const int side = 32;
  const std::vector<float> pixels = RandomImage(side, 7);

  const HttpReply as_json =
      Http(port(), "POST", "/v2/models/cellseg/infer", JsonInferBody(pixels, side, "req-42"));
  ASSERT_EQ(as_json.status, 200) << as_json.body;
  const json j = as_json.Json();
  EXPECT_EQ(j["id"], "req-42");
  EXPECT_EQ(j["model_name"], "cellseg");
  EXPECT_EQ(j["model_version"], "1");
  ASSERT_EQ(j["outputs"].size(), 1u);
  const json& out = j["outputs"][0];
  EXPECT_EQ(out["name"], "logits");
  EXPECT_EQ(out["datatype"], "FP32");
  EXPECT_EQ(out["shape"], json({1, 2, side, side}));
  const auto json_values = out["data"].get<std::vector<double>>();
  ASSERT_EQ(json_values.size(), static_cast<std::size_t>(2 * side * side));

  const HttpReply as_binary = BinaryInfer(port(), pixels, side);
  ASSERT_EQ(as_binary.status, 200) << as_binary.body;
  const std::string length = as_binary.Header("inference-header-content-length");
  ASSERT_FALSE(length.empty());
  const std::size_t header_length = std::stoul(length);
  ASSERT_LE(header_length, as_binary.body.size());
  const json header = json::parse(as_binary.body.substr(0, header_length));
  const json& bout = header["outputs"][0];
  EXPECT_EQ(bout["name"], "logits");
  EXPECT_EQ(bout["shape"], json({1, 2, side, side}));
  const std::size_t bytes = bout["parameters"]["binary_data_size"].get<std::size_t>();
  ASSERT_EQ(bytes, json_values.size() * sizeof(float));
  ASSERT_EQ(as_binary.body.size(), header_length + bytes);
  std::vector<float> binary_values(json_values.size());
  std::memcpy(binary_values.data(), as_binary.body.data() + header_length, bytes);
  std::size_t differing = 0;
  for (std::size_t i = 0; i < binary_values.size(); ++i) {
    if (static_cast<float>(json_values[i]) != binary_values[i]) ++differing;
  }
  EXPECT_EQ(differing, 0u) << "first value: json " << json_values[0] << ", binary "
                           << binary_values[0];
}

TEST_F(ServeTest, RequestedOutputsAreFilteredByName) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kDefaultServing));
  const int side = 16;
  json body = json::parse(JsonInferBody(RandomImage(side, 1), side));
  body["outputs"] = {{{"name", "logits"}}};
  const HttpReply ok = Http(port(), "POST", "/v2/models/cellseg/infer", body.dump());
  ASSERT_EQ(ok.status, 200) << ok.body;
  ASSERT_EQ(ok.Json()["outputs"].size(), 1u);
  EXPECT_EQ(ok.Json()["outputs"][0]["name"], "logits");

  body["outputs"] = {{{"name", "probabilities"}}};
  const HttpReply bad = Http(port(), "POST", "/v2/models/cellseg/infer", body.dump());
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.ErrorMessage(), "model 'cellseg' has no output 'probabilities'");
}

struct BadRequest {
  std::string what;
  std::string target;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  int status;
  std::string message_part;
};

// Each malformed request gets one clear error and the server keeps serving.
TEST_F(ServeTest, BadRequestsGetClearErrorsAndServerStaysUp) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kDefaultServing));
  const std::string infer = "/v2/models/cellseg/infer";
  const std::string floats(64, '\0');  // 16 FP32 zeros
  const std::string png = ReadAll(kImage);
  auto binary_header = [](int size) {
    return R"({"inputs":[{"name":"image","datatype":"FP32","shape":[1,1,4,4],)"
           R"("parameters":{"binary_data_size":)" +
           std::to_string(size) + "}}]}";
  };
  const std::vector<BadRequest> cases = {
      {"malformed JSON", infer, R"({"inputs": [)", {}, 400, "malformed JSON"},
      {"unknown datatype",
       infer,
       R"({"inputs":[{"name":"image","datatype":"FP99","shape":[1,1,2,2],"data":[1,2,3,4]}]})",
       {},
       400,
       "input 'image': unknown datatype 'FP99'"},
      {"wrong datatype",
       infer,
       R"({"inputs":[{"name":"image","datatype":"INT32","shape":[1,1,2,2],"data":[1,2,3,4]}]})",
       {},
       400,
       "model 'cellseg': input 'image' expects FP32, got INT32"},
      {"element count mismatch",
       infer,
       R"({"inputs":[{"name":"image","datatype":"FP32","shape":[1,1,4,4],"data":[1,2,3]}]})",
       {},
       400,
       "input 'image': shape [1, 1, 4, 4] has 16 elements but data has 3"},
      {"image size the model cannot take",
       infer,
       R"({"inputs":[{"name":"image","datatype":"FP32","shape":[1,1,2,2],"data":[1,2,3,4]}]})",
       {},
       400,
       "model 'cellseg': input 'image' is 2 x 2 (height x width); both must be multiples of 16"},
      {"missing input",
       infer,
       R"({"inputs":[{"name":"pixels","datatype":"FP32","shape":[1,1,2,2],"data":[1,2,3,4]}]})",
       {},
       400,
       "model 'cellseg': input 'image' is missing"},
      {"binary header length beyond the body",
       infer,
       R"({"inputs":[]})",
       {{"Inference-Header-Content-Length", "500"}},
       400,
       "Inference-Header-Content-Length 500 exceeds the body size of 13 bytes"},
      {"binary size that disagrees with the shape",
       infer,
       binary_header(60) + floats,
       {{"Inference-Header-Content-Length", std::to_string(binary_header(60).size())}},
       400,
       "input 'image': binary_data_size 60 does not match shape [1, 1, 4, 4] of FP32 (64 bytes)"},
      {"binary size beyond the body",
       infer,
       binary_header(64) + floats.substr(0, 32),
       {{"Inference-Header-Content-Length", std::to_string(binary_header(64).size())}},
       400,
       "input 'image': binary_data_size 64 exceeds the 32 bytes left in the binary section"},
      {"unknown model", "/v2/models/nope/infer", "{}", {}, 404, "unknown model 'nope'"},
      {"unknown version",
       "/v2/models/cellseg/versions/7/infer",
       "{}",
       {},
       404,
       "model 'cellseg' has no version 7 loaded"},
      {"segment body that is not an image",
       "/v2/models/cellseg/segment",
       "hello, not an image",
       {},
       400,
       "is not a PNG, JPEG, TIFF or NPY image"},
      {"segment PNG cut in half",
       "/v2/models/cellseg/segment",
       png.substr(0, png.size() / 2),
       {},
       400,
       "could not be decoded"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const HttpReply r = Http(port(), "POST", c.target, c.body, c.headers);
    ASSERT_TRUE(r.connected) << r.error;
    EXPECT_EQ(r.status, c.status) << r.body;
    EXPECT_EQ(r.Header("content-type"), "application/json");
    EXPECT_NE(r.ErrorMessage().find(c.message_part), std::string::npos) << r.body;
    ExpectStillServing();
  }
}

TEST_F(ServeTest, BodyOverMaxBodyMbIs413) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kDefaultServing, {"--max-body-mb", "1"}));
  const std::string body(3 * 1024 * 1024 / 2, ' ');
  const HttpReply r = Http(port(), "POST", "/v2/models/cellseg/infer", body);
  ASSERT_TRUE(r.connected) << r.error;
  EXPECT_EQ(r.status, 413);
  ExpectStillServing();
}

TEST_F(ServeTest, ClientDisconnectingMidRequestDoesNotDisturbOthers) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kDefaultServing));
  const int side = 32;
  const std::string body = JsonInferBody(RandomImage(side, 3), side);
  for (int i = 0; i < 3; ++i) {
    const int fd = Connect(port());
    ASSERT_GE(fd, 0);
    const std::string head =
        "POST /v2/models/cellseg/infer HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n";
    ASSERT_TRUE(SendAll(fd, head + body.substr(0, body.size() / 2)));
    ::close(fd);
  }
  const HttpReply r = Http(port(), "POST", "/v2/models/cellseg/infer", body);
  EXPECT_EQ(r.status, 200) << r.error << r.body;
}

// /segment agrees with `orbit predict` on the same image, and ?mask=png returns the label image.
TEST_F(ServeTest, SegmentMatchesPredictCli) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kDefaultServing));
  const std::string png = ReadAll(kImage);
  const HttpReply r = Http(port(), "POST", "/v2/models/cellseg/segment", png);
  ASSERT_EQ(r.status, 200) << r.body;
  const json served = r.Json();
  const int count = served["summary"]["object_count"].get<int>();
  EXPECT_GT(count, 0);
  EXPECT_EQ(served["objects"].size(), static_cast<std::size_t>(count));
  EXPECT_EQ(served["model_name"], "cellseg");

  const CommandResult cli = RunOrbit("predict --model " + ShellQuote(kModel.string()) + " --out " +
                                     ShellQuote((dir_ / "out").string()) + " --format json " +
                                     ShellQuote(kImage.string()));
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const json predicted = json::parse(cli.out)["results"][0];
  EXPECT_EQ(predicted["summary"]["object_count"].get<int>(), count);

  const HttpReply mask = Http(port(), "POST", "/v2/models/cellseg/segment?mask=png", png);
  ASSERT_EQ(mask.status, 200) << mask.body;
  EXPECT_EQ(mask.Header("content-type"), "image/png");
  EXPECT_EQ(mask.Header("x-orbit-object-count"), std::to_string(count));
  const std::vector<uchar> bytes(mask.body.begin(), mask.body.end());
  const cv::Mat labels = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(labels.empty());
  EXPECT_EQ(labels.depth(), CV_16U);
  const cv::Mat image = cv::imread(kImage.string(), cv::IMREAD_UNCHANGED);
  EXPECT_EQ(labels.size(), image.size());
  double max_label = 0;
  cv::minMaxLoc(labels, nullptr, &max_label);
  EXPECT_EQ(static_cast<int>(max_label), count);
}

// A full queue answers 503 with Retry-After rather than dropping connections, and the server
// recovers once the burst is over.
TEST_F(ServeTest, OverloadIsAnswered503WithRetryAfter) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer("  max_batch_size: 1\n  max_queue_size: 2\n", {"--threads", "1"}));
  const int side = 256;
  const std::vector<float> pixels = RandomImage(side, 5);
  constexpr int kClients = 24;
  std::vector<HttpReply> replies(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] { replies[i] = BinaryInfer(port(), pixels, side); });
  }
  for (auto& t : clients) t.join();
  int ok = 0, busy = 0;
  for (const auto& r : replies) {
    ASSERT_TRUE(r.connected) << r.error;
    if (r.status == 200) {
      ++ok;
    } else {
      ASSERT_EQ(r.status, 503) << r.body;
      EXPECT_EQ(r.Header("retry-after"), "1");
      EXPECT_NE(r.ErrorMessage().find("queue is full"), std::string::npos) << r.body;
      ++busy;
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(busy, 0);
  EXPECT_EQ(BinaryInfer(port(), pixels, side).status, 200);
}

HttpReply Metrics(int metrics_port) { return Http(metrics_port, "GET", "/metrics"); }

TEST_F(ServeTest, ConcurrentRequestsAreBatched) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer("  max_batch_size: 8\n  max_queue_delay_us: 20000\n  max_queue_size: 64\n",
                  {"--threads", "1"}));
  const int side = 32;
  const std::vector<float> pixels = RandomImage(side, 9);
  constexpr int kClients = 32;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      if (BinaryInfer(port(), pixels, side).status == 200) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients);

  const HttpReply m = Metrics(server_->metrics_port());
  ASSERT_EQ(m.status, 200);
  const std::string labels = R"({model="cellseg",version="1")";
  const auto success = MetricValue(m.body, "nv_inference_request_success" + labels + "}");
  const auto executions = MetricValue(m.body, "nv_inference_exec_count" + labels + "}");
  const auto single =
      MetricValue(m.body, "orbit_inference_batch_size_bucket" + labels + R"(,le="1"})");
  const auto batches = MetricValue(m.body, "orbit_inference_batch_size_count" + labels + "}");
  ASSERT_TRUE(success && executions && single && batches) << m.body;
  EXPECT_EQ(*success, ok.load());
  EXPECT_LT(*executions, ok.load());
  EXPECT_EQ(*batches, *executions);
  EXPECT_LT(*single, *batches) << "no execution held more than one request";
}

std::string IndexState(int port, const std::string& model) {
  const HttpReply r = Http(port, "POST", "/v2/repository/index");
  const json index = r.Json();
  if (!index.is_array()) return "no index: " + std::to_string(r.status) + " " + r.body + r.error;
  for (const auto& item : index) {
    if (item["name"] == model) return item["state"].get<std::string>();
  }
  return "absent: " + r.body;
}

// Unloading in explicit mode: the model answers 503 ("not ready ... unloaded") until loaded again.
TEST_F(ServeTest, RepositoryApiLoadsAndUnloadsInExplicitMode) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer(kDefaultServing, {"--model-control", "explicit", "--load-model", "cellseg"}));
  EXPECT_EQ(IndexState(port(), "cellseg"), "READY");

  const HttpReply unload = Http(port(), "POST", "/v2/repository/models/cellseg/unload");
  ASSERT_EQ(unload.status, 200) << unload.body;
  const HttpReply ready = Http(port(), "GET", "/v2/models/cellseg/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.ErrorMessage(), "model 'cellseg' is not ready (UNAVAILABLE: unloaded)");
  EXPECT_EQ(IndexState(port(), "cellseg"), "UNAVAILABLE");
  const int side = 16;
  const HttpReply infer =
      Http(port(), "POST", "/v2/models/cellseg/infer", JsonInferBody(RandomImage(side, 2), side));
  EXPECT_EQ(infer.status, 503);
  EXPECT_EQ(infer.Header("retry-after"), "1");
  EXPECT_EQ(infer.ErrorMessage(), "model 'cellseg' is not ready (UNAVAILABLE: unloaded)");

  const HttpReply load = Http(port(), "POST", "/v2/repository/models/cellseg/load");
  ASSERT_EQ(load.status, 200) << load.body;
  EXPECT_EQ(Http(port(), "GET", "/v2/models/cellseg/ready").status, 200);
  EXPECT_EQ(IndexState(port(), "cellseg"), "READY");
}

TEST_F(ServeTest, RepositoryLoadOutsideExplicitModeIs400) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kDefaultServing));
  const HttpReply r = Http(port(), "POST", "/v2/repository/models/cellseg/load");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.ErrorMessage().find("--model-control explicit"), std::string::npos) << r.body;
}

// Poll mode: a new version directory is picked up and served, and requests running across the
// switch all succeed.
TEST_F(ServeTest, PollModeSwitchesToNewVersionWithoutFailingRequests) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer(kDefaultServing, {"--model-control", "poll", "--repository-poll-secs", "0.2"}));
  const int side = 16;
  const std::string body = JsonInferBody(RandomImage(side, 4), side);
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0}, failed{0};
  std::string first_failure;
  std::thread load([&] {
    while (!stop) {
      const HttpReply r = Http(port(), "POST", "/v2/models/cellseg/infer", body);
      ++sent;
      if (r.status != 200 && failed++ == 0)
        first_failure = std::to_string(r.status) + r.body + r.error;
    }
  });
  repository_->AddVersion(2);
  std::string version;
  for (int i = 0; i < 100 && version != "2"; ++i) {  // 100 x 100 ms: at most 10 s
    const HttpReply r = Http(port(), "POST", "/v2/models/cellseg/infer", body);
    if (r.status == 200) version = r.Json().value("model_version", "");
    if (version != "2") std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // A few more requests on the new version before stopping the loop.
  const int after = sent.load();
  for (int i = 0; i < 200 && sent.load() < after + 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  load.join();
  EXPECT_EQ(version, "2");
  EXPECT_GT(sent.load(), 0);
  EXPECT_EQ(failed.load(), 0) << first_failure;
  EXPECT_EQ(Http(port(), "GET", "/v2/models/cellseg/versions/2/ready").status, 200);
}

// SIGTERM: requests in flight are answered, the process exits 0, and the port is closed.
TEST_F(ServeTest, SigtermDrainsInFlightRequestsAndExitsZero) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer(kDefaultServing, {"--drain-secs", "20", "--segment-threads", "1"}));
  const std::string png = ReadAll(kImage);
  constexpr int kClients = 8;
  std::vector<int> fds;
  const std::string request =
      "POST /v2/models/cellseg/segment HTTP/1.1\r\nHost: x\r\n"
      "Connection: close\r\nContent-Length: " +
      std::to_string(png.size()) + "\r\n\r\n" + png;
  for (int i = 0; i < kClients; ++i) {
    const int fd = Connect(port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, request));
    fds.push_back(fd);
  }
  // The server accepts in order: once a later connection is answered, all 8 were accepted and
  // their requests (sent in full) are in flight.
  ASSERT_EQ(Http(port(), "GET", "/v2/health/live").status, 200);
  const int http_port = port();
  std::vector<HttpReply> replies(kClients);
  std::vector<std::thread> readers;
  for (int i = 0; i < kClients; ++i) {
    readers.emplace_back([&, i] { replies[i] = ReadReply(fds[i]); });
  }
  const auto exit_code = server_->SignalAndWait(SIGTERM, std::chrono::seconds(25));
  for (auto& t : readers) t.join();
  for (int fd : fds) ::close(fd);
  ASSERT_TRUE(exit_code.has_value()) << "still running 25 s after SIGTERM";
  EXPECT_EQ(*exit_code, 0);
  for (const auto& r : replies) {
    EXPECT_TRUE(r.connected) << r.error;
    EXPECT_EQ(r.status, 200) << r.body;
  }
  EXPECT_NE(server_->Stdout().find("orbit serve: stopped"), std::string::npos);
  EXPECT_LT(Connect(http_port), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
}

// A client that never finishes its request line is disconnected after --read-timeout-secs while
// others are served.
TEST_F(ServeTest, SlowLorisConnectionIsClosedWhileOthersAreServed) {
  ASSERT_NO_FATAL_FAILURE(StartServer(kDefaultServing, {"--read-timeout-secs", "1"}));
  const int loris = Connect(port(), /*recv_timeout_s=*/15);
  ASSERT_GE(loris, 0);
  ASSERT_TRUE(SendAll(loris, "GET /v2/hea"));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Http(port(), "GET", "/v2/health/live").status, 200);
  const auto start = Clock::now();
  char buffer[256];
  ssize_t n;
  while ((n = ::recv(loris, buffer, sizeof buffer, 0)) > 0) {
  }
  const auto waited = Clock::now() - start;
  const int recv_errno = errno;
  ::close(loris);
  // 0: closed by the server; -1 with EAGAIN would mean the 15 s receive timeout ran out.
  EXPECT_TRUE(n == 0 || (n < 0 && recv_errno != EAGAIN)) << std::strerror(recv_errno);
  EXPECT_LT(waited, std::chrono::seconds(10));
  ExpectStillServing();
}

}  // namespace
}  // namespace orbit::testing
