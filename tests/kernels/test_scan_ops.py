"""``genomamba.ops.selective_scan``: backend dispatch, explicit errors, shape checks."""

from __future__ import annotations

import logging

import pytest
import torch
from scan_cases import Case, assert_close, make_inputs

import genomamba.ops.scan as scan_mod
from genomamba.errors import GenomambaError
from genomamba.ops import selective_scan


def _inputs(**kw):
    tensors, seq_idx = make_inputs(Case(**kw))
    return tensors, seq_idx


@pytest.mark.parametrize("backend", ["ref", "cpu", "auto"])
def test_backends_agree(backend):
    tensors, seq_idx = _inputs(length=29, packed=True, reverse=True)
    want = selective_scan(*tensors.values(), delta_softplus=True, reverse=True, seq_idx=seq_idx, backend="ref")
    got, last = selective_scan(
        *tensors.values(), delta_softplus=True, return_last_state=True, reverse=True, seq_idx=seq_idx, backend=backend
    )
    assert_close("out", got, want, 2e-4)
    assert last.shape == (2, 13, 5)


def test_auto_logs_choice_once(caplog, monkeypatch):
    monkeypatch.setattr(scan_mod, "_logged_auto", set())
    tensors, _ = _inputs(length=5)
    with caplog.at_level(logging.INFO, logger="genomamba.ops.scan"):
        selective_scan(*tensors.values(), backend="auto")
        selective_scan(*tensors.values(), backend="auto")
    messages = [r.getMessage() for r in caplog.records if "auto" in r.getMessage()]
    assert messages == ["selective_scan backend auto -> cpu (tensors on cpu)"]


def test_triton_without_cuda_or_interpreter_is_an_error(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: triton is available")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    tensors, _ = _inputs(length=5)
    with pytest.raises(GenomambaError, match="needs CUDA tensors.*TRITON_INTERPRET=1"):
        selective_scan(*tensors.values(), backend="triton")


def test_unknown_backend():
    tensors, _ = _inputs(length=5)
    with pytest.raises(GenomambaError, match="unknown selective_scan backend 'cuda'"):
        selective_scan(*tensors.values(), backend="cuda")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.update(delta=t["delta"][:, :, :-1]), "delta shape"),
        (lambda t: t.update(A=t["A"][:-1]), "A must be"),
        (lambda t: t.update(B=t["B"][:, :-1]), "B must be"),
        (lambda t: t.update(C=t["C"].unsqueeze(1).expand(2, 5, 5, 7)), "C must be"),  # 13 % 5 groups != 0
        (lambda t: t.update(D=t["D"][:-1]), "D must be"),
        (lambda t: t.update(z=t["z"][:1]), "z shape"),
    ],
)
def test_shape_errors(change, message):
    tensors, _ = _inputs(length=7)
    change(tensors)
    with pytest.raises(ValueError, match=message):
        selective_scan(*tensors.values(), backend="cpu")


def test_seq_idx_checks():
    tensors, _ = _inputs(length=7)
    with pytest.raises(ValueError, match="seq_idx must be"):
        selective_scan(*tensors.values(), seq_idx=torch.zeros(2, 6, dtype=torch.long), backend="cpu")
    with pytest.raises(ValueError, match="integer tensor"):
        selective_scan(*tensors.values(), seq_idx=torch.zeros(2, 7), backend="cpu")
