#include "serving/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace orbit {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kWait{10000};  // upper bound on any single wait in these tests

struct ParsedResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string Header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

std::string ToLower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// A blocking HTTP/1.1 client on a raw socket, so tests control every byte and every close.
class TestClient {
 public:
  TestClient() = default;
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;
  TestClient(TestClient&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), pending_(std::move(other.pending_)) {}
  ~TestClient() { Close(); }

  // Connects to 127.0.0.1:port; false when refused.
  bool Connect(int port) {
    Close();
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      Close();
      return false;
    }
    return true;
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads one response (a 100 Continue counts as one); nullopt on close, error or timeout.
  // `to_head` reads no body whatever Content-Length says, as for a HEAD request.
  std::optional<ParsedResponse> Read(milliseconds timeout = kWait, bool to_head = false) {
    const auto deadline = Clock::now() + timeout;
    std::size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    ParsedResponse response;
    const std::string head = pending_.substr(0, end);
    pending_.erase(0, end + 4);
    std::size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || status_line.rfind("HTTP/1.", 0) != 0) return std::nullopt;
    response.status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      response.headers[ToLower(line.substr(0, colon))] = value;
    }
    const std::size_t length = !to_head && response.headers.count("content-length")
                                   ? std::stoul(response.headers["content-length"])
                                   : 0;
    while (pending_.size() < length) {
      if (!Fill(deadline)) return std::nullopt;
    }
    response.body = pending_.substr(0, length);
    pending_.erase(0, length);
    return response;
  }

  // True once the server has closed the connection (EOF or reset) within `timeout`.
  bool WaitForClose(milliseconds timeout = kWait) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const int left = static_cast<int>(
          std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count());
      if (left <= 0) return false;
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, left) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) return true;
      pending_.append(buffer, static_cast<std::size_t>(n));
    }
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool Fill(Clock::time_point deadline) {
    const int left =
        static_cast<int>(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count());
    if (left <= 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, left) <= 0) return false;
    char buffer[16384];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) return false;
    pending_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string pending_;
};

std::string Request(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& extra_headers = "") {
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: test\r\n" + extra_headers;
  if (!body.empty() || method == "POST") {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return request + "\r\n" + body;
}

bool WaitUntil(const std::function<bool()>& condition, milliseconds timeout = kWait) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

// Answers with the request's method, path and body, e.g. "POST /echo hello".
void Echo(HttpRequest request, Responder respond) {
  HttpResponse response;
  response.content_type = "text/plain";
  response.body = request.method + " " + request.path + " " + request.body;
  respond(std::move(response));
}

HttpServerOptions LocalOptions() {
  HttpServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  return options;
}

std::unique_ptr<HttpServer> StartServer(HttpHandler handler,
                                        HttpServerOptions options = LocalOptions()) {
  auto server = HttpServer::Start(std::move(options), std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(server).value() : nullptr;
}

TEST(HttpServerTest, EchoesARequestWithHeadersQueryAndBody) {
  HttpRequest seen;
  auto server = StartServer([&seen](HttpRequest request, Responder respond) {
    seen = request;
    HttpResponse response;
    response.status = 201;
    response.headers.emplace_back("X-Model", "cellseg");
    response.body = R"({"echo":")" + request.body + R"("})";
    respond(std::move(response));
  });
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(client.Send(Request("POST", "/v2/models/cellseg/infer?a=1&name=hello%20world+x&flag",
                                  "hi", "X-Request-ID: abc\r\n")));
  const auto response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, R"({"echo":"hi"})");
  EXPECT_EQ(response->Header("content-type"), "application/json");
  EXPECT_EQ(response->Header("content-length"), std::to_string(response->body.size()));
  EXPECT_EQ(response->Header("server"), "orbit");
  EXPECT_EQ(response->Header("x-model"), "cellseg");

  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/v2/models/cellseg/infer?a=1&name=hello%20world+x&flag");
  EXPECT_EQ(seen.path, "/v2/models/cellseg/infer");
  EXPECT_EQ(seen.query, "a=1&name=hello%20world+x&flag");
  EXPECT_EQ(seen.QueryParam("a"), "1");
  EXPECT_EQ(seen.QueryParam("name"), "hello world x");
  EXPECT_EQ(seen.QueryParam("flag"), "");
  EXPECT_EQ(seen.QueryParam("missing"), std::nullopt);
  EXPECT_EQ(seen.Header("X-REQUEST-ID"), "abc");
  EXPECT_EQ(seen.Header("x-missing"), std::nullopt);
  EXPECT_EQ(seen.headers.count("x-request-id"), 1u);
  EXPECT_EQ(seen.body, "hi");
  EXPECT_EQ(seen.remote.rfind("127.0.0.1:", 0), 0u) << seen.remote;
}

TEST(HttpServerTest, KeepsTheConnectionAliveAcrossRequests) {
  auto server = StartServer(Echo);
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  for (const std::string body : {"one", "two"}) {
    ASSERT_TRUE(client.Send(Request("POST", "/echo", body)));
    const auto response = client.Read();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->body, "POST /echo " + body);
    EXPECT_EQ(response->Header("connection"), "");
  }
  EXPECT_EQ(server->counters().connections_accepted, 1u);
  EXPECT_TRUE(WaitUntil([&] { return server->counters().requests_handled == 2u; }));
}

