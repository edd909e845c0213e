"""The floor of the model: its MACs, where ONNX Runtime spends the INT8 time, and what this CPU's INT8
kernels can do at best, all measured in one process.

``python -m edge_screen.benchmarks.floor --bundle edge_screen/models/default --threads 2 --out floor.json``

* MACs per convolution kind (dense 3x3 / pointwise 1x1 / depthwise) and the head, from the FP32 ONNX
  graph with inferred shapes at the bundle's input size.
* ONNX Runtime's own profile of the INT8 model (``enable_profiling``), time per operator type.
* The practical INT8 peak of this CPU under ONNX Runtime: a QDQ-quantised 1x1 convolution big enough
  to be compute-bound (512 -> 512 channels on 48 x 48, 604 M MACs), timed like the model, and the
  same for a depthwise 3x3 convolution (memory- rather than compute-bound) and FP32.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np


def conv_macs(model_path: Path, size: int) -> dict:
    """MACs of every Conv / Gemm / MatMul at input ``size`` (batch 1), grouped by kind."""
    import onnx
    from onnx import shape_inference

    m = onnx.load(str(model_path))
    inp = m.graph.input[0]
    dims = inp.type.tensor_type.shape.dim
    for d, v in zip(dims, (1, 3, size, size)):
        d.ClearField("dim_param")
        d.dim_value = v
    del m.graph.value_info[:]  # shapes the exporter stored for its own input size
    for o in m.graph.output:
        for d in o.type.tensor_type.shape.dim:
            d.ClearField("dim_value")
            d.dim_param = "?"
    m = shape_inference.infer_shapes(m)
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.output) + list(m.graph.input):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = [d.dim_value for d in t.shape.dim]
    inits = {i.name: list(i.dims) for i in m.graph.initializer}
    out: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for node in m.graph.node:
        if node.op_type == "Conv":
            w = inits.get(node.input[1])
            y = shapes.get(node.output[0])
            if not w or not y:
                continue
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            co, ci_g, kh, kw = w
            macs = y[2] * y[3] * co * ci_g * kh * kw
            kind = "depthwise" if group > 1 and ci_g == 1 else ("pointwise 1x1" if kh * kw == 1 else f"dense {kh}x{kw}")
            out[kind] += macs
            count[kind] += 1
        elif node.op_type in ("Gemm", "MatMul"):
            w = inits.get(node.input[1])
            if w and len(w) == 2:
                out["head (Gemm/MatMul)"] += w[0] * w[1]
                count["head (Gemm/MatMul)"] += 1
    total = sum(out.values())
    return {"input_size": size, "total_macs": int(total),
            "by_kind": {k: {"macs": int(v), "share": round(v / total, 4), "ops": count[k]} for k, v in
                        sorted(out.items(), key=lambda kv: -kv[1])}}


def _session(path: Path, threads: int, *, profile: bool = False, prefix: str | None = None):  # noqa: ANN202
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as the project's runtime
    if profile:
        opts.enable_profiling = True
        opts.profile_file_prefix = prefix or "ort_profile"
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _time(fn, runs: int, warmup: int = 5) -> float:  # noqa: ANN001
    for _ in range(warmup):
        fn()
    s = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        s.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(s))


def ort_profile(model_path: Path, size: int, threads: int, runs: int, work: Path) -> dict:
    """Median wall time and ONNX Runtime's per-operator-type time (summed over nodes, per run)."""
    sess = _session(model_path, threads, profile=True, prefix=str(work / "prof"))
    x = np.random.default_rng(0).standard_normal((1, 3, size, size), dtype=np.float32)
    feed = {sess.get_inputs()[0].name: x}
    p50 = _time(lambda: sess.run(None, feed), runs)
    trace = json.loads(Path(sess.end_profiling()).read_text())
    per_type: dict[str, float] = defaultdict(float)
    n_runs = 0
    for ev in trace:
        if ev.get("cat") == "Session" and ev.get("name") == "model_run":
            n_runs += 1
        if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time"):
            per_type[ev.get("args", {}).get("op_name", "?")] += ev["dur"] / 1e3
    n_runs = max(n_runs, 1)
    total = sum(per_type.values()) / n_runs
    return {"p50_ms": round(p50, 3), "kernel_ms_per_run": round(total, 3),
            "by_op_type_ms": {k: round(v / n_runs, 3) for k, v in sorted(per_type.items(), key=lambda kv: -kv[1])}}


