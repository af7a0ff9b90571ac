"""Operations the model calls, each with an explicit backend: ``selective_scan`` (auto|triton|cpu|ref)."""

from genomamba.backends import BACKENDS, Backend
from genomamba.ops.scan import resolve_backend, selective_scan

__all__ = ["BACKENDS", "Backend", "resolve_backend", "selective_scan"]
