// `orbit serve`: the data plane. Loads a model repository, answers the KServe v2 HTTP protocol
// (plus /segment and the repository API) on --http-port, KServe v2 gRPC on --grpc-port and
// Prometheus metrics on --metrics-port, polls the repository in poll mode, and on SIGTERM/SIGINT
// stops accepting, drains what is in flight and exits 0.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "serving/grpc_service.h"
#include "serving/http_server.h"
#include "serving/inference_service.h"
#include "serving/model_manager.h"
#include "telemetry/inference_metrics.h"
#include "telemetry/metric_registry.h"
#include "telemetry/process_metrics.h"

namespace orbit::cli {
namespace {

struct ServeFlags {
  std::string repository;
  std::string address = "0.0.0.0";
  int http_port = 8000;
  int grpc_port = 8001;
  int metrics_port = 8002;
  std::string model_control = "none";
  std::vector<std::string> load_models;
  double poll_seconds = 5;
  int http_threads = 2;
  int worker_threads = 2;
  double max_body_mb = 64;
  double drain_seconds = 30;
  int read_timeout_s = 30;
  int idle_timeout_s = 60;
  EngineFlags engine;
};

int Fail(const Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  return kExitUsage;
}

int RunServe(const ServeFlags& flags) {
  // Signals are taken synchronously by this thread (sigtimedwait); every thread started from
  // here on inherits the blocked mask, so none of them is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto engine_options = ToEngineOptions(flags.engine);
  if (!engine_options.ok()) return Fail(engine_options.status());
  auto mode = serving::ParseModelControlMode(flags.model_control);
  if (!mode.ok()) return Fail(mode.status());

  MetricRegistry registry;
  if (Status s = RegisterProcessMetrics(registry); !s.ok()) return Fail(s);
  auto metrics = InferenceMetrics::Register(registry);
  if (!metrics.ok()) return Fail(metrics.status());

  serving::ModelManager::Options manager_options;
  manager_options.repository = flags.repository;
  manager_options.mode = *mode;
  manager_options.engine = *engine_options;
  manager_options.startup_models = flags.load_models;
  manager_options.drain_timeout =
      std::chrono::milliseconds(static_cast<long>(flags.drain_seconds * 1000));
  const InferenceMetrics m = *metrics;
  manager_options.make_listener = [m](const std::string& model, std::int64_t version) {
    return serving::MakeMetricsListener(m, model, version);
  };
  manager_options.on_load = [m](const std::string& model, bool ok, double seconds) {
    m.RecordModelLoad(model, "", ok,
                      std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::duration<double>(seconds)));
  };
  manager_options.on_unload = [m](const std::string& model) { m.RecordModelUnload(model, ""); };
  auto manager = serving::ModelManager::Create(manager_options);
  if (!manager.ok()) return Fail(manager.status());

  serving::InferenceService::Options service_options;
  service_options.worker_threads = flags.worker_threads;
  service_options.limits.max_body_bytes = static_cast<std::size_t>(flags.max_body_mb * 1024 * 1024);
  serving::InferenceService service(**manager, m, registry, service_options);

  HttpServerOptions http;
  http.address = flags.address;
  http.port = flags.http_port;
  http.threads = flags.http_threads;
  http.max_body_bytes = service_options.limits.max_body_bytes;
  http.read_timeout = std::chrono::seconds(flags.read_timeout_s);
  http.idle_timeout = std::chrono::seconds(flags.idle_timeout_s);
  auto server = HttpServer::Start(http, [&service](HttpRequest r, Responder done) {
    service.Handle(std::move(r), std::move(done));
  });
  if (!server.ok()) return Fail(server.status());
  HttpServerOptions metrics_http = http;
  metrics_http.port = flags.metrics_port;
  metrics_http.threads = 1;
  auto metrics_server = HttpServer::Start(
      metrics_http, [&service](HttpRequest r, Responder done) { service.HandleMetrics(r, done); });
  if (!metrics_server.ok()) return Fail(metrics_server.status());
  const std::string grpc_address =
      (flags.address.find(':') != std::string::npos ? "[" + flags.address + "]" : flags.address) +
      ":" + std::to_string(flags.grpc_port);
  serving::GrpcServerOptions grpc_options;
  grpc_options.max_message_bytes = service_options.limits.max_body_bytes;
  auto grpc_server = serving::GrpcInferenceServer::Start(grpc_address, **manager, m, grpc_options);
  if (!grpc_server.ok()) return Fail(grpc_server.status());

