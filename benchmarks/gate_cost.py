"""What the quality gate costs per image (issue 13 target: the learned gate adds <= 1 ms).

    python -m edge_screen.benchmarks.gate_cost --model CKPT --gate gate.pt --out runs/bench/gate_cost.json

Cells, each warmed up, batch 1, ``--threads`` intra-op threads, p50 / p90 of ``--runs`` calls:

* ``heads_only``: the gate heads alone (pooled features ``[1, C]`` -> both gate outputs), as ONNX in
  ONNX Runtime and in OpenVINO (f32): exactly the compute the gate adds to the graph;
* ``full_graph``: the exported FP32 model with and without the gate, interleaved in rounds (A, B,
  A, B, ...) so that a busy machine's drift falls on both; the difference includes fetching the two
  extra outputs;
* ``handset``: the hand-set colour check (:func:`edge_screen.quality.colour_measures`) on a
  decoded dev photo, and the learned gate's decision in Python (:meth:`LearnedGate.assess`).

The machine (CPU model, flags, threads, library versions) is recorded with the result.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edge_screen.benchmarks.harness import summarize, time_calls
from edge_screen.benchmarks.machine import machine_record


def _ort(path: Path, threads: int) -> Callable[[np.ndarray], Any]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    inp = sess.get_inputs()[0].name
    return lambda x: sess.run(names, {inp: x})


def _ov(path: Path, threads: int) -> Callable[[np.ndarray], Any]:
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                           "INFERENCE_NUM_THREADS": threads})
    req = compiled.create_infer_request()
    return lambda x: req.infer({0: x})


def _interleaved(fns: dict[str, Callable[[], Any]], *, runs: int, rounds: int, warmup: int) -> dict[str, dict]:
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for f in fns.values():
        time_calls(f, runs=1, warmup=warmup)
    for _ in range(rounds):
        for k, f in fns.items():
            samples[k] += time_calls(f, runs=max(1, runs // rounds), warmup=1)
    return {k: summarize(v) for k, v in samples.items()}


def run(model_path: str, gate_path: str, *, threads: int = 2, runs: int = 60, rounds: int = 6,
        warmup: int = 10, photo: str | None = None) -> dict[str, Any]:
    import torch

    from edge_screen.gate import LearnedGate
    from edge_screen.quantize.cam import with_heatmap
    from edge_screen.quantize.gate_model import load_gate
    from edge_screen.quantize.models import create_model
    from edge_screen.quantize.onnx_export import torch_to_onnx

    torch.set_num_threads(threads)
    model = create_model(None, checkpoint=model_path).eval()
    heads, obj = load_gate(gate_path, model=model)
    size = int(model.spec.input_size)
    result: dict[str, Any] = {"model": model_path, "gate": gate_path, "input_size": size, "threads": threads,
                              "machine": machine_record()}
    with tempfile.TemporaryDirectory(prefix="edge-screen-gatecost-") as tmp:
        tmp_p = Path(tmp)
        heads_onnx = tmp_p / "heads.onnx"
        pooled = torch.zeros(2, heads.num_features)
        prog = torch.onnx.export(heads, (pooled,), dynamo=True, opset_version=18, input_names=["pooled"],
                                 output_names=["gate_probabilities", "ood_distance"],
                                 dynamic_shapes={"pooled": {0: torch.export.Dim("batch", min=1, max=64)}})
        prog.save(str(heads_onnx), external_data=False)
        x1 = np.random.default_rng(0).random((1, heads.num_features)).astype(np.float32)
        ort_heads, ov_heads = _ort(heads_onnx, threads), _ov(heads_onnx, threads)
        result["heads_only"] = {
            "onnxruntime": summarize(time_calls(lambda: ort_heads(x1), runs=runs * 5, warmup=warmup)),
            "openvino": summarize(time_calls(lambda: ov_heads(x1), runs=runs * 5, warmup=warmup)),
        }
        plain = torch_to_onnx(with_heatmap(model), tmp_p / "plain.onnx", input_size=size, check=False)
        gated = torch_to_onnx(with_heatmap(model, gate=heads), tmp_p / "gated.onnx", input_size=size, check=False)
        x = np.random.default_rng(1).standard_normal((1, 3, size, size)).astype(np.float32)
        full: dict[str, Any] = {}
        for backend, load in (("onnxruntime", _ort), ("openvino", _ov)):
            a, b = load(plain, threads), load(gated, threads)
            cells = _interleaved({"without_gate": lambda a=a: a(x), "with_gate": lambda b=b: b(x)}, runs=runs,
                                 rounds=rounds, warmup=warmup)
            cells["added_p50_ms"] = round(cells["with_gate"]["p50"] - cells["without_gate"]["p50"], 4)
            full[backend] = cells
        result["full_graph"] = full
    gate = LearnedGate.from_manifest(obj["gate"])
    p = np.full(len(gate.classes), 1.0 / len(gate.classes), np.float32)
    result["handset"] = {"learned_gate_decision_python": summarize(time_calls(lambda: gate.assess(p, 1.0),
                                                                              runs=runs * 5, warmup=warmup))}
    if photo:
        from edge_screen.imageio import load_image
        from edge_screen.preprocess import detect_fov
        from edge_screen.quality import colour_measures

        rgb = load_image(photo, target_size=size).rgb
        fov = detect_fov(rgb)
        result["handset"]["colour_check"] = summarize(time_calls(lambda: colour_measures(rgb, fov), runs=runs,
                                                                 warmup=warmup))
        result["handset"]["photo"] = photo
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_screen.benchmarks.gate_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="training checkpoint the gate was trained on")
    p.add_argument("--gate", required=True, help="gate.pt from edge-screen train-gate")
    p.add_argument("--photo", default=None, help="a fundus photo for the hand-set colour check timing")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=60)
    p.add_argument("--out", required=True, help="JSON result")
    a = p.parse_args(argv)
    res = run(a.model, a.gate, threads=a.threads, runs=a.runs, photo=a.photo)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2), encoding="utf-8")
    h, f = res["heads_only"], res["full_graph"]
    print(f"gate heads alone, p50: ORT {h['onnxruntime']['p50']:.3f} ms, OpenVINO {h['openvino']['p50']:.3f} ms")
    for backend, cells in f.items():
        print(f"{backend}: without gate {cells['without_gate']['p50']:.2f} ms, with {cells['with_gate']['p50']:.2f} ms "
              f"(+{cells['added_p50_ms']:.3f} ms p50)")
    print(f"written: {a.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
