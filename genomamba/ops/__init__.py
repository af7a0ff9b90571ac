"""Operations the model calls, each with an explicit backend: ``selective_scan`` (auto|triton|cpu|ref)."""

from genomamba.ops.scan import BACKENDS, resolve_backend, selective_scan

__all__ = ["BACKENDS", "resolve_backend", "selective_scan"]