TEST(HttpServerTest, Http10ClosesUnlessKeepAliveIsAsked) {
  auto server = StartServer(Echo);
  ASSERT_NE(server, nullptr);
  TestClient keep;
  ASSERT_TRUE(keep.Connect(server->port()));
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(keep.Send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    const auto response = keep.Read();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(ToLower(response->Header("connection")), "keep-alive");
  }
  TestClient once;
  ASSERT_TRUE(once.Connect(server->port()));
  ASSERT_TRUE(once.Send("GET /b HTTP/1.0\r\n\r\n"));
  const auto response = once.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "GET /b ");
  EXPECT_TRUE(once.WaitForClose());
}

TEST(HttpServerTest, AnswersHeadWithTheLengthButNoBody) {
  auto server = StartServer(Echo);
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(client.Send(Request("HEAD", "/h") + Request("GET", "/g")));
  const auto head = client.Read(kWait, /*to_head=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->Header("content-length"), std::to_string(std::string("HEAD /h ").size()));
  const auto get = client.Read();  // would be garbled had the HEAD response carried a body
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->body, "GET /g ");
}

TEST(HttpServerTest, AnswersPipelinedRequestsInOrder) {
  // Later requests are answered sooner by the handler; responses must still come in order.
  auto server = StartServer([](HttpRequest request, Responder respond) {
    const int delay_ms = request.path == "/1" ? 150 : request.path == "/2" ? 50 : 0;
    std::thread([delay_ms, path = request.path, respond] {
      std::this_thread::sleep_for(milliseconds(delay_ms));
      HttpResponse response;
      response.body = path;
      respond(std::move(response));
    }).detach();
  });
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(
      client.Send(Request("GET", "/1") + Request("POST", "/2", "body-2") + Request("GET", "/3")));
  for (const std::string expected : {"/1", "/2", "/3"}) {
    const auto response = client.Read();
    ASSERT_TRUE(response.has_value()) << expected;
    EXPECT_EQ(response->body, expected);
  }
}

TEST(HttpServerTest, RespondsFromAnotherThreadAfterADelay) {
  std::vector<std::thread> workers;
  std::mutex mu;
  auto server = StartServer([&](HttpRequest request, Responder respond) {
    std::lock_guard<std::mutex> lock(mu);
    workers.emplace_back([request = std::move(request), respond = std::move(respond)] {
      std::this_thread::sleep_for(milliseconds(200));
      HttpResponse response;
      response.body = "late " + request.body;
      respond(std::move(response));
    });
  });
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  const auto start = Clock::now();
  ASSERT_TRUE(client.Send(Request("POST", "/x", "reply")));
  const auto response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "late reply");
  EXPECT_GE(Clock::now() - start, milliseconds(190));
  std::lock_guard<std::mutex> lock(mu);
  for (auto& worker : workers) worker.join();
}

TEST(HttpServerTest, IgnoresASecondCallOfTheResponder) {
  auto server = StartServer([](HttpRequest, Responder respond) {
    HttpResponse first;
    first.body = "first";
    respond(first);
    HttpResponse second;
    second.body = "second";
    respond(second);
  });
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(client.Send(Request("GET", "/a") + Request("GET", "/b")));
  for (int i = 0; i < 2; ++i) {
    const auto response = client.Read();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->body, "first");
  }
}

TEST(HttpServerTest, AnswersContinueBeforeReadingAnExpectedBody) {
  auto server = StartServer(Echo);
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(client.Send(
      "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  const auto interim = client.Read();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.Send("12345"));
  const auto response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "POST /upload 12345");
}

TEST(HttpServerTest, Rejects413FromContentLengthWithoutReadingTheBody) {
  std::atomic<int> calls{0};
  HttpServerOptions options = LocalOptions();
  options.max_body_bytes = 1024;
  auto server = StartServer(
      [&calls](HttpRequest request, Responder respond) {
        ++calls;
        Echo(std::move(request), std::move(respond));
      },
      options);
  ASSERT_NE(server, nullptr);
  for (const std::string expect : {"", "Expect: 100-continue\r\n"}) {
    TestClient client;
    ASSERT_TRUE(client.Connect(server->port()));
    // Only the header is sent: the answer must not wait for the million bytes announced.
    ASSERT_TRUE(client.Send("POST /infer HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n" +
                            expect + "\r\n"));
    const auto response = client.Read();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 413);
    EXPECT_EQ(response->body,
              R"({"error":"request body of 1000000 bytes is over the limit of 1024"})");
    EXPECT_EQ(response->Header("content-type"), "application/json");
    EXPECT_TRUE(client.WaitForClose());
  }
  EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServerTest, Rejects413ForAChunkedBodyOverTheLimit) {
  HttpServerOptions options = LocalOptions();
  options.max_body_bytes = 1024;
  auto server = StartServer(Echo, options);
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(client.Send("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                          std::string("800\r\n") + std::string(0x800, 'a') + "\r\n0\r\n\r\n"));
  const auto response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 413);
  EXPECT_TRUE(client.WaitForClose());
}

TEST(HttpServerTest, Rejects431ForHugeHeaders) {
  auto server = StartServer(Echo);  // default limit: 16 KiB
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(
      client.Send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20000, 'x') + "\r\n\r\n"));
  const auto response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(response->body, R"({"error":"request header is over the limit of 16384 bytes"})");
  EXPECT_TRUE(client.WaitForClose());
}

TEST(HttpServerTest, Rejects400ForAMalformedRequestLineAndCloses) {
  auto server = StartServer(Echo);
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(client.Send("NOT HTTP AT ALL\r\n\r\n"));
  const auto response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 400);
  EXPECT_NE(response->body.find("malformed request"), std::string::npos) << response->body;
  EXPECT_TRUE(client.WaitForClose());
}

TEST(HttpServerTest, ClosesASlowLorisClientAfterTheReadTimeout) {
  HttpServerOptions options = LocalOptions();
  options.read_timeout = seconds(1);
  auto server = StartServer(Echo, options);
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  // Get past the first request so that the deadline counts from the request's first byte.
  ASSERT_TRUE(client.Send(Request("GET", "/warm-up")));
  ASSERT_TRUE(client.Read().has_value());
  const auto start = Clock::now();
  ASSERT_TRUE(client.Send("GET /slow HTTP/1.1\r\nHost: t\r\n"));
  // Trickling more header bytes does not extend the deadline.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(milliseconds(200));
    client.Send("X-Trickle: 1\r\n");
  }
  EXPECT_TRUE(client.WaitForClose());
  const auto waited = Clock::now() - start;
  EXPECT_GE(waited, milliseconds(900));
  EXPECT_LT(waited, seconds(5));
  EXPECT_TRUE(WaitUntil([&] { return server->counters().active_connections == 0; }));
}

TEST(HttpServerTest, ClosesAnIdleKeepAliveConnectionAfterTheIdleTimeout) {
  HttpServerOptions options = LocalOptions();
  options.idle_timeout = seconds(1);
  auto server = StartServer(Echo, options);
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(client.Send(Request("GET", "/a")));
  ASSERT_TRUE(client.Read().has_value());
  const auto start = Clock::now();
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_GE(Clock::now() - start, milliseconds(900));
}

TEST(HttpServerTest, ServesTheNextClientAfterOneDisconnectsMidBody) {
  auto server = StartServer(Echo);
  ASSERT_NE(server, nullptr);
  {
    TestClient quitter;
    ASSERT_TRUE(quitter.Connect(server->port()));
    ASSERT_TRUE(quitter.Send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nabc"));
  }
  EXPECT_TRUE(WaitUntil([&] { return server->counters().active_connections == 0; }));
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(client.Send(Request("POST", "/y", "ok")));
  const auto response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "POST /y ok");
}

TEST(HttpServerTest, ResponderCalledAfterTheClientLeftIsANoOp) {
  std::promise<Responder> parked;
  auto server = StartServer([&parked](HttpRequest request, Responder respond) {
    if (request.path == "/park") {
      parked.set_value(std::move(respond));
      return;
    }
    Echo(std::move(request), std::move(respond));
  });
  ASSERT_NE(server, nullptr);
  auto future = parked.get_future();
  {
    TestClient client;
    ASSERT_TRUE(client.Connect(server->port()));
    ASSERT_TRUE(client.Send(Request("GET", "/park")));
    ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  }
  Responder respond = future.get();
  std::this_thread::sleep_for(milliseconds(50));
  respond(HttpResponse{});  // the write fails quietly and the connection closes
  EXPECT_TRUE(WaitUntil([&] { return server->counters().active_connections == 0; }));
  TestClient next;
  ASSERT_TRUE(next.Connect(server->port()));
  ASSERT_TRUE(next.Send(Request("GET", "/still-up")));
  const auto response = next.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST(HttpServerTest, Answers500WhenTheHandlerDropsTheResponder) {
  auto server = StartServer([](HttpRequest, Responder) {});
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(client.Send(Request("GET", "/forgotten")));
  const auto response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 500);
  EXPECT_NE(response->body.find("internal error"), std::string::npos);
}

TEST(HttpServerTest, Answers500WhenTheHandlerThrowsAndKeepsServing) {
  auto server = StartServer([](HttpRequest request, Responder respond) {
    if (request.path == "/throw") throw std::runtime_error("model \"x\" exploded");
    Echo(std::move(request), std::move(respond));
  });
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(client.Send(Request("GET", "/throw")));
  const auto failed = client.Read();
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, 500);
  EXPECT_EQ(failed->body, R"({"error":"internal error: model \"x\" exploded"})");
  ASSERT_TRUE(client.Send(Request("GET", "/fine")));  // same connection still works
  const auto fine = client.Read();
  ASSERT_TRUE(fine.has_value());
  EXPECT_EQ(fine->body, "GET /fine ");
  TestClient other;
  ASSERT_TRUE(other.Connect(server->port()));
  ASSERT_TRUE(other.Send(Request("GET", "/other")));
  ASSERT_TRUE(other.Read().has_value());
}

TEST(HttpServerTest, AnswersInvalidHandlerStatusWith500) {
  auto server = StartServer([](HttpRequest, Responder respond) {
    HttpResponse response;
    response.status = 42;
    respond(std::move(response));
  });
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(client.Send(Request("GET", "/")));
  const auto response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 500);
}

TEST(HttpServerTest, StopDrainsARequestInFlightAndRefusesNewConnections) {
  std::promise<Responder> parked;
  auto server = StartServer([&parked](HttpRequest, Responder respond) {
    parked.set_value(std::move(respond));  // answered later from the test thread
  });
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  TestClient idle;  // an idle keep-alive connection is closed at once by Stop
  ASSERT_TRUE(idle.Connect(port));
  ASSERT_TRUE(idle.Send("GET /idle HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto idle_future = parked.get_future();
  ASSERT_EQ(idle_future.wait_for(kWait), std::future_status::ready);
  HttpResponse idle_answer;
  idle_answer.body = "idle";
  idle_future.get()(idle_answer);
  ASSERT_TRUE(idle.Read().has_value());
  parked = std::promise<Responder>();

  TestClient busy;
  ASSERT_TRUE(busy.Connect(port));
  ASSERT_TRUE(busy.Send(Request("POST", "/slow", "work")));
  auto busy_future = parked.get_future();
  ASSERT_EQ(busy_future.wait_for(kWait), std::future_status::ready);
  Responder respond = busy_future.get();

  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server->Stop(milliseconds(8000));
    stopped = true;
  });
  EXPECT_TRUE(idle.WaitForClose());
  EXPECT_TRUE(WaitUntil([&] {
    TestClient late;
    return !late.Connect(port);
  })) << "new connections are still accepted during Stop";
  EXPECT_FALSE(stopped.load());

  HttpResponse answer;
  answer.body = "done";
  respond(answer);
  const auto response = busy.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "done");
  EXPECT_EQ(ToLower(response->Header("connection")), "close");
  EXPECT_TRUE(busy.WaitForClose());
  busy.Close();
  stopper.join();
  EXPECT_TRUE(stopped.load());
  EXPECT_EQ(server->counters().active_connections, 0);
  server->Stop(milliseconds(0));  // idempotent
}

TEST(HttpServerTest, StopGivesUpOnAHandlerThatNeverAnswersAfterTheDrain) {
  std::promise<Responder> parked;
  auto server = StartServer(
      [&parked](HttpRequest, Responder respond) { parked.set_value(std::move(respond)); });
  ASSERT_NE(server, nullptr);
  TestClient client;
  ASSERT_TRUE(client.Connect(server->port()));
  ASSERT_TRUE(client.Send(Request("GET", "/never")));
  auto future = parked.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  Responder respond = future.get();
  const auto start = Clock::now();
  server->Stop(milliseconds(300));
  EXPECT_GE(Clock::now() - start, milliseconds(250));
  EXPECT_TRUE(client.WaitForClose());
  respond(HttpResponse{});  // after Stop: a no-op
  server.reset();
  respond(HttpResponse{});  // after destruction: still a no-op
}

TEST(HttpServerTest, AnswersTheConnectionOverTheLimitWith503) {
  HttpServerOptions options = LocalOptions();
  options.max_connections = 2;
  auto server = StartServer(Echo, options);
  ASSERT_NE(server, nullptr);
  TestClient first;
  TestClient second;
  for (TestClient* client : {&first, &second}) {
    ASSERT_TRUE(client->Connect(server->port()));
    ASSERT_TRUE(client->Send(Request("GET", "/")));
    ASSERT_TRUE(client->Read().has_value());
  }
  TestClient extra;
  ASSERT_TRUE(extra.Connect(server->port()));
  const auto response = extra.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 503);
  EXPECT_TRUE(extra.WaitForClose());
  EXPECT_EQ(server->counters().connections_rejected, 1u);

  first.Close();
  ASSERT_TRUE(WaitUntil([&] { return server->counters().active_connections == 1; }));
  TestClient again;
  ASSERT_TRUE(again.Connect(server->port()));
  ASSERT_TRUE(again.Send(Request("GET", "/again")));
  const auto served = again.Read();
  ASSERT_TRUE(served.has_value());
  EXPECT_EQ(served->status, 200);
}

TEST(HttpServerTest, FailsToStartOnAPortInUseNamingTheAddress) {
  auto first = StartServer(Echo);
  ASSERT_NE(first, nullptr);
  HttpServerOptions options = LocalOptions();
  options.port = first->port();
  auto second = HttpServer::Start(options, Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(
      second.status().message(),
      "cannot listen on 127.0.0.1:" + std::to_string(first->port()) + ": address already in use");
}

TEST(HttpServerTest, RejectsInvalidOptions) {
  HttpServerOptions options = LocalOptions();
  options.threads = 0;
  auto server = HttpServer::Start(options, Echo);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(HttpServer::Start(LocalOptions(), nullptr).ok());
  options = LocalOptions();
  options.port = 70000;
  EXPECT_EQ(HttpServer::Start(options, Echo).status().code(), StatusCode::kInvalidArgument);
}

TEST(HttpServerTest, ServesConcurrentKeepAliveClients) {
  auto server = StartServer(Echo);
  ASSERT_NE(server, nullptr);
  constexpr int kClients = 8;
  constexpr int kRequests = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      TestClient client;
      if (!client.Connect(server->port())) return;
      for (int r = 0; r < kRequests; ++r) {
        const std::string body = std::to_string(c) + "-" + std::to_string(r);
        if (!client.Send(Request("POST", "/c", body))) return;
        const auto response = client.Read();
        if (response && response->status == 200 && response->body == "POST /c " + body) ++ok;
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  // The counter moves when the write completes, which may be just after the client read it.
  EXPECT_TRUE(WaitUntil([&] {
    return server->counters().requests_handled == static_cast<std::uint64_t>(kClients * kRequests);
  })) << server->counters().requests_handled;
  EXPECT_EQ(server->counters().connections_accepted, static_cast<std::uint64_t>(kClients));
}

}  // namespace
}  // namespace orbit
