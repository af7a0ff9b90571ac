"""Inference that users expect from a DNA language model, on the CPU or a GPU (``--device``):

* ``embed``: embeddings of sequences, intervals or windows at any layer, pooled (Parquet) or per token (.npy);
* ``probe``: a frozen-embedding linear probe (logistic / ridge, cross-validated), reported like ``evaluate``;
* ``track``: per-base tracks (log P(reference base), entropy, a fine-tuned head's prediction) to bigWig/bedGraph,
  streamed in tiles with margins at any chromosome length;
* ``ism``: saturation mutagenesis of a region (zero-shot LLR from one pass per tile, or a head's prediction change).

Settings live in ``infer.config``; device selection in ``genomamba.devices``. Everything imports on first use: the
package itself imports nothing.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "EmbedConfig": "genomamba.infer.config",
    "ProbeConfig": "genomamba.infer.config",
    "TrackConfig": "genomamba.infer.config",
    "IsmConfig": "genomamba.infer.config",
    "embed": "genomamba.infer.embed",
    "run_probe": "genomamba.infer.probe",
    "write_tracks": "genomamba.infer.track_run",
    "run_ism": "genomamba.infer.ism_run",
}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
