// HttpServer on Boost.Beast: the only translation unit that includes Beast, so it compiles once.
// Design notes (phases, deadlines, drain): docs/design/http-server.md.
#include "serving/http_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace orbit {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;

// After a response that ends the connection, the server shuts down its sending side and reads
// (and drops) whatever the client still sends for this long before closing. Closing with unread
// data would send a TCP reset, which can destroy the response before the client reads it.
constexpr std::chrono::seconds kLingerTimeout{1};
// Pause before accepting again after an accept error such as "too many open files".
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};
constexpr std::size_t kReadChunkBytes = 16 * 1024;
constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

// Beast 1.74 speaks boost::string_view.
std::string_view View(beast::string_view text) { return {text.data(), text.size()}; }

std::string ToLower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ToLower(a) == ToLower(b);
}

// {"error":"<message>"} with the message escaped as a JSON string.
std::string JsonError(std::string_view message) {
  std::string out = R"({"error":")";
  for (const char c : message) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += "\"}";
  return out;
}

HttpResponse ErrorResponse(int status, std::string_view message) {
  HttpResponse response;
  response.status = status;
  response.body = JsonError(message);
  return response;
}

std::string HostPort(std::string_view host, int port) {
  const bool is_ipv6 = host.find(':') != std::string_view::npos;
  return (is_ipv6 ? "[" + std::string(host) + "]" : std::string(host)) + ":" + std::to_string(port);
}

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  return HostPort(endpoint.address().to_string(), endpoint.port());
}