  int ready = 0;
  for (const auto& entry : (*manager)->Index()) {
    if (entry.state == repository::ModelState::kReady) ++ready;
  }
  std::cout << "orbit serve: " << ready << " model version(s) ready from '" << flags.repository
            << "'; HTTP on " << flags.address << ":" << (*server)->port() << ", metrics on "
            << flags.address << ":" << (*metrics_server)->port() << ", gRPC on " << flags.address
            << ":" << (*grpc_server)->port() << " (model control " << flags.model_control << ")"
            << std::endl;

  while (true) {
    timespec wait{};
    const double seconds = *mode == serving::ModelControlMode::kPoll ? flags.poll_seconds : 3600;
    wait.tv_sec = static_cast<time_t>(seconds);
    wait.tv_nsec = static_cast<long>((seconds - static_cast<double>(wait.tv_sec)) * 1e9);
    const int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGTERM || sig == SIGINT) {
      std::cout << "orbit serve: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                << ": draining and stopping" << std::endl;
      break;
    }
    if (*mode == serving::ModelControlMode::kPoll) {
      if (Status s = (*manager)->Poll(); !s.ok()) std::cerr << "warning: " << s.message() << "\n";
    }
  }
  const auto drain = std::chrono::milliseconds(static_cast<long>(flags.drain_seconds * 1000));
  const auto stop_by = std::chrono::steady_clock::now() + drain;
  (*server)->Stop(drain);
  // The same drain window for both protocols, not one after the other.
  (*grpc_server)
      ->Shutdown(std::max(std::chrono::milliseconds(0),
                          std::chrono::duration_cast<std::chrono::milliseconds>(
                              stop_by - std::chrono::steady_clock::now())));
  (*metrics_server)->Stop(std::chrono::milliseconds(0));
  (*manager)->Shutdown();
  std::cout << "orbit serve: stopped" << std::endl;
  return kExitOk;
}

}  // namespace

CommandFn RegisterServe(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  app.add_option("--model-repository", flags->repository,
                 "Directory of models: <model>/orbit.yaml and <model>/<version>/model.onnx")
      ->required();
  app.add_option("--address", flags->address, "Address to listen on")->capture_default_str();
  app.add_option("--http-port", flags->http_port, "KServe v2 HTTP port (0 = any free port)")
      ->capture_default_str();
  app.add_option("--grpc-port", flags->grpc_port, "KServe v2 gRPC port (0 = any free port)")
      ->capture_default_str();
  app.add_option("--metrics-port", flags->metrics_port, "Prometheus metrics port")
      ->capture_default_str();
  app.add_option("--model-control", flags->model_control,
                 "none: load all at start; poll: also pick up changes; explicit: load/unload "
                 "through the repository API")
      ->check(CLI::IsMember({"none", "poll", "explicit"}))
      ->capture_default_str();
  app.add_option("--load-model", flags->load_models,
                 "Explicit mode: models to load at start ('*' = all)");
  app.add_option("--repository-poll-secs", flags->poll_seconds, "Poll interval in poll mode")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--http-threads", flags->http_threads, "HTTP io threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--segment-threads", flags->worker_threads,
                 "Threads for /segment and model load/unload jobs")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-body-mb", flags->max_body_mb, "Largest request body")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--drain-secs", flags->drain_seconds,
                 "On SIGTERM, time to let requests in flight finish")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--read-timeout-secs", flags->read_timeout_s,
                 "A request must arrive completely within this time")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--idle-timeout-secs", flags->idle_timeout_s, "Keep-alive idle timeout")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  AddEngineFlags(app, flags->engine);
  return [flags] { return RunServe(*flags); };
}

}  // namespace orbit::cli
