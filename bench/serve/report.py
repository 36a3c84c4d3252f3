"""Prints the serving benchmark's comparison table from the files bench/serve/run.sh wrote.

  /usr/bin/python3 bench/serve/report.py OUT_DIR [--threads 2] [--max-batch 8] [--preferred '4, 8']
                                                  [--max-queue-delay-us 2000]

OUT_DIR holds raw_t{256,1024}.json (`orbit bench --format json`), res/raw_adj__<system>__<input>__c<N>.json
(the same, measured right before that served point), res/<system>__<input>__c<N>.json
(one wrk run, from post_binary.lua), res/orbit_grpc__*.h2load.txt + .h2log (h2load stdout and
per-request log), res/orbit_http__*.{before,after}.prom (metrics scraped around a run) and
grpc_status.txt.
"""
import argparse
import glob
import json
import math
import os
import re

SYSTEMS = [("orbit_http", "(b) orbit serve, HTTP + batcher"),
           ("orbit_grpc", "(c) orbit serve, gRPC + batcher"),
           ("fastapi", "(d) FastAPI + uvicorn + PyTorch")]
INPUTS = [("t256", "tensor 1x1x256x256", 256), ("t1024", "tensor 1x1x1024x1024", 1024),
          ("seg256", "PNG 256x256 /segment", 256)]


def load_json(path):
    with open(path) as f:
        return json.load(f)


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def parse_h2load(base):
    """h2load stdout + --log-file -> the same fields as post_binary.lua writes."""
    with open(base + ".h2load.txt") as f:
        text = f.read()
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
    req = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                    r"(\d+) errored, (\d+) timeout", text)
    data = re.search(r"traffic: .*?, .*?, .*?\((\d+)\) data", text)
    if not m or not req:
        return None
    seconds = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    durations = []
    try:
        with open(base + ".h2log") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1].startswith("2"):
                    durations.append(int(parts[2]) / 1000.0)
    except FileNotFoundError:
        pass
    durations.sort()
    done = int(req.group(3))
    return {"requests": done, "seconds": seconds, "rps": done / seconds if seconds else 0.0,
            "p50_ms": percentile(durations, 0.5), "p90_ms": percentile(durations, 0.9),
            "p99_ms": percentile(durations, 0.99),
            "mean_ms": sum(durations) / len(durations) if durations else float("nan"),
            "bytes": int(data.group(1)) if data else 0, "err_status": int(req.group(4)),
            "err_read": int(req.group(5)), "err_timeout": int(req.group(6)),
            "err_connect": 0, "err_write": 0}


def load_point(out, system, inp, c, size):
    return load_result(os.path.join(out, "res", f"{system}__{inp}__c{c}"), size)


def load_result(base, size):
    """One load run: base.json (wrk) or base.h2load.txt (+ .h2log); None when absent."""
    if os.path.exists(base + ".json"):
        return load_json(base + ".json")
    if os.path.exists(base + ".h2load.txt"):
        r = parse_h2load(base)
        # gRPC errors travel in trailers with HTTP status 200: an answer without the logits
        # (2 x H x W float32) counts as an error.
        if r and r["requests"] and r["bytes"] / r["requests"] < 8 * size * size:
            r["err_status"] = r["requests"]
        return r
    return None


def errors(r):
    return sum(r.get(k, 0) for k in ("err_connect", "err_read", "err_write", "err_status",
                                     "err_timeout"))


def parse_prom(path):
    values = {}
    if not os.path.exists(path):
        return values
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            m = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)", line)
            if not m:
                continue
            name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
            le = re.search(r'le="([^"]+)"', labels)
            key = (name, le.group(1) if le else None)
            values[key] = values.get(key, 0.0) + value
    return values


def prom_delta(out, name):
    base = os.path.join(out, "res", name)
    before, after = parse_prom(base + ".before.prom"), parse_prom(base + ".after.prom")
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def load_raw(out, inp):
    """raw_<inp>.json, and raw2_<inp>.json (a second run) where present: per batch size and mode,
    the run with more images per second."""
    runs = [load_json(p) for p in (os.path.join(out, f"raw_{inp}.json"),
                                   os.path.join(out, f"raw2_{inp}.json")) if os.path.exists(p)]
    if not runs:
        return None
    merged = runs[0]
    for other in runs[1:]:
        by_batch = {r["batch"]: r for r in other["results"]}
        for r in merged["results"]:
            o = by_batch.get(r["batch"])
            if not o:
                continue
            for mode in ("model_only", "pipeline"):
                if o[mode]["images_per_second"] > r[mode]["images_per_second"]:
                    r[mode] = o[mode]
    return merged


def raw_limit(raw, c, mode="model_only"):
    """Best images/s of the in-process runs with batch <= c: what c clients could at most get."""
    best = None
    for r in raw["results"]:
        if r["batch"] <= max(c, 1) and (best is None or
                                        r[mode]["images_per_second"] >
                                        best[mode]["images_per_second"]):
            best = r
    return best


