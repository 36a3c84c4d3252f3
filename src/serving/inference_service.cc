#include "serving/inference_service.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <future>
#include <opencv2/core.hpp>

#include "serving/status_mapping.h"
#include "telemetry/prometheus_text.h"
#include "vision/image_io.h"
#include "vision/segmentation_json.h"

namespace orbit::serving {
namespace {

using nlohmann::json;

class MetricsListener final : public scheduler::SchedulerListener {
 public:
  explicit MetricsListener(ModelInferenceMetrics metrics) : metrics_(metrics) {}
  void OnRequestDone(const scheduler::RequestTiming& timing, const Status& status) override {
    if (!status.ok()) {
      metrics_.RecordFailure(FailureReasonFromStatus(status));
      return;
    }
    RequestTimings timings;
    timings.request = timing.total;
    timings.queue = timing.queue;
    timings.compute.infer = timing.compute;
    metrics_.RecordSuccess(timings);
  }
  void OnBatchExecuted(int batch_size, std::chrono::nanoseconds compute) override {
    ComputeTimings timings;
    timings.infer = compute;
    metrics_.RecordExecution(batch_size, timings);
  }

 private:
  ModelInferenceMetrics metrics_;
};

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start < path.size()) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string_view::npos ? path.size() : slash;
    if (end > start) parts.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

HttpResponse JsonResponse(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}

HttpResponse ErrorResponse(const Status& status, bool parse_failure = false) {
  HttpResponse r;
  r.status =
      parse_failure ? HttpStatusForParseFailure(status.code()) : HttpStatusFor(status.code());
  r.body = ErrorBodyJson(status);
  if (r.status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

Result<std::int64_t> ParseVersion(const std::string& text) {
  std::int64_t v = 0;
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (err != std::errc() || end != text.data() + text.size() || v < 1) {
    return InvalidArgumentError("version '" + text + "' is not a positive integer");
  }
  return v;
}

std::vector<TensorMetadata> ToMetadata(const std::vector<runtime::TensorInfo>& infos) {
  std::vector<TensorMetadata> out;
  for (const auto& info : infos) out.push_back({info.name, info.dtype, info.shape});
  return out;
}

// Runs one request through a version's scheduler and waits: for /segment's tiles, on a pool
// thread, never an io thread.
Result<Tensor> InferBlocking(LoadedVersion& version, Tensor input) {
  std::promise<Result<std::vector<Tensor>>> promise;
  auto future = promise.get_future();
  scheduler::InferenceRequest request;
  request.inputs.push_back(std::move(input));
  version.scheduler->Submit(std::move(request), [&promise](Result<std::vector<Tensor>> r) {
    promise.set_value(std::move(r));
  });
  ORBIT_ASSIGN_OR_RETURN(std::vector<Tensor> outputs, future.get());
  if (outputs.empty()) return InternalError("model returned no outputs");
  return std::move(outputs.front());
}

}  // namespace

std::unique_ptr<scheduler::SchedulerListener> MakeMetricsListener(InferenceMetrics metrics,
                                                                  const std::string& model,
                                                                  std::int64_t version) {
  return std::make_unique<MetricsListener>(metrics.ForModel(model, std::to_string(version)));
}

Status CheckSpatialMultiple(const LoadedVersion& version, const std::vector<Tensor>& inputs) {
  const auto& pre = version.pipeline->recipe().preprocess;
  const std::int64_t m = pre.pad_to_multiple;
  if (m <= 1 || inputs.empty() || inputs.front().shape().size() != 4) return Status::Ok();
  const Shape& shape = inputs.front().shape();
  const std::int64_t h = pre.channels_first ? shape[2] : shape[1];
  const std::int64_t w = pre.channels_first ? shape[3] : shape[2];
  if (h % m == 0 && w % m == 0) return Status::Ok();
  return InvalidArgumentError("model '" + version.model + "': input '" +
                              version.engine->inputs().front().name + "' is " + std::to_string(h) +
                              " x " + std::to_string(w) +
                              " (height x width); both must be multiples of " + std::to_string(m) +
                              " (orbit.yaml preprocess.pad_to_multiple): pad the image, or use "
                              "/segment, which pads for you");
}

InferenceService::InferenceService(ModelManager& models, InferenceMetrics metrics,
                                   MetricRegistry& registry, Options options)
    : models_(models),
      metrics_(metrics),
      registry_(registry),
      options_(std::move(options)),
      pool_(options_.worker_threads, options_.max_pending_jobs) {}

void InferenceService::HandleMetrics(const HttpRequest& request, const Responder& respond) {
  if (request.method != "GET") {
    respond(ErrorResponse(InvalidArgumentError("use GET for /metrics")));
    return;
  }
  HttpResponse r;
  r.body = RenderPrometheusText(registry_);
  r.content_type = std::string(kPrometheusTextContentType);
  respond(std::move(r));
}

void InferenceService::Handle(HttpRequest request, Responder respond_raw) {
  const std::vector<std::string> p = SplitPath(request.path);
  const std::string method = request.method;
  std::string route = "other";
  // Counts every answer by route pattern (never by raw path: model names are unbounded).
  auto respond = [this, respond_raw, method, &route](HttpResponse r) {
    metrics_.RecordHttpRequest(method, route, r.status);
    respond_raw(std::move(r));
  };
  auto respond_copy = [this, respond_raw, method](const std::string& route_name) {
    return Responder([this, respond_raw, method, route_name](HttpResponse r) {
      metrics_.RecordHttpRequest(method, route_name, r.status);
      respond_raw(std::move(r));
    });
  };
  auto wrong_method = [&](const char* want) {
    respond(
        ErrorResponse(InvalidArgumentError("use " + std::string(want) + " for " + request.path)));
  };

  if (p.size() == 1 && p[0] == "metrics") {
    route = "/metrics";
    HandleMetrics(request, respond);
    return;
  }
  if (p.empty() || p[0] != "v2") {
    respond(ErrorResponse(NotFoundError("no route for " + request.path)));
    return;
  }
  if (p.size() == 1) {
    route = "/v2";
    if (method != "GET") return wrong_method("GET");
    const std::vector<std::string> extensions = {"binary_tensor_data", "model_repository",
                                                 "segment"};
    respond(JsonResponse(
        200, ServerMetadataJson(options_.server_name, options_.server_version, extensions)));
    return;
  }
  if (p.size() == 3 && p[1] == "health" && (p[2] == "live" || p[2] == "ready")) {
    route = "/v2/health/" + p[2];
    if (method != "GET") return wrong_method("GET");
    const bool ok = p[2] == "live" || models_.IsReady();
    HttpResponse r;
    r.status = ok ? 200 : 503;
    respond(std::move(r));
    return;
  }
  if (p.size() >= 3 && p[1] == "repository") {
    if (p.size() == 3 && p[2] == "index") {
      route = "/v2/repository/index";
      if (method != "POST") return wrong_method("POST");
      json index = json::array();
      for (const auto& entry : models_.Index()) {
        json item = {{"name", entry.model},
                     {"state", std::string(repository::ModelStateName(entry.state))}};
        if (entry.version > 0) item["version"] = std::to_string(entry.version);
        if (!entry.reason.empty()) item["reason"] = entry.reason;
        index.push_back(std::move(item));
      }
      respond(JsonResponse(200, index));
      return;
    }
    if (p.size() == 5 && p[2] == "models" && (p[4] == "load" || p[4] == "unload")) {
      route = "/v2/repository/models/{model}/" + p[4];
      if (method != "POST") return wrong_method("POST");
      if (models_.options().mode != ModelControlMode::kExplicit) {
        respond(ErrorResponse(FailedPreconditionError("explicit model " + p[4] +
                                                      " is not allowed: start orbit serve with "
                                                      "--model-control explicit")));
        return;
      }
      const std::string model = p[3];
      const bool load = p[4] == "load";
      Responder done = respond_copy(route);
      if (!pool_.TrySubmit([this, model, load, done] {
            const Status s = load ? models_.LoadModel(model) : models_.UnloadModel(model);
            done(s.ok() ? JsonResponse(200, json::object()) : ErrorResponse(s));
          })) {
        respond(ErrorResponse(UnavailableError("server is busy: too many pending jobs")));
      }
      return;
    }
  }
  if (p.size() >= 3 && p[1] == "models") {
    const std::string model = p[2];
    std::optional<std::int64_t> version;
    std::size_t rest = 3;
    std::string version_part;
    if (p.size() >= 5 && p[3] == "versions") {
      auto v = ParseVersion(p[4]);
      if (!v.ok()) {
        respond(ErrorResponse(v.status()));
        return;
      }
      version = *v;
      rest = 5;
      version_part = "/versions/{version}";
    }
    const std::string action = p.size() == rest ? "" : (p.size() == rest + 1 ? p[rest] : "?");
    route = "/v2/models/{model}" + version_part + (action.empty() ? "" : "/" + action);
    if (action.empty()) {
      if (method != "GET") return wrong_method("GET");
      auto found = models_.Find(model, version);
      if (!found.ok()) {
        respond(ErrorResponse(found.status()));
        return;
      }
      const auto& v = **found;
      std::vector<std::string> versions;
      for (const auto& entry : models_.Index()) {
        if (entry.model == model && entry.version > 0) {
          versions.push_back(std::to_string(entry.version));
        }
      }
      if (version) versions = {std::to_string(*version)};
      const auto inputs = ToMetadata(v.engine->inputs());
      const auto outputs = ToMetadata(v.engine->outputs());
      respond(JsonResponse(
          200, ModelMetadataJson(model, versions, kOnnxRuntimePlatform, inputs, outputs)));
      return;
    }
    if (action == "ready") {
      if (method != "GET") return wrong_method("GET");
      auto found = models_.Find(model, version);
      HttpResponse r;
      r.status = found.ok() ? 200 : (found.status().code() == StatusCode::kNotFound ? 404 : 503);
      if (!found.ok()) r.body = ErrorBodyJson(found.status());
      respond(std::move(r));
      return;
    }
    if (action == "infer") {
      if (method != "POST") return wrong_method("POST");
      Infer(std::move(request), model, version, respond_copy(route));
      return;
    }
    if (action == "segment") {
      if (method != "POST") return wrong_method("POST");
      Segment(std::move(request), model, version, respond_copy(route));
      return;
    }
  }
  respond(ErrorResponse(NotFoundError("no route for " + request.method + " " + request.path)));
}

void InferenceService::Infer(HttpRequest request, const std::string& model,
                             std::optional<std::int64_t> version, Responder respond) {
  auto found = models_.Find(model, version);
  if (!found.ok()) return respond(ErrorResponse(found.status()));
  std::shared_ptr<LoadedVersion> loaded = std::move(*found);

  std::optional<std::size_t> header_length;
  if (auto h = request.Header("inference-header-content-length")) {
    std::size_t n = 0;
    const auto [end, err] = std::from_chars(h->data(), h->data() + h->size(), n);
    if (err != std::errc() || end != h->data() + h->size()) {
      return respond(ErrorResponse(InvalidArgumentError(
          "Inference-Header-Content-Length '" + std::string(*h) + "' is not a byte count")));
    }
    header_length = n;
  }
  auto parsed = ParseInferRequest(request.body, header_length, options_.limits);
  if (!parsed.ok()) return respond(ErrorResponse(parsed.status(), /*parse_failure=*/true));

  // Inputs in the engine's order, by name.
  const auto& engine_inputs = loaded->engine->inputs();
  scheduler::InferenceRequest work;
  for (const auto& info : engine_inputs) {
    auto it = std::find_if(parsed->inputs.begin(), parsed->inputs.end(),
                           [&](const InferInput& in) { return in.name == info.name; });
    if (it == parsed->inputs.end()) {
      return respond(ErrorResponse(
          InvalidArgumentError("model '" + model + "': input '" + info.name + "' is missing")));
    }
    work.inputs.push_back(std::move(it->tensor));
  }
  if (parsed->inputs.size() != engine_inputs.size()) {
    for (const auto& in : parsed->inputs) {
      const bool known = std::any_of(engine_inputs.begin(), engine_inputs.end(),
                                     [&](const auto& info) { return info.name == in.name; });
      if (!known) {
        return respond(ErrorResponse(
            InvalidArgumentError("model '" + model + "' has no input '" + in.name + "'")));
      }
    }
  }
  // Datatype and rank first (the scheduler checks them again at Submit), then the size rule.
  if (Status s = loaded->engine->ValidateInputs(work.inputs); !s.ok()) {
    return respond(ErrorResponse(s));
  }
  if (Status s = CheckSpatialMultiple(*loaded, work.inputs); !s.ok()) {
    return respond(ErrorResponse(s));
  }
  // Outputs to return, with their binary flags, checked before running anything.
  const auto& engine_outputs = loaded->engine->outputs();
  std::vector<std::pair<std::size_t, bool>> selected;  // (engine output index, binary)
  if (parsed->outputs.empty()) {
    for (std::size_t i = 0; i < engine_outputs.size(); ++i) {
      selected.emplace_back(i, parsed->binary_data_output_default);
    }
  }
  for (const auto& want : parsed->outputs) {
    auto it = std::find_if(engine_outputs.begin(), engine_outputs.end(),
                           [&](const auto& info) { return info.name == want.name; });
    if (it == engine_outputs.end()) {
      return respond(ErrorResponse(
          InvalidArgumentError("model '" + model + "' has no output '" + want.name + "'")));
    }
    selected.emplace_back(static_cast<std::size_t>(it - engine_outputs.begin()), want.binary_data);
  }

  InferResponse response;
  response.model_name = model;
  response.model_version = std::to_string(loaded->version);
  response.id = parsed->id;
  auto shared_response = std::make_shared<InferResponse>(std::move(response));
  loaded->scheduler->Submit(std::move(work), [respond, shared_response, selected,
                                              engine_outputs](Result<std::vector<Tensor>> result) {
    if (!result.ok()) return respond(ErrorResponse(result.status()));
    for (const auto& [index, binary] : selected) {
      shared_response->outputs.push_back(
          {engine_outputs[index].name, std::move((*result)[index]), binary});
    }
    auto encoded = EncodeInferResponse(*shared_response);
    if (!encoded.ok()) return respond(ErrorResponse(encoded.status()));
    HttpResponse r;
    r.body = std::move(encoded->body);
    r.content_type = encoded->content_type;
    if (encoded->json_header_length) {
      r.headers.emplace_back("Inference-Header-Content-Length",
                             std::to_string(*encoded->json_header_length));
    }
    respond(std::move(r));
  });
}

void InferenceService::Segment(HttpRequest request, const std::string& model,
                               std::optional<std::int64_t> version, Responder respond) {
  auto found = models_.Find(model, version);
  if (!found.ok()) return respond(ErrorResponse(found.status()));
  const auto accept = request.Header("accept");
  const auto mask_param = request.QueryParam("mask");
  const bool want_png = (mask_param && *mask_param == "png") ||
                        (accept && accept->find("image/png") != std::string_view::npos);
  if (mask_param && *mask_param != "png") {
    return respond(ErrorResponse(
        InvalidArgumentError("mask='" + *mask_param + "' is not supported (use mask=png)")));
  }
  auto job = [loaded = std::move(*found), body = std::move(request.body), want_png, respond] {
    auto image =
        vision::DecodeImage(std::as_bytes(std::span(body.data(), body.size())), "request body");
    if (!image.ok()) return respond(ErrorResponse(image.status()));
    LoadedVersion& v = *loaded;
    auto seg =
        v.pipeline->Run(*image, [&v](Tensor input) { return InferBlocking(v, std::move(input)); });
    if (!seg.ok()) return respond(ErrorResponse(seg.status()));
    HttpResponse r;
    if (want_png) {
      auto labels16 = vision::LabelsTo16Bit(seg->labels);
      if (!labels16.ok()) return respond(ErrorResponse(labels16.status()));
      auto png = vision::EncodePng(*labels16);
      if (!png.ok()) return respond(ErrorResponse(png.status()));
      r.body = std::move(*png);
      r.content_type = "image/png";
      r.headers.emplace_back("X-Orbit-Object-Count", std::to_string(seg->summary.object_count));
    } else {
      json out = vision::SegmentationToJson(*seg);
      out["model_name"] = v.model;
      out["model_version"] = std::to_string(v.version);
      r.body = out.dump();
    }
    respond(std::move(r));
  };
  if (!pool_.TrySubmit(std::move(job))) {
    respond(ErrorResponse(UnavailableError("server is busy: too many segment requests pending")));
  }
}

}  // namespace orbit::serving
