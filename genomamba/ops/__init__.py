"""Operations the model calls, each with an explicit backend (auto|triton|cpu|ref): ``selective_scan`` (Mamba-1)
and ``ssd`` (Mamba-2)."""

from genomamba.backends import BACKENDS, Backend
from genomamba.ops.scan import resolve_backend, selective_scan
from genomamba.ops.ssd import ssd

__all__ = ["BACKENDS", "Backend", "resolve_backend", "selective_scan", "ssd"]