// "Address already in use" -> "address already in use", to read well after a colon.
std::string LowerFirst(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding; malformed escapes are kept as they are.
std::string DecodeQueryComponent(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
               HexValue(text[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

bool IsHttpParseError(const ErrorCode& ec) {
  if (ec.category() != http::make_error_code(http::error::bad_method).category()) return false;
  // These mean the peer went away or stopped sending, not that it sent something invalid.
  return ec != http::error::end_of_stream && ec != http::error::partial_message &&
         ec != http::error::need_more && ec != http::error::need_buffer;
}

class Connection;

// Lets Responders that outlive the server become no-ops: a Responder posts to a connection's
// strand only while `alive`, holding `mu`, and Stop clears `alive` before the io_context goes.
struct Lifeline {
  std::mutex mu;
  bool alive = true;  // guarded by mu
};

// State shared by the acceptor and every connection; owned by HttpServer::Impl and outliving the
// io threads. Connections hold a reference to it but never touch it from their destructors, which
// may run while the io_context is being destroyed.
struct ServerCore {
  ServerCore(HttpServerOptions options_in, HttpHandler handler_in)
      : options(std::move(options_in)), handler(std::move(handler_in)) {}

  // Adds a connection unless the server is stopping; false means "close it at once".
  bool Register(const std::shared_ptr<Connection>& connection) {
    std::lock_guard<std::mutex> lock(mu);
    if (stopping) return false;
    connections.emplace(connection.get(), connection);
    return true;
  }
  void Unregister(const Connection* connection) {
    std::lock_guard<std::mutex> lock(mu);
    connections.erase(connection);
    if (connections.empty()) all_closed.notify_all();
  }

  const HttpServerOptions options;
  const HttpHandler handler;
  asio::io_context io;  // destroyed after everything below
  std::shared_ptr<Lifeline> lifeline = std::make_shared<Lifeline>();

  std::atomic<bool> stopping{false};  // written under mu, read anywhere
  std::atomic<std::int64_t> active_connections{0};
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_rejected{0};
  std::atomic<std::uint64_t> requests_handled{0};

  std::mutex mu;
  std::condition_variable all_closed;
  // Every open connection, the owner of a connection while its handler runs (no async operation
  // holds it then). Guarded by mu.
  std::unordered_map<const Connection*, std::shared_ptr<Connection>> connections;
};

// One accepted socket. Every member function runs on the connection's strand, except
// ForceClose, which Stop calls after the io threads are joined.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerCore& core, tcp::socket socket, bool counted)
      : core_(core),
        executor_(socket.get_executor()),
        stream_(std::move(socket)),
        counted_(counted) {
    ErrorCode ec;
    const tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
    remote_ = ec ? "unknown" : FormatEndpoint(peer);
    stream_.socket().set_option(tcp::no_delay(true), ec);
  }

  const asio::any_io_executor& executor() const { return executor_; }

  // Serves requests until the peer leaves, a timeout fires or the server stops.
  void Start() {
    if (phase_ == Phase::kClosed) return;               // Stop got here first
    stream_.expires_after(core_.options.read_timeout);  // the first request counts from accept
    ReadRequest();
  }

  // Over max_connections: answers 503 and closes without reading a request.
  void Reject() {
    if (phase_ == Phase::kClosed) return;
    keep_alive_ = false;
    version_ = 11;
    WriteResponse(ErrorResponse(503, "server is at its limit of " +
                                         std::to_string(core_.options.max_connections) +
                                         " connections; try again later"),
                  /*count_as_request=*/false);
  }

  // The server began a graceful stop: an idle connection closes now, one with a request under
  // way finishes it (its response says "Connection: close") and closes after.
  void OnServerStopping() {
    if (phase_ == Phase::kAwaitingRequest) Close();
  }

  // The handler's answer to request `sequence`, posted here by its Responder.
  void OnResponse(HttpResponse response, std::uint64_t sequence) {
    if (phase_ != Phase::kHandling || sequence != request_sequence_) return;
    WriteResponse(std::move(response), /*count_as_request=*/true);
  }

  // Whether a request is under way (read, handled or answered); false when idle or closing.
  bool is_busy() const {
    return phase_ == Phase::kReadingRequest || phase_ == Phase::kHandling ||
           phase_ == Phase::kWriting;
  }
  void ForceClose() { Close(); }

 private:
  enum class Phase {
    kAwaitingRequest,  // nothing of the next request received yet
    kReadingRequest,   // header or body under way
    kHandling,         // waiting for the handler's Responder
    kWriting,
    kLingering,  // response sent, draining the peer's leftovers before closing
    kClosed,
  };

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
        core_.options.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    // No body limit while reading the header: Content-Length is checked by hand to answer 413
    // with both sizes, and Beast 1.74 rejects every body when the limit is boost::none.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (buffer_.size() > 0) {  // a pipelined request is already here
      if (!first_request_) stream_.expires_after(core_.options.read_timeout);
      ReadHeader();
      return;
    }
    phase_ = Phase::kAwaitingRequest;
    if (!first_request_) stream_.expires_after(core_.options.idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(kReadChunkBytes),
        beast::bind_front_handler(&Connection::OnFirstBytes, shared_from_this()));
  }

  void OnFirstBytes(ErrorCode ec, std::size_t bytes) {
    if (phase_ == Phase::kClosed) return;
    if (ec) return Close();  // idle timeout, peer closed, or stopped
    buffer_.commit(bytes);
    if (!first_request_) stream_.expires_after(core_.options.read_timeout);
    ReadHeader();
  }

  void ReadHeader() {
    phase_ = Phase::kReadingRequest;
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Connection::OnHeader, shared_from_this()));
  }

  void OnHeader(ErrorCode ec, std::size_t /*bytes*/) {
    if (phase_ == Phase::kClosed) return;
    if (ec) return OnReadError(ec);
    const std::size_t limit = core_.options.max_body_bytes;
    if (const auto length = parser_->content_length(); length && *length > limit) {
      return RespondAndClose(413, "request body of " + std::to_string(*length) +
                                      " bytes is over the limit of " + std::to_string(limit));
    }
    parser_->body_limit(limit);  // bounds chunked bodies, whose size is unknown up front
    if (parser_->is_done()) return Dispatch();
    const auto& header = parser_->get();
    if (header.version() >= 11 &&
        EqualsIgnoreCase(View(header[http::field::expect]), "100-continue")) {
      // Curl and other clients wait for this before sending a large body.
      asio::async_write(stream_, asio::buffer(kContinueResponse.data(), kContinueResponse.size()),
                        beast::bind_front_handler(&Connection::OnContinueSent, shared_from_this()));
      return;
    }
    ReadBody();
  }

  void OnContinueSent(ErrorCode ec, std::size_t /*bytes*/) {
    if (phase_ == Phase::kClosed) return;
    if (ec) return Close();
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Connection::OnBody, shared_from_this()));
  }

  void OnBody(ErrorCode ec, std::size_t /*bytes*/) {
    if (phase_ == Phase::kClosed) return;
    if (ec) return OnReadError(ec);
    Dispatch();
  }

  void OnReadError(const ErrorCode& ec) {
    const auto& options = core_.options;
    if (ec == http::error::header_limit) {
      return RespondAndClose(431, "request header is over the limit of " +
                                      std::to_string(options.max_header_bytes) + " bytes");
    }
    if (ec == http::error::body_limit) {
      return RespondAndClose(413, "request body is over the limit of " +
                                      std::to_string(options.max_body_bytes) + " bytes");
    }
    if (IsHttpParseError(ec)) return RespondAndClose(400, "malformed request: " + ec.message());
    // Timeout, the peer closing or resetting, or Stop: nothing useful can be sent.
    spdlog::debug("http: closing connection from {}: {}", remote_, ec.message());
    Close();
  }

  void RespondAndClose(int status, const std::string& message) {
    keep_alive_ = false;
    version_ = 11;
    WriteResponse(ErrorResponse(status, message), /*count_as_request=*/true);
  }

  HttpRequest TakeRequest() {
    auto message = parser_->release();
    parser_.reset();
    HttpRequest request;
    request.method = std::string(View(message.method_string()));
    request.target = std::string(View(message.target()));
    const std::size_t question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos) request.query = request.target.substr(question + 1);
    for (const auto& field : message) {
      request.headers.emplace(ToLower(View(field.name_string())), std::string(View(field.value())));
    }
    request.body = std::move(message.body());
    request.remote = remote_;
    keep_alive_ = message.keep_alive();
    version_ = message.version();
    is_head_ = message.method() == http::verb::head;
    return request;
  }

  void Dispatch();  // defined after ResponseSlot

  void WriteResponse(HttpResponse response, bool count_as_request) {
    phase_ = Phase::kWriting;
    count_as_request_ = count_as_request;
    if (response.status < 200 || response.status > 999) {
      spdlog::error("http: handler answered {} {} with invalid status {}", remote_, last_target_,
                    response.status);
      response = ErrorResponse(
          500, "internal error: handler answered with status " + std::to_string(response.status));
    }
    bool keep_alive = keep_alive_ && !core_.stopping.load();
    auto& out = response_.emplace();
    out.version(version_);
    out.result(static_cast<unsigned>(response.status));
    out.set(http::field::server, "orbit");
    out.set(http::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) {
      const std::string lower = ToLower(name);
      if (lower == "content-length" || lower == "transfer-encoding" || lower == "server") continue;
      if (name.find_first_of("\r\n") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos) {
        spdlog::error("http: dropping header '{}' with a line break from the response to {}", name,
                      remote_);
        continue;
      }
      if (lower == "connection") {
        if (ToLower(value).find("close") != std::string::npos) keep_alive = false;
        continue;
      }
      if (lower == "content-type") {
        out.set(http::field::content_type, value);
        continue;
      }
      out.insert(name, value);
    }
    const bool has_no_body = response.status == 204 || response.status == 304;
    if (!has_no_body) out.body() = std::move(response.body);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    if (is_head_) out.body().clear();  // Content-Length still describes the GET response
    keep_alive_ = keep_alive;
    stream_.expires_after(core_.options.write_timeout);
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&Connection::OnWritten, shared_from_this()));
  }

  void OnWritten(ErrorCode ec, std::size_t /*bytes*/) {
    response_.reset();
    if (phase_ == Phase::kClosed) return;
    if (ec) {
      spdlog::debug("http: cannot write response to {}: {}", remote_, ec.message());
      return Close();
    }
    if (count_as_request_) core_.requests_handled.fetch_add(1, std::memory_order_relaxed);
    first_request_ = false;
    is_head_ = false;
    if (!keep_alive_ || core_.stopping.load()) return LingerAndClose();
    ReadRequest();
  }

  void LingerAndClose() {
    phase_ = Phase::kLingering;
    ErrorCode ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    stream_.expires_after(kLingerTimeout);
    DiscardUntilClosed();
  }

  void DiscardUntilClosed() {
    stream_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](ErrorCode ec, std::size_t /*bytes*/) {
                              if (self->phase_ == Phase::kClosed) return;
                              if (ec) return self->Close();
                              self->DiscardUntilClosed();
                            });
  }

  // Idempotent. The last strong reference may be the caller's, never `this` alone: completion
  // handlers and Stop hold their own.
  void Close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    stream_.close();
    parser_.reset();
    if (counted_) core_.active_connections.fetch_sub(1, std::memory_order_relaxed);
    core_.Unregister(this);
  }

  friend class ResponseSlot;

  ServerCore& core_;
  const asio::any_io_executor executor_;  // the strand; copied so Responders can post to it
  beast::tcp_stream stream_;
  const bool counted_;  // counts against max_connections (rejected ones do not)
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::array<char, 4096> discard_{};
  Phase phase_ = Phase::kAwaitingRequest;
  bool first_request_ = true;
  bool keep_alive_ = true;
  bool is_head_ = false;
  bool count_as_request_ = true;
  unsigned version_ = 11;
  std::uint64_t request_sequence_ = 0;
  std::string last_target_;
};

