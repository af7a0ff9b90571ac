"""Device selection: auto picks CUDA when present and says so, cuda without a GPU is an input error, and the scan
backend follows the device (an explicit backend that cannot run there is refused up front)."""

from __future__ import annotations

import logging

import pytest
import torch

from genomamba.devices import check_device_name, resolve_backend_for, resolve_device
from genomamba.errors import GenomambaError
from genomamba.model import load_for_inference
from tests.inference.conftest import cli_error


def test_auto_logs_its_choice(caplog):
    with caplog.at_level(logging.INFO, logger="genomamba.devices"):
        chosen = resolve_device("auto")
    assert chosen == ("cuda" if torch.cuda.is_available() else "cpu")
    assert f"device auto -> {chosen}" in caplog.text


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_cuda_without_a_gpu_is_an_error():
    with pytest.raises(GenomambaError, match="torch sees no CUDA device"):
        resolve_device("cuda")


def test_device_names():
    for good in ("auto", "cpu", "cuda", "cuda:1"):
        check_device_name(good)
    for bad in ("gpu", "cuda:", "CPU", "mps"):
        with pytest.raises(ValueError):
            check_device_name(bad)


def test_backend_follows_the_device(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert resolve_backend_for("cpu", None, "cpu") == "cpu"  # the checkpoint's own backend, when it can run
    assert resolve_backend_for("cuda", None, "cpu") == "auto"  # a CPU-only backend does not follow to the GPU
    assert resolve_backend_for("cpu", None, "triton") == "auto"
    assert resolve_backend_for("cuda:0", "triton", "cpu") == "triton"
    with pytest.raises(GenomambaError, match="cannot run on --device cuda"):
        resolve_backend_for("cuda", "cpu", "auto")
    with pytest.raises(GenomambaError, match="cannot run on --device cpu"):
        resolve_backend_for("cpu", "triton", "auto")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert resolve_backend_for("cpu", "triton", "auto") == "triton"  # the interpreter runs Triton on the CPU


def test_load_for_inference_places_the_model(checkpoints):
    net, device = load_for_inference(checkpoints["head"], "cpu", None)
    assert device == "cpu" and not net.training and next(net.parameters()).device.type == "cpu"
    assert net.config.backend == "ref"  # kept from the checkpoint: it runs on the CPU


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
@pytest.mark.parametrize("command", ["embed", "track", "score-vcf", "predict"])
def test_cuda_flag_without_a_gpu_is_one_line(command, checkpoints, seq_head_checkpoint, fasta, table, tmp_path):
    ckpt = str(seq_head_checkpoint if command == "predict" else checkpoints["head"])
    args = {
        "embed": ("--sequences", str(table), "--out", str(tmp_path / "e.parquet")),
        "track": ("--fasta", str(fasta), "--regions", "chrA", "--out", str(tmp_path / "t")),
        "score-vcf": ("--vcf", str(tmp_path / "none.vcf"), "--fasta", str(fasta), "--out", str(tmp_path / "s.tsv")),
        "predict": ("--input", str(table), "--out", str(tmp_path / "p.tsv")),
    }[command]
    line = cli_error(command, "--checkpoint", ckpt, "--device", "cuda", *args)
    assert "torch sees no CUDA device" in line
    assert list(tmp_path.iterdir()) == [table]


@pytest.mark.gpu
def test_auto_on_a_gpu_machine_is_cuda():
    assert resolve_device("auto") == "cuda" and resolve_device("cuda:0") == "cuda:0"
