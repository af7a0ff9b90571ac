"""``embed``: embeddings of any checkpoint at any layer, streamed to Parquet (pooled) or ``.npy`` (per token).

Outputs, chosen by the extension (checked before anything is read or loaded):

* ``.parquet`` (pooling ``mean`` | ``center``): one row per input sequence, in input order: the source's metadata
  columns (``id``, and ``chrom, start, end, strand`` or ``split`` where the source has them), ``length`` and
  ``embedding`` (fixed-size list of float32). Run provenance is in the file's key-value metadata (``genomamba``).
* ``.npy`` (pooling ``none``): all per-token features stacked, shape (sum of lengths, C), in input order; row i of
  the input occupies ``[offset_i, offset_i + length_i)``, given with the metadata in ``<out>.index.parquet``.

Memory is bounded by ``chunk_rows`` input rows (their tokens and pooled vectors) plus one batch of features;
per-token features go straight into the memory-mapped ``.npy``. Both files are written atomically.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from genomamba.atomic import atomic_file
from genomamba.errors import GenomambaError
from genomamba.infer.config import EmbedConfig
from genomamba.infer.features import feature_width, layer_index, pooled_features

log = logging.getLogger(__name__)

OUTPUTS = {".parquet": "pooled", ".npy": "tokens"}


def output_kind(out: str | Path, pooling: str) -> str:
    """ "pooled" (.parquet) or "tokens" (.npy) for ``out``; GenomambaError when the extension or the pooling
    does not fit (called before any work starts)."""
    suffix = Path(out).suffix.lower()
    if suffix == ".zarr":
        raise GenomambaError("zarr output is not available (zarr is not a dependency); use .npy for per-token", out)
    kind = OUTPUTS.get(suffix)
    if kind is None:
        raise GenomambaError("embedding output must end in .parquet (pooled) or .npy (per token)", out)
    if kind == "pooled" and pooling == "none":
        raise GenomambaError("pooling none gives per-token features: write them to .npy", out)
    if kind == "tokens" and pooling != "none":
        raise GenomambaError(f"pooling {pooling} gives one vector per sequence: write it to .parquet", out)
    return kind


class _ParquetRows:
    """Pooled vectors with the source's metadata, one row group per chunk."""

    def __init__(self, path: Path, columns: tuple[str, ...], width: int, provenance: dict):
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {"start": pa.int64(), "end": pa.int64()}
        fields = [(c, types.get(c, pa.string())) for c in columns]
        fields += [("length", pa.int64()), ("embedding", pa.list_(pa.float32(), width))]
        self.schema = pa.schema(fields).with_metadata({"genomamba": json.dumps(provenance)})
        self.columns, self.width = columns, width
        self._fh = pq.ParquetWriter(str(path), self.schema)

    def write_chunk(self, metas: list[dict], lengths: list[int], vectors: np.ndarray) -> None:
        import pyarrow as pa

        data = {c: [m[c] for m in metas] for c in self.columns}
        data["length"] = lengths
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
        data["embedding"] = pa.FixedSizeListArray.from_arrays(flat, self.width)
        self._fh.write_table(pa.table(data, schema=self.schema))

    def close(self) -> None:
        self._fh.close()


def _chunks(source, size: int):
    chunk: list = []
    for item in source:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _run_chunk(model, tokens: list[np.ndarray], cfg: EmbedConfig, device: str):
    """Features of ``tokens`` in length-sorted batches: yields (i, row i's (C,) or (L_i, C) features)."""
    import torch

    from genomamba.model.batching import length_batches, pad_batch

    with torch.inference_mode():
        for idx in length_batches(tokens, cfg.batch_size):
            ids = pad_batch([tokens[i] for i in idx]).to(device)
            feats = pooled_features(model, ids, cfg.layer, cfg.strands, cfg.pooling).float().cpu().numpy()
            for row, i in enumerate(idx):
                yield int(i), (feats[row] if cfg.pooling != "none" else feats[row, : tokens[i].size])


def embed(source, checkpoint: str | Path, out: str | Path, cfg: EmbedConfig, backend: str | None = None) -> dict:
    """Embed every row of ``source`` (``infer.sources``) with ``checkpoint`` into ``out``; returns a summary."""
    from genomamba.model import load_for_inference
    from genomamba.model.checkpoint import read_meta

    out = Path(out)
    kind = output_kind(out, cfg.pooling)
    layer = layer_index(read_meta(checkpoint)["model_config"].n_layer, cfg.layer)  # checked before loading
    t0 = time.perf_counter()
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    net, device = load_for_inference(checkpoint, cfg.device, backend)
    model = getattr(net, "model", net)  # a fine-tuned checkpoint: its backbone LM
    width = feature_width(model, cfg.strands)
    provenance = {"checkpoint": str(Path(checkpoint).resolve()), "config": asdict(cfg), "layer_index": layer}
    provenance.update(width=width, device=device, model=asdict(model.config))
    if kind == "pooled":
        _write_pooled(source, model, out, cfg, device, width, provenance)
    else:
        _write_tokens(source, model, out, cfg, device, width, provenance)
    seconds = time.perf_counter() - t0
    summary = {"out": str(out), "rows": len(source), "width": width, "layer": layer, "device": device}
    return {**summary, "seconds": round(seconds, 2)}


def _write_pooled(source, model, out: Path, cfg: EmbedConfig, device: str, width: int, provenance: dict) -> None:
    with atomic_file(out) as tmp:
        writer = _ParquetRows(tmp, source.columns, width, provenance)
        try:
            for chunk in _chunks(source, cfg.chunk_rows):
                tokens = [t for t, _ in chunk]
                vectors = np.empty((len(chunk), width), dtype=np.float32)
                for i, v in _run_chunk(model, tokens, cfg, device):
                    vectors[i] = v
                writer.write_chunk([m for _, m in chunk], [t.size for t in tokens], vectors)
        finally:
            writer.close()


def _write_tokens(source, model, out: Path, cfg: EmbedConfig, device: str, width: int, provenance: dict) -> None:
    import polars as pl
    import pyarrow.parquet as pq

    lengths = source.lengths()
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    index_path = Path(f"{out}.index.parquet")
    metas: dict[str, list] = {c: [] for c in source.columns}
    with atomic_file(out) as tmp, atomic_file(index_path) as tmp_index:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=cfg.dtype, shape=(int(lengths.sum()), width))
        row0 = 0
        for chunk in _chunks(source, cfg.chunk_rows):
            tokens = [t for t, _ in chunk]
            for k, t in enumerate(tokens):
                if t.size != lengths[row0 + k]:  # the layout was fixed from the declared lengths
                    raise GenomambaError(f"row {row0 + k} has {t.size} bases, expected {lengths[row0 + k]}")
            for i, feats in _run_chunk(model, tokens, cfg, device):
                o = offsets[row0 + i]
                array[o : o + feats.shape[0]] = feats
            for _, m in chunk:
                for c in source.columns:
                    metas[c].append(m[c])
            row0 += len(chunk)
        array.flush()
        del array
        index = pl.DataFrame({**metas, "offset": offsets, "length": lengths}).to_arrow()
        pq.write_table(index.replace_schema_metadata({"genomamba": json.dumps(provenance)}), tmp_index)
