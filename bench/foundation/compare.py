"""Prints one comparison table from `orbit bench --format json` and python_pipeline.py output."""
import json
import sys


def rows(orbit, python):
    for o, p in zip(orbit["results"], python["results"]):
        b = o["batch"]
        yield b, "raw ONNX Runtime, C++ (limit)", None, o["model_only"], None
        yield b, "Orbit pipeline, C++", o["stage_mean_ms"], o["pipeline"], o
        yield b, "Python: PyTorch + numpy/scipy/skimage", p["stage_mean_ms"], p["pipeline"], p


def main():
    orbit = json.load(open(sys.argv[1]))
    python = json.load(open(sys.argv[2]))
    print(f"model {orbit['model']}, image {orbit['image_size']} ({orbit['image']}), "
          f"threads {orbit['intra_op_threads']}, ONNX Runtime providers {orbit['providers']}, "
          f"baseline {python['runtime']} with {python['threads']} threads")
    head = (f"{'batch':>5}  {'implementation':<40}{'decode':>8}{'pre':>8}{'model':>9}{'post':>8}"
            f"{'p50':>9}{'p99':>9}{'img/s':>8}{'pre+post':>10}{'objects':>9}")
    print(head)
    print(f"{'':>5}  {'':<40}{'ms':>8}{'ms':>8}{'ms':>9}{'ms':>8}{'ms':>9}{'ms':>9}{'':>8}"
          f"{'/model':>10}{'/image':>9}")
    for b, name, st, s, full in rows(orbit, python):
        if st is None:
            print(f"{b:>5}  {name:<40}{'':>8}{'':>8}{s['mean_ms']:>9.1f}{'':>8}{s['p50_ms']:>9.1f}"
                  f"{s['p99_ms']:>9.1f}{s['images_per_second']:>8.2f}")
            continue
        print(f"{b:>5}  {name:<40}{st['decode']:>8.1f}{st['preprocess']:>8.1f}{st['model']:>9.1f}"
              f"{st['postprocess']:>8.1f}{s['p50_ms']:>9.1f}{s['p99_ms']:>9.1f}"
              f"{s['images_per_second']:>8.2f}{100 * full['pre_post_over_model']:>9.1f}%"
              f"{full['objects_per_image']:>9.1f}")
    print()
    for o, p in zip(orbit["results"], python["results"]):
        b = o["batch"]
        share = 100 * o["pre_post_over_model"]
        verdict = "met" if share <= 15 else "NOT met"
        raw = o["model_only"]["images_per_second"]
        print(f"batch {b}: Orbit pre+post = {share:.1f}% of model time (goal <= 15%: {verdict}); "
              f"Orbit pipeline = {100 * o['pipeline']['images_per_second'] / raw:.0f}% of raw "
              f"ONNX Runtime throughput (model alone, no decode/pre/post); "
              f"{o['pipeline']['images_per_second'] / p['pipeline']['images_per_second']:.1f}x the "
              f"Python pipeline; Python post-processing takes "
              f"{p['stage_mean_ms']['postprocess'] / max(o['stage_mean_ms']['postprocess'], 1e-9):.0f}x "
              f"Orbit's")


if __name__ == "__main__":
    main()