def _conv_model(path: Path, *, cin: int, cout: int, hw: int, k: int, group: int) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.standard_normal((cout, cin // group, k, k)).astype(np.float32) * 0.05
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[k, k], pads=[k // 2] * 4, group=group)
    g = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, hw, hw])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, hw, hw])],
                          [numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def _quantize(fp32: Path, out: Path, *, cin: int, hw: int) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(1)
            self.data = iter([{"x": rng.standard_normal((1, cin, hw, hw), dtype=np.float32)} for _ in range(4)])

        def get_next(self):  # noqa: ANN201
            return next(self.data, None)

    # the project's ORT INT8 settings (FACTS.md): U8 activations, S8 per-channel weights, QDQ
    quantize_static(str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True)
    return out


def kernel_peaks(threads: int, runs: int, work: Path) -> dict:
    """GMAC/s of ONNX Runtime's INT8 and FP32 convolutions on shapes that are compute-bound (1x1, wide)
    and memory-bound (depthwise 3x3)."""
    out = {}
    for name, cin, cout, hw, k, group in (("pointwise 512->512 @48x48", 512, 512, 48, 1, 1),
                                          ("depthwise 3x3 x480 @24x24", 480, 480, 24, 3, 480)):
        macs = hw * hw * cout * (cin // group) * k * k
        fp32 = _conv_model(work / f"{name.split()[0]}_fp32.onnx", cin=cin, cout=cout, hw=hw, k=k, group=group)
        int8 = _quantize(fp32, work / f"{name.split()[0]}_int8.onnx", cin=cin, hw=hw)
        x = np.random.default_rng(2).standard_normal((1, cin, hw, hw), dtype=np.float32)
        row = {"macs": macs}
        for prec, path in (("fp32", fp32), ("int8", int8)):
            sess = _session(path, threads)
            ms = _time(lambda: sess.run(None, {"x": x}), runs)
            row[prec] = {"ms": round(ms, 3), "gmacs_per_s": round(macs / ms / 1e6, 1)}
        out[name] = row
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--sizes", nargs="+", type=int, default=None, help="input sizes for MACs (default: the bundle's, 320, 288)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    from edge_screen.benchmarks.machine import machine_record
    from edge_screen.bundle import load_bundle

    bundle = load_bundle(args.bundle)
    size = bundle.preprocessing.input_size
    fp32 = bundle.path(bundle.model("onnxruntime", "fp32").files["model"])
    int8 = bundle.path(bundle.model("onnxruntime", "int8").files["model"])
    sizes = args.sizes or [size, 320, 288]
    doc: dict = {"bundle": bundle.id, "threads": args.threads, "machine": machine_record()}
    doc["macs"] = {str(s): conv_macs(fp32, s) for s in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        doc["ort_int8_profile"] = ort_profile(int8, size, args.threads, args.runs, work)
        doc["ort_fp32_profile"] = ort_profile(fp32, size, args.threads, args.runs, work)
        doc["kernel_peaks"] = kernel_peaks(args.threads, args.runs, work)
    macs = doc["macs"][str(size)]["total_macs"]
    pw = doc["kernel_peaks"]["pointwise 512->512 @48x48"]["int8"]["gmacs_per_s"]
    doc["summary"] = {
        "model_gmacs": round(macs / 1e9, 3),
        "int8_p50_ms": doc["ort_int8_profile"]["p50_ms"],
        "int8_achieved_gmacs_per_s": round(macs / doc["ort_int8_profile"]["p50_ms"] / 1e6, 1),
        "int8_peak_gmacs_per_s_pointwise": pw,
        "floor_ms_if_every_mac_ran_at_the_pointwise_peak": round(macs / pw / 1e6, 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({k: doc[k] for k in ("summary", "macs")}, indent=1))
    print(json.dumps(doc["ort_int8_profile"], indent=1))
    print(json.dumps(doc["kernel_peaks"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
