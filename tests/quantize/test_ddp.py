"""A 2-process DDP (gloo, CPU) training run under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


@pytest.mark.slow
def test_torchrun_two_process_gloo(tiny_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
           "-m", "edge_screen", "train", "--model", "effnet_lite0", "--no-pretrained", "--data", str(tiny_set),
           "--img-size", "48", "--epochs", "2", "--batch-size", "2", "--out", str(out), "--no-progress",
           "--threads", "1", "--val-fraction", "0.25"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2]  # rank 0 alone writes the log
    ck = torch.load(out / "last.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in ck["state_dict"])  # saved unwrapped
    assert ck["epoch"] == 1 and ck["config"]["epochs"] == 2
