"""Pair-safe 8-bit INT8 weights (issue 12): no same-sign input pair of a 1x1 conv exceeds 128 steps, so
the int16 pair sums of x86 CPUs without VNNI cannot saturate; the grid is finer than 7-bit, the biases
keep their value, and fine-tuning keeps the file safe. (The kernels themselves, natively and on an
emulated AVX2 CPU: test_int8_saturation.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edge_screen.errors import EdgeScreenError, UsageError
from edge_screen.quantize.onnx_export import run_onnx
from edge_screen.quantize import weight_grid
from edge_screen.quantize.ort_quant import onnx_to_ort_int8
from edge_screen.quantize.pair_safe import PAIR_LIMIT, clip_pairs, make_pair_safe, pair_safe_scale, saturating_pairs

from .conftest import fundus_batch, tiny_fp32_onnx

SIZE = 64


def _photos(seeds: range) -> np.ndarray:
    return fundus_batch(seeds, SIZE)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny CNN (3x3, depthwise and 1x1 convs) quantized three ways, every conv INT8, no bias correction."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    root = tmp_path_factory.mktemp("pairs")
    fp32 = tiny_fp32_onnx(root / "fp32.onnx", seed=5, size=SIZE)
    pre = root / "pre.onnx"  # what the quantizer quantizes (BN folded): the FP32 weights to compare with
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    out = {"fp32": fp32, "pre": pre}
    for name, bits, pair in (("w7", 7, False), ("w8", 8, False), ("pair", 8, True)):
        out[name] = onnx_to_ort_int8(fp32, root / f"{name}.onnx", _photos(range(16)), float_convs=0,
                                     bias_correction=False, weight_bits=bits, pair_safe=pair)  # fmt: skip
    return out


def _convs(path: Path) -> dict[str, tuple[str, np.ndarray, np.ndarray, np.ndarray | None]]:
    """conv name -> (kind, int weights, weight scales, [dequantized bias, its step] or None)."""
    m = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    prod = {o: n for n in m.graph.node for o in n.output}
    out = {}
    for n in m.graph.node:
        if n.op_type != "Conv" or prod.get(n.input[1]) is None:
            continue
        dq = prod[n.input[1]]
        q, s = inits[dq.input[0]], inits[dq.input[1]]
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        kind = "dw" if group > 1 else ("1x1" if q.shape[2:] == (1, 1) else "kxk")
        bias = None
        if len(n.input) > 2 and n.input[2] in prod:
            bdq = prod[n.input[2]]
            bias = np.stack([inits[bdq.input[0]].astype(np.float64) * inits[bdq.input[1]].astype(np.float64),
                             inits[bdq.input[1]].astype(np.float64)])  # value, step
        out[dq.input[0]] = (kind, q.astype(np.int64), s.astype(np.float64), bias)
    return out


def test_pair_safe_scales_never_let_a_same_sign_pair_exceed_128_and_are_finer_than_7_bit() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_t(3, size=(64, 96, 1, 1))  # heavy tails: channel maxima far above the typical weight
    w[:2] = rng.uniform(-1, 1, size=(2, 96, 1, 1))
    w[0, :2, 0, 0] = [5.0, 4.9]  # a channel whose two largest weights are a same-sign pair: ~ the 7-bit step
    w[1, 2:4, 0, 0] = [5.0, -4.9]  # opposite signs never saturate: the 8-bit step
    scale = pair_safe_scale(w)
    q = np.rint(w / scale.reshape(-1, 1, 1, 1)).astype(np.int64)
    assert saturating_pairs(q) == 0 and np.abs(q).max() <= 127
    m = np.abs(w.reshape(64, -1)).max(axis=1)
    ratio = scale / (m / 64)  # 1.0: the 7-bit step; 0.504: the 8-bit step
    assert np.all(ratio <= 1.0 + 1e-9) and np.all(ratio >= 64 / 127 - 1e-9)
    assert ratio[0] == pytest.approx(9.9 / 5.0 / 2, rel=1e-6) and ratio[1] == pytest.approx(64 / 127)
    assert np.median(ratio) < 0.75
    plain8 = np.rint(w / (m / 127).reshape(-1, 1, 1, 1))
    assert saturating_pairs(plain8) > 0  # the same weights on the plain 8-bit grid would saturate


def test_clip_pairs_brings_only_the_saturating_same_sign_pairs_back_to_128() -> None:
    q = np.array([[127, 127, 100, -127, 90, 38, 64, 64, 5]], dtype=np.int64).reshape(1, 9, 1, 1)
    got = clip_pairs(q).reshape(-1).tolist()
    assert got[:2] == [64, 64]  # 254 -> 128, split evenly
    assert got[2:4] == [100, -127]  # opposite signs: untouched
    assert got[4:6] == [90, 38]  # exactly 128: untouched
    assert got[6:] == [64, 64, 5]  # the odd last channel pairs with nothing
    q2 = np.array([[[[-120]], [[-10]], [[100]], [[40]]]])  # -130 and 140: over by 2 and 12
    assert clip_pairs(q2).reshape(-1).tolist() == [-119, -9, 94, 34]
    assert saturating_pairs(clip_pairs(q2)) == 0


def test_the_exported_file_is_pair_safe_8_bit_and_closer_to_fp32_than_7_bit(files: dict[str, Path]) -> None:
    fp32 = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in onnx.load(str(files["pre"])).graph.initializer}
    grids = {name: _convs(files[name]) for name in ("w7", "w8", "pair")}
    assert set(grids["pair"]) == set(grids["w7"]) and {k for k, *_ in grids["pair"].values()} == {"dw", "1x1", "kxk"}
    err = {name: 0.0 for name in grids}
    for qname, (kind, q, s, _) in grids["pair"].items():
        w = fp32[qname.removesuffix("_quantized")]
        limit = {"1x1": 127, "dw": 127, "kxk": 64}[kind]
        assert np.abs(q).max() <= limit, (qname, kind)
        if kind == "1x1":
            assert saturating_pairs(q) == 0
            assert np.abs(q).max() > 64  # the 8-bit range is used
        for name, g in grids.items():
            qq, ss = g[qname][1], g[qname][2]
            err[name] += float(((qq * ss.reshape((-1,) + (1,) * (qq.ndim - 1)) - w) ** 2).sum())
    assert err["w8"] < err["pair"] < 0.8 * err["w7"], err
    # the INT32 biases were re-expressed, not lost: the same float bias within the two grids' half steps
    for qname, (kind, _, s, bias) in grids["pair"].items():
        ref = grids["w8"][qname][3]
        if bias is not None:
            assert np.all(np.abs(bias[0] - ref[0]) <= 0.5 * (bias[1] + ref[1]) * 1.001), qname
    # and the graph runs, close to FP32
    x = _photos(range(40, 48))
    p32, ppair = run_onnx(files["fp32"], x)[0], run_onnx(files["pair"], x)[0]
    assert np.abs(ppair - p32).max() < 0.1


def test_make_pair_safe_needs_the_fp32_weights(files: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    target = shutil.copy(files["w8"], tmp_path / "x.onnx")
    m = onnx.load(str(files["pre"]))
    for t in list(m.graph.initializer):
        m.graph.initializer.remove(t)
    onnx.save(m, str(tmp_path / "empty.onnx"))
    with pytest.raises(EdgeScreenError, match="no FP32 weight"):
        make_pair_safe(target, tmp_path / "empty.onnx")


def test_weight_grid_names() -> None:
    assert weight_grid(None) == (8, True) and weight_grid("8-pair") == (8, True)
    assert weight_grid(7) == (7, False) and weight_grid("8") == (8, False)
    with pytest.raises(UsageError, match="--int8-weights"):
        weight_grid(6)
    with pytest.raises(UsageError, match="8-bit"):
        onnx_to_ort_int8("unused.onnx", "unused_int8.onnx", _photos(range(2)), weight_bits=7, pair_safe=True)


def test_finetuned_weights_written_back_into_a_pair_safe_file_stay_pair_safe(files: dict[str, Path]) -> None:
    import torch

    from edge_screen.quantize.qdq_finetune import OnnxTorch

    model = onnx.load(str(files["pair"]))
    net = OnnxTorch(model)
    flagged = [w for w in net.weights.values() if w.pairs]
    assert flagged and len(flagged) == sum(k == "1x1" for k, *_ in _convs(files["pair"]).values())
    with torch.no_grad():  # what a large fine-tuning step does: every weight 3 grid steps further from zero
        for w in net.weights.values():
            p = getattr(net, w.param)
            scale = net.weight_scale(w).reshape((-1,) + (1,) * (p.dim() - 1))
            p += 3 * scale * torch.sign(p)
    net.write_into(model)
    onnx.save(model, str(files["pair"].with_name("pushed.onnx")))
    pushed = _convs(files["pair"].with_name("pushed.onnx"))
    before = _convs(files["pair"])
    for qname, (kind, q, *_) in pushed.items():
        if kind == "1x1":
            assert saturating_pairs(q) == 0, qname
        assert (q != before[qname][1]).any(), qname  # the weights did move
    assert PAIR_LIMIT == 128
    # a plain 7-bit file is left to its own grid (no pair rule needed: |q| <= 64)
    assert not any(w.pairs for w in OnnxTorch(onnx.load(str(files["w7"]))).weights.values())