def fmt(v, digits=1):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--preferred", default="4, 8")
    ap.add_argument("--max-queue-delay-us", type=int, default=2000)
    ap.add_argument("--adaptive", default="false")
    args = ap.parse_args()
    out = args.out
    raw = {}
    for inp, _, _ in INPUTS:
        r = load_raw(out, "t256" if inp == "seg256" else inp)
        if r:
            raw[inp] = r
    concs = sorted({int(m.group(1)) for p in glob.glob(os.path.join(out, "res", "*__c*.*"))
                    if (m := re.search(r"__c(\d+)\.", os.path.basename(p)))})
    grpc_status = ""
    if os.path.exists(os.path.join(out, "grpc_status.txt")):
        with open(os.path.join(out, "grpc_status.txt")) as f:
            grpc_status = f.read().strip()

    print(f"ONNX Runtime / PyTorch intra-op threads: {args.threads}; orbit serve: max_batch_size "
          f"{args.max_batch}, preferred [{args.preferred}], max_queue_delay_us {args.max_queue_delay_us}, instance_count 1, "
          f"adaptive_batch_size {args.adaptive}")
    print(f"gRPC: {grpc_status}")
    print()
    header = ("| input | conc | system | req/s | img/s | p50 ms | p99 ms | % of (a) | x (d) | "
              "errors |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    summary = {}
    adjacent = {}
    for inp, label, size in INPUTS:
        for c in concs:
            rows = {s: load_point(out, s, inp, c, size) for s, _ in SYSTEMS}
            if not any(rows.values()):
                continue
            mode = "pipeline" if inp == "seg256" else "model_only"
            lim = raw_limit(raw[inp], c, mode) if inp in raw else None
            lim_ips = lim[mode]["images_per_second"] if lim else None
            fa = rows.get("fastapi")
            if lim:
                name = ("(a) raw ONNX Runtime in-process" if mode == "model_only"
                        else "orbit pipeline in-process (ref.)")
                print(f"| {label} | {c} | {name}, batch {lim['batch']} | "
                      f"{fmt(lim_ips / lim['batch'], 2)} | {fmt(lim_ips, 2)} | "
                      f"{fmt(lim[mode]['p50_ms'])} | {fmt(lim[mode]['p99_ms'])} | 100 | "
                      f"{fmt(lim_ips / fa['rps'], 2) if fa and fa['rps'] else ''} | |")
            for s, name in SYSTEMS:
                r = rows.get(s)
                if not r:
                    continue
                pct = 100.0 * r["rps"] / lim_ips if lim_ips else None
                adj_path = os.path.join(out, "res", f"raw_adj__{s}__{inp}__c{c}.json")
                if os.path.exists(adj_path):  # the limit measured right before this point
                    adj = raw_limit(load_json(adj_path), c)
                    adj_ips = adj["model_only"]["images_per_second"]
                    pct = 100.0 * r["rps"] / adj_ips
                    adjacent[(s, inp, c)] = (adj_ips, adj["batch"])
                vs_fa = r["rps"] / fa["rps"] if fa and fa["rps"] and s != "fastapi" else None
                done = r["requests"] > 0  # no latency without a completed request
                print(f"| {label} | {c} | {name} | {fmt(r['rps'], 2)} | {fmt(r['rps'], 2)} | "
                      f"{fmt(r['p50_ms']) if done else '-'} | {fmt(r['p99_ms']) if done else '-'} | "
                      f"{fmt(pct, 0)} | "
                      f"{fmt(vs_fa, 2)} | {errors(r)} |")
                summary[(s, inp, c)] = (r, pct, vs_fa)
            if lim:
                summary[("raw", inp, c)] = lim
    print()
    if adjacent:
        print("% of (a) for orbit's tensor rows is against raw ONNX Runtime measured right before "
              "that point (img/s, batch):")
        for (s, inp, c), (ips, b) in sorted(adjacent.items()):
            print(f"  {s} {inp} c={c}: {ips:.2f} (batch {b})")
        print()

    # Dynamic batching at concurrency 16 (256x256 tensors): executions by batch size.
    delta = prom_delta(out, "orbit_http__t256__c16")
    buckets = sorted(((float(le), v) for (n, le), v in delta.items()
                      if n == "orbit_inference_batch_size_bucket" and le not in (None, "+Inf")))
    if buckets:
        print("orbit serve batch sizes under load (HTTP, 256x256, concurrency 16; "
              "orbit_inference_batch_size_bucket, delta over the run):")
        prev_le, prev_n = 0, 0.0
        parts = []
        for le, n in buckets:
            if n - prev_n > 0:
                lo = int(prev_le) + 1
                rng = f"{lo}" if lo == int(le) else f"{lo}-{int(le)}"
                parts.append(f"batch {rng}: {int(n - prev_n)}")
            prev_le, prev_n = le, n
        execs = delta.get(("orbit_inference_batch_size_count", None), 0)
        items = delta.get(("orbit_inference_batch_size_sum", None), 0)
        print("  " + ", ".join(parts) + f"  (executions {int(execs)}, mean batch "
              f"{items / execs if execs else 0:.2f})")
        print()

    # Added latency at concurrency 1, 256x256.
    r1 = summary.get(("orbit_http", "t256", 1))
    raw1 = summary.get(("raw", "t256", 1))
    if r1 and raw1:
        added = r1[0]["p50_ms"] - raw1["model_only"]["p50_ms"]
        d = prom_delta(out, "orbit_http__t256__c1")
        n = d.get(("nv_inference_request_success", None), 0)
        print(f"added p50 latency of (b) over (a), 256x256, concurrency 1: {added:+.1f} ms "
              f"({r1[0]['p50_ms']:.1f} vs {raw1['model_only']['p50_ms']:.1f} ms)")
        if n:
            us = lambda k: d.get((k, None), 0) / n / 1000.0  # noqa: E731
            sched = us("nv_inference_request_duration_us")
            queue = us("nv_inference_queue_duration_us")
            compute = (us("nv_inference_compute_input_duration_us") +
                       us("nv_inference_compute_infer_duration_us") +
                       us("nv_inference_compute_output_duration_us"))
            print(f"  per request (server metrics, means over {int(n)}): queue {queue:.2f} ms "
                  f"(batch window {args.max_queue_delay_us / 1000:.1f} ms), compute {compute:.2f} ms, "
                  f"in scheduler {sched:.2f} ms; client mean {r1[0]['mean_ms']:.2f} ms -> HTTP "
                  f"+ KServe codec + loopback {r1[0]['mean_ms'] - sched:.2f} ms")
        print()

    # The saturation goal from interleaved rounds (raw, served, raw, served, ...).
    sat = {}
    for s, _ in SYSTEMS[:2]:
        for inp, _, size in INPUTS[:2]:
            for c in concs:
                ratios = []
                for k in range(1, 100):
                    base = os.path.join(out, "res", f"sat__{s}__{inp}__c{c}__r{k}")
                    raw_path = os.path.join(out, "res", f"sat__raw__{s}__{inp}__c{c}__r{k}.json")
                    served = load_result(base, size)
                    if not served or not os.path.exists(raw_path):
                        break
                    raw_ips = load_json(raw_path)["results"][0]["model_only"]["images_per_second"]
                    if errors(served) == 0 and raw_ips > 0:
                        ratios.append((100.0 * served["rps"] / raw_ips, served["rps"], raw_ips))
                if ratios:
                    sat[(s, inp)] = (c, ratios)
    if sat:
        print("saturation, interleaved rounds (served img/s / raw batch-1 img/s measured just before):")
        for (s, inp), (c, ratios) in sorted(sat.items()):
            rounds = ", ".join(f"{p:.0f}% ({r:.1f}/{a:.1f})" for p, r, a in ratios)
            med = sorted(p for p, _, _ in ratios)[len(ratios) // 2]
            print(f"  {s} {inp} c={c}: median {med:.0f} % over {len(ratios)} rounds: {rounds}")
        print()

    # Goals.
    print("goals:")
    for s, name in SYSTEMS[:2]:
        for inp in ("t256", "t1024"):
            if (s, inp) in sat:
                c, ratios = sat[(s, inp)]
                med = sorted(p for p, _, _ in ratios)[len(ratios) // 2]
                print(f"  {name} >= 90 % of (a) at saturation, {inp} c={c}: median {med:.0f} % "
                      f"of {len(ratios)} interleaved rounds -> {'MET' if med >= 90 else 'NOT MET'}")
                continue
            cs = [c for c in concs if (s, inp, c) in summary]
            if not cs:
                if s == "orbit_grpc" and inp == "t256":
                    print(f"  {name} >= 90 % of (a) at saturation: not measured ({grpc_status})")
                continue
            c = max(cs)
            pct = summary[(s, inp, c)][1]
            best = max(summary[(s, inp, k)][1] or 0 for k in cs)
            print(f"  {name} >= 90 % of (a) at saturation, {inp} c={c}: {pct:.0f} % -> "
                  f"{'MET' if pct >= 90 else 'NOT MET'} (best over concurrencies {best:.0f} %)")
    for s, name in SYSTEMS[:2]:
        for inp in ("t256", "t1024", "seg256"):
            cs = [c for c in concs if (s, inp, c) in summary and summary[(s, inp, c)][2]]
            if not cs:
                continue
            c = max(cs)
            x = summary[(s, inp, c)][2]
            print(f"  {name} >= 3x (d), {inp} c={c}: {x:.2f}x -> {'MET' if x >= 3 else 'NOT MET'}")


if __name__ == "__main__":
    main()