// Shared by the copies of one Responder: delivers the first response to the connection's strand
// and answers 500 if every copy is dropped without a call.
class ResponseSlot {
 public:
  ResponseSlot(std::shared_ptr<Lifeline> lifeline, std::weak_ptr<Connection> connection,
               std::uint64_t sequence)
      : lifeline_(std::move(lifeline)), connection_(std::move(connection)), sequence_(sequence) {}
  ResponseSlot(const ResponseSlot&) = delete;
  ResponseSlot& operator=(const ResponseSlot&) = delete;

  ~ResponseSlot() {
    if (!delivered_.load()) {
      Deliver(ErrorResponse(500, "internal error: the handler dropped the request unanswered"));
    }
  }

  void Deliver(HttpResponse response) {
    if (delivered_.exchange(true)) return;
    std::lock_guard<std::mutex> lock(lifeline_->mu);
    if (!lifeline_->alive) return;
    std::shared_ptr<Connection> connection = connection_.lock();
    if (!connection) return;
    const asio::any_io_executor& executor = connection->executor();
    asio::post(executor,
               [connection, sequence = sequence_, response = std::move(response)]() mutable {
                 connection->OnResponse(std::move(response), sequence);
               });
  }

 private:
  const std::shared_ptr<Lifeline> lifeline_;
  const std::weak_ptr<Connection> connection_;
  const std::uint64_t sequence_;
  std::atomic<bool> delivered_{false};
};

