// Public header of the telemetry library: the metric registry, the Prometheus text renderer,
// process metrics and the inference-serving metrics (Triton-compatible names).
#pragma once

#include "telemetry/inference_metrics.h"
#include "telemetry/metric.h"
#include "telemetry/metric_registry.h"
#include "telemetry/process_metrics.h"
#include "telemetry/prometheus_text.h"
