"""``genomamba.ops.ssd``: backend dispatch, explicit errors, shape checks."""

from __future__ import annotations

import logging

import pytest
import torch
from scan_cases import assert_close
from ssd_cases import Case, make_inputs

import genomamba.ops.scan as scan_mod
from genomamba.errors import GenomambaError
from genomamba.ops import ssd


def _inputs(**kw):
    return make_inputs(Case(**kw))


@pytest.mark.parametrize("backend", ["ref", "cpu", "auto"])
def test_backends_agree(backend):
    tensors, seq_idx = _inputs(length=29, packed=True, reverse=True)
    kw = dict(dt_softplus=True, reverse=True, seq_idx=seq_idx, chunk_size=8)
    want = ssd(*tensors.values(), backend="ref", **kw)
    got, last = ssd(*tensors.values(), return_final_state=True, backend=backend, **kw)
    assert_close("out", got, want, 2e-4)
    assert last.shape == (2, 3, 5, 6) and last.dtype == torch.float32


def test_auto_logs_choice_once(caplog, monkeypatch):
    monkeypatch.setattr(scan_mod, "_logged_auto", set())
    tensors, _ = _inputs(length=5)
    with caplog.at_level(logging.INFO, logger="genomamba.ops.scan"):
        ssd(*tensors.values(), backend="auto")
        ssd(*tensors.values(), backend="auto")
    messages = [r.getMessage() for r in caplog.records if "auto" in r.getMessage()]
    assert messages == ["ssd backend auto -> cpu (tensors on cpu)"]


def test_triton_without_cuda_or_interpreter_is_an_error(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: triton is available")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    tensors, _ = _inputs(length=5)
    with pytest.raises(GenomambaError, match="ssd backend 'triton' needs CUDA tensors.*TRITON_INTERPRET=1"):
        ssd(*tensors.values(), backend="triton")


def test_unknown_backend_and_bf16_on_the_oracle():
    tensors, _ = _inputs(length=5)
    with pytest.raises(GenomambaError, match="unknown ssd backend 'cuda'"):
        ssd(*tensors.values(), backend="cuda")
    with pytest.raises(GenomambaError, match="no bf16 matmuls"):
        ssd(*tensors.values(), matmul_bf16=True, backend="ref")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.update(x=t["x"][0]), "x must be"),
        (lambda t: t.update(dt=t["dt"][:, :-1]), "dt must be"),
        (lambda t: t.update(A=t["A"][:-1]), "A must be"),
        (lambda t: t.update(B=t["B"].expand(2, 7, 2, 6)), "B must be"),  # 3 heads, 2 groups
        (lambda t: t.update(C=t["C"][..., :-1]), "same shape"),
        (lambda t: t.update(D=t["D"][:-1]), "D must be"),
        (lambda t: t.update(dt_bias=t["dt_bias"][:-1]), "dt_bias must be"),
        (lambda t: t.update(z=t["z"][:1]), "z shape"),
    ],
)
def test_shape_errors(change, message):
    tensors, _ = _inputs(length=7)
    change(tensors)
    with pytest.raises(ValueError, match=message):
        ssd(*tensors.values(), backend="cpu")


def test_seq_idx_and_chunk_checks():
    tensors, _ = _inputs(length=7)
    with pytest.raises(ValueError, match="seq_idx must be"):
        ssd(*tensors.values(), seq_idx=torch.zeros(2, 6, dtype=torch.long), backend="cpu")
    with pytest.raises(ValueError, match="integer tensor"):
        ssd(*tensors.values(), seq_idx=torch.zeros(2, 7), backend="cpu")
    with pytest.raises(ValueError, match="chunk_size"):
        ssd(*tensors.values(), chunk_size=0, backend="cpu")