void Connection::Dispatch() {
  stream_.expires_never();  // the handler may take as long as it needs
  phase_ = Phase::kHandling;
  HttpRequest request = TakeRequest();
  last_target_ = request.target;
  auto slot = std::make_shared<ResponseSlot>(core_.lifeline, weak_from_this(), ++request_sequence_);
  Responder respond = [slot](HttpResponse response) { slot->Deliver(std::move(response)); };
  try {
    core_.handler(std::move(request), respond);
  } catch (const std::exception& e) {
    spdlog::error("http: handler for {} from {} threw: {}", last_target_, remote_, e.what());
    respond(ErrorResponse(500, std::string("internal error: ") + e.what()));
  } catch (...) {
    spdlog::error("http: handler for {} from {} threw a non-standard exception", last_target_,
                  remote_);
    respond(ErrorResponse(500, "internal error: unknown exception"));
  }
}

}  // namespace

std::optional<std::string_view> HttpRequest::Header(std::string_view name) const {
  const auto it = headers.find(ToLower(name));
  if (it == headers.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::optional<std::string> HttpRequest::QueryParam(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const std::size_t equals = pair.find('=');
    if (DecodeQueryComponent(pair.substr(0, equals)) != name) continue;
    if (equals == std::string_view::npos) return std::string();
    return DecodeQueryComponent(pair.substr(equals + 1));
  }
  return std::nullopt;
}

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, HttpHandler handler)
      : core_(std::move(options), std::move(handler)) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() { Stop(std::chrono::milliseconds(0)); }

  Status Listen(const tcp::endpoint& endpoint) {
    const std::string where = HostPort(core_.options.address, core_.options.port);
    ErrorCode ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return UnavailableError("cannot listen on " + where + ": " + LowerFirst(ec.message()));
    port_ = acceptor_.local_endpoint(ec).port();
    return Status::Ok();
  }

  void Run() {
    Accept();
    for (int i = 0; i < core_.options.threads; ++i) {
      threads_.emplace_back([this] {
        for (;;) {
          try {
            core_.io.run();
            return;
          } catch (const std::exception& e) {
            spdlog::error("http: io thread caught: {}", e.what());
          }
        }
      });
    }
  }

  void Stop(std::chrono::milliseconds drain) {
    std::lock_guard<std::mutex> stop_lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    const auto deadline = std::chrono::steady_clock::now() + drain;

    std::vector<std::shared_ptr<Connection>> open;
    {
      std::lock_guard<std::mutex> lock(core_.mu);
      core_.stopping = true;
      for (const auto& [key, connection] : core_.connections) open.push_back(connection);
    }
    // Refuse new connections: close the listening socket on its strand, and wait for that so
    // that a client connecting after Stop has begun is refused, not left in the backlog.
    if (!threads_.empty()) {
      auto closed = std::make_shared<std::promise<void>>();
      asio::post(acceptor_.get_executor(), [this, closed] {
        ErrorCode ec;
        acceptor_.close(ec);
        retry_timer_.cancel();
        closed->set_value();
      });
      closed->get_future().wait_until(deadline);
    }
    for (const auto& connection : open) {
      asio::post(connection->executor(), [connection] { connection->OnServerStopping(); });
    }
    open.clear();
    {
      std::unique_lock<std::mutex> lock(core_.mu);
      core_.all_closed.wait_until(lock, deadline, [&] { return core_.connections.empty(); });
    }

    work_.reset();
    core_.io.stop();
    for (auto& thread : threads_) thread.join();
    threads_.clear();

    // Single-threaded from here on.
    {
      std::lock_guard<std::mutex> lock(core_.lifeline->mu);
      core_.lifeline->alive = false;
    }
    ErrorCode ec;
    acceptor_.close(ec);
    retry_timer_.cancel();
    std::unordered_map<const Connection*, std::shared_ptr<Connection>> left;
    {
      std::lock_guard<std::mutex> lock(core_.mu);
      left.swap(core_.connections);
    }
    const auto busy = std::count_if(left.begin(), left.end(),
                                    [](const auto& entry) { return entry.second->is_busy(); });
    if (busy > 0) {
      spdlog::warn("http: closing {} connection(s) with a request still under way after the drain",
                   busy);
    }
    for (const auto& [key, connection] : left) connection->ForceClose();
  }

  int port() const { return port_; }

  HttpServerCounters counters() const {
    HttpServerCounters result;
    result.active_connections = core_.active_connections.load();
    result.connections_accepted = core_.connections_accepted.load();
    result.connections_rejected = core_.connections_rejected.load();
    result.requests_handled = core_.requests_handled.load();
    return result;
  }

 private:
  // Runs on the acceptor's strand.
  void Accept() {
    acceptor_.async_accept(asio::make_strand(core_.io), [this](ErrorCode ec, tcp::socket socket) {
      OnAccept(ec, std::move(socket));
    });
  }

  void OnAccept(ErrorCode ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {  // e.g. out of file descriptors: back off instead of spinning
      spdlog::warn("http: accept failed: {}", ec.message());
      retry_timer_.expires_after(kAcceptRetryDelay);
      retry_timer_.async_wait([this](ErrorCode wait_ec) {
        if (!wait_ec && acceptor_.is_open()) Accept();
      });
      return;
    }
    const bool over_limit = core_.active_connections.load() >= core_.options.max_connections;
    auto connection = std::make_shared<Connection>(core_, std::move(socket), !over_limit);
    if (core_.Register(connection)) {
      if (over_limit) {
        core_.connections_rejected.fetch_add(1, std::memory_order_relaxed);
        asio::post(connection->executor(), [connection] { connection->Reject(); });
      } else {
        core_.active_connections.fetch_add(1, std::memory_order_relaxed);
        core_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
        asio::post(connection->executor(), [connection] { connection->Start(); });
      }
    }
    Accept();
  }

  ServerCore core_;
  tcp::acceptor acceptor_{asio::make_strand(core_.io)};
  asio::steady_timer retry_timer_{acceptor_.get_executor()};
  asio::executor_work_guard<asio::io_context::executor_type> work_{core_.io.get_executor()};
  std::vector<std::thread> threads_;
  int port_ = 0;
  std::mutex stop_mu_;
  bool stopped_ = false;  // guarded by stop_mu_
};

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                      HttpHandler handler) {
  const std::string where = HostPort(options.address, options.port);
  if (!handler) return InvalidArgumentError("http server on " + where + ": handler is empty");
  auto invalid = [&](const std::string& what) {
    return InvalidArgumentError("http server on " + where + ": " + what);
  };
  if (options.port < 0 || options.port > 65535) {
    return invalid("port " + std::to_string(options.port) + " is not in 0..65535");
  }
  if (options.threads < 1) return invalid("threads must be at least 1");
  if (options.max_connections < 1) return invalid("max_connections must be at least 1");
  if (options.max_header_bytes < 1024) return invalid("max_header_bytes must be at least 1024");
  if (options.read_timeout.count() <= 0 || options.idle_timeout.count() <= 0 ||
      options.write_timeout.count() <= 0) {
    return invalid("read, idle and write timeouts must be positive");
  }

  ErrorCode ec;
  const auto port = static_cast<unsigned short>(options.port);
  tcp::endpoint endpoint(asio::ip::make_address(options.address, ec), port);
  if (ec) {  // not an IP literal: resolve the host name once
    asio::io_context resolver_io;
    tcp::resolver resolver(resolver_io);
    const auto results =
        resolver.resolve(options.address, std::to_string(options.port),
                         tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      return UnavailableError("cannot listen on " + where + ": cannot resolve '" + options.address +
                              "': " + LowerFirst(ec.message()));
    }
    endpoint = results.begin()->endpoint();
  }

  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  ORBIT_RETURN_IF_ERROR(impl->Listen(endpoint));
  impl->Run();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(std::chrono::milliseconds(0)); }

void HttpServer::Stop(std::chrono::milliseconds drain) { impl_->Stop(drain); }

int HttpServer::port() const { return impl_->port(); }

HttpServerCounters HttpServer::counters() const { return impl_->counters(); }

}  // namespace orbit
