// HttpServer: the asynchronous HTTP/1.1 front end (Boost.Beast on Asio) that the KServe v2 and
// admin endpoints sit behind. Beast stays inside http_server.cc; this header is plain C++.
// Connection lifecycle, limits, timeouts and shutdown: docs/design/http-server.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace orbit {

// One parsed request, owned by the handler it is given to.
struct HttpRequest {
  std::string method;  // "GET", "POST", ... as sent
  std::string target;  // request-target as sent: "/v2/models/x/infer?a=1"
  std::string path;    // target before '?', not percent-decoded: "/v2/models/x/infer"
  std::string query;   // target after '?', without it, not decoded: "a=1"
  std::multimap<std::string, std::string> headers;  // names lower-cased, values as sent
  std::string body;
  std::string remote;  // peer address, "127.0.0.1:53412" or "[::1]:53412"

  // First value of header `name` (any case); nullopt when absent. Views into `headers`.
  std::optional<std::string_view> Header(std::string_view name) const;
  // First value of query parameter `name`, percent-decoded ('+' reads as a space); nullopt when
  // absent, "" for "?name" or "?name=".
  std::optional<std::string> QueryParam(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;  // 200..999; 1xx or out-of-range codes are answered as 500 instead
  // Extra header fields. Content-Length, Transfer-Encoding and Server are set by the server and
  // ignored here; a Content-Type here replaces content_type; "Connection: close" is honoured (the
  // connection closes after this response); fields containing CR or LF are dropped.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // dropped for 204 and 304; for HEAD only its length is sent
  std::string content_type = "application/json";
};

// Sends the response to one request. Call it exactly once, from any thread, now or later: the
// write is posted to the connection's strand. Calls after the first are ignored, and so is a call
// after the connection or the server is gone. Dropping every copy of a Responder without calling
// it answers 500, so a buggy handler cannot leave a client hanging.
using Responder = std::function<void(HttpResponse)>;

// Handles one request. Runs on an io thread and must not block: hand long work to another thread
// and call the Responder from there. An exception escaping it is answered 500
// {"error":"internal error: <what>"} unless the Responder was already called; serving goes on.
using HttpHandler = std::function<void(HttpRequest, Responder)>;

struct HttpServerOptions {
  std::string address = "0.0.0.0";  // IP literal or a host name resolved once at Start
  int port = 8000;                  // 0 picks an ephemeral port; see HttpServer::port()
  int threads = 2;                  // io_context threads running every connection
  std::size_t max_body_bytes = 64 * 1024 * 1024;  // larger bodies: 413, then close
  std::size_t max_header_bytes = 16 * 1024;       // request line + fields; larger: 431, then close
  // The whole request, body included, must arrive within this time of its first byte (of the
  // accept, for a connection's first request); otherwise the connection is closed.
  std::chrono::seconds read_timeout{30};
  // A keep-alive connection with no request started for this long is closed.
  std::chrono::seconds idle_timeout{60};
  // A response must be written within this time, or the connection is closed.
  std::chrono::seconds write_timeout{60};
  // Connections beyond this are accepted, answered 503 and closed.
  int max_connections = 1024;
};

// Live counters, read without locks (each value is exact; the set is not a snapshot).
struct HttpServerCounters {
  std::int64_t active_connections = 0;     // open and counted against max_connections
  std::uint64_t connections_accepted = 0;  // ever accepted, excluding rejected ones
  std::uint64_t connections_rejected = 0;  // answered 503 because of max_connections
  std::uint64_t requests_handled = 0;      // responses written completely, any status
};

// Thread-safety: Start, Stop, port and counters may be called from any thread, but Stop (and the
// destructor) must not be called from a handler, since it joins the io threads. Handlers run
// on the io threads, one request at a time per connection (requests on one connection are
// answered in order; different connections run in parallel on `threads` threads).
class HttpServer {
 public:
  // Validates the options, binds, listens and starts the io threads. Errors: InvalidArgument for
  // bad options or an empty handler, Unavailable when the address cannot be resolved or bound
  // ("cannot listen on 0.0.0.0:8000: address already in use").
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, HttpHandler handler);

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();  // Stop(std::chrono::milliseconds(0)) if not stopped yet.

  // Graceful shutdown: stops accepting (new connections are refused), closes idle keep-alive
  // connections, lets requests in flight finish and their responses be written (sent with
  // "Connection: close") for up to `drain`, then closes whatever is left and joins the io threads.
  // Responders called afterwards do nothing. Idempotent; concurrent callers wait for the first.
  void Stop(std::chrono::milliseconds drain);

  // The bound port (the ephemeral one when options.port was 0).
  int port() const;
  HttpServerCounters counters() const;

 private:
  class Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orbit
