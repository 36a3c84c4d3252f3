// GrpcInferenceServer: the KServe v2 / Open Inference Protocol over gRPC
// (inference.GRPCInferenceService: ServerLive, ServerReady, ModelReady, ServerMetadata,
// ModelMetadata, ModelInfer) on top of a ModelManager, beside the HTTP front end. Like
// InferenceService it only translates: requests become scheduler::InferenceRequests for the
// model version's ModelScheduler, Status codes become gRPC codes through GrpcCodeFor.
//
// Threading model (gRPC's asynchronous API)
//  - `completion_queue_threads` completion queues, each polled by exactly one thread. Every RPC
//    in progress is one heap "call" object (a small state machine: waiting for a call → running
//    → finishing) whose address is its completion-queue tag; each queue keeps one call of each
//    method armed and re-arms when one starts.
//  - Handlers run on the queue thread and never block. ModelInfer converts the request and
//    Submits it to the scheduler; the scheduler's callback (on a scheduler worker, or inline when
//    Submit rejects) fills the response and calls Finish from that thread. The call object is
//    deleted by its own queue thread when Finish's tag comes back, so a handler can never race
//    with the deletion of its call (one thread per queue).
//  - Shutdown and the destructor may be called from any thread except a queue thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "serving/model_manager.h"
#include "telemetry/inference_metrics.h"

namespace orbit::serving {

struct GrpcServerOptions {
  std::string server_name = "orbit";
  std::string server_version = "0.1.0";
  // Reported by ServerMetadata: the extensions of the server as a whole (as HTTP's GET /v2).
  std::vector<std::string> extensions = {"binary_tensor_data", "model_repository", "segment"};
  // Completion queues, one polling thread each.
  int completion_queue_threads = 2;
  // Largest request message; bigger requests fail with RESOURCE_EXHAUSTED in gRPC itself, before
  // any handler runs. Responses are not limited here (a model's outputs may well be larger than
  // its inputs, e.g. cellseg's 2-channel logits): clients set their own receive limit.
  std::size_t max_message_bytes = std::size_t{64} << 20;
};

class GrpcInferenceServer {
 public:
  // Listens on `address` ("host:port"; port 0 = any free port, see port()) and starts the queue
  // threads. Unavailable naming the address when it cannot listen (port taken: SO_REUSEPORT is
  // off, so a second server on the same port fails instead of sharing it). `models` must
  // outlive the server; `metrics` is kept for gRPC request counts (none are recorded yet: model
  // metrics come from the schedulers' listeners, as for HTTP).
  static Result<std::unique_ptr<GrpcInferenceServer>> Start(const std::string& address,
                                                            ModelManager& models,
                                                            InferenceMetrics metrics,
                                                            GrpcServerOptions options = {});
  GrpcInferenceServer(const GrpcInferenceServer&) = delete;
  GrpcInferenceServer& operator=(const GrpcInferenceServer&) = delete;
  // Shutdown(0).
  ~GrpcInferenceServer();

  // The bound port (the chosen one when started with port 0).
  int port() const;

  // Stops accepting calls (new ones fail with UNAVAILABLE), gives calls in progress `drain` to
  // finish, then cancels the rest on the wire (grpc::Server::Shutdown(deadline)). Requests that
  // already reached a scheduler still run to completion there (a scheduler cannot cancel them);
  // Shutdown waits for their callbacks, then shuts the completion queues down, drains them and
  // joins the threads. Idempotent.
  void Shutdown(std::chrono::milliseconds drain);

 private:
  struct Impl;
  explicit GrpcInferenceServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orbit::serving
