"""``ism`` driver: score every SNV of the regions and write, atomically, into one directory:

    ism.parquet   chrom, pos (1-based, as in a VCF), ref, alt, llr | delta [, llr_fwd, llr_rev], near_end
    min.bw        per position, the minimum score over its three alternatives (bigWig, the FASTA's sizes)
    mean.bw       per position, the mean over its three alternatives
    ism.json      provenance: checkpoint, scoring settings, model passes, timing

Positions whose reference base is not A/C/G/T have no rows and leave gaps in the bigWigs.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path

import numpy as np

from genomamba.alphabet import NUCLEOTIDES
from genomamba.atomic import atomic_dir, check_output_dir
from genomamba.errors import GenomambaError
from genomamba.infer.config import IsmConfig
from genomamba.infer.ism import IsmChunk, SupervisedIsm, ZeroShotIsm
from genomamba.infer.regions import Region
from genomamba.infer.trackio import TrackWriter

ISM_JSON = "ism.json"  # every ism output holds it: marks a previous output


class _Rows:
    """Streams ISM rows into Parquet, one row group per chunk."""

    def __init__(self, path: Path, score: str, both: bool):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.score, self.both = score, both
        fields = [("chrom", pa.string()), ("pos", pa.int64()), ("ref", pa.string()), ("alt", pa.string())]
        fields.append((score, pa.float64()))
        if both:
            fields += [(f"{score}_fwd", pa.float64()), (f"{score}_rev", pa.float64())]
        fields.append(("near_end", pa.bool_()))
        self.schema = pa.schema(fields)
        self._fh = pq.ParquetWriter(str(path), self.schema)
        self.n_rows = 0

    def write(self, chunk: IsmChunk) -> None:
        import pyarrow as pa

        k, b = np.nonzero(np.isfinite(chunk.scores).all(axis=0))  # (position, alt) pairs that were scored
        letters = np.array(list(NUCLEOTIDES))
        data = {
            "chrom": [chunk.contig] * k.size,
            "pos": chunk.start + k + 1,
            "ref": letters[chunk.ref[k]],
            "alt": letters[b],
            self.score: chunk.score[k, b],
        }
        if self.both:
            data[f"{self.score}_fwd"], data[f"{self.score}_rev"] = chunk.scores[0, k, b], chunk.scores[1, k, b]
        data["near_end"] = chunk.near_end[k]
        self._fh.write_table(pa.table(data, schema=self.schema))
        self.n_rows += k.size

    def close(self) -> None:
        self._fh.close()


def _engine(scorer, genome, cfg: IsmConfig, vcf_cfg):
    from genomamba.vep.scorers import SupervisedScorer

    if isinstance(scorer, SupervisedScorer):
        return SupervisedIsm(scorer, genome, vcf_cfg, cfg.chunk_bases), "delta", 1
    engine = ZeroShotIsm(scorer, genome, vcf_cfg)
    return engine, "llr", engine.n


def run_ism(
    checkpoint: str | Path, genome, regions: list[Region], out: str | Path, cfg: IsmConfig, backend: str | None = None
) -> dict:
    """Saturation mutagenesis of ``regions`` with ``checkpoint`` into directory ``out``; returns ism.json's dict."""
    from genomamba.devices import resolve_device
    from genomamba.vep.scorers import load_scorer

    out = check_output_dir(out, ISM_JSON)  # a folder that is not ours fails before the model loads
    bases = sum(r.length for r in regions)
    if bases > cfg.max_bases:
        raise GenomambaError(f"{bases:,} bases to mutate exceed max_bases {cfg.max_bases:,} (3 rows per base)")
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    vcf_cfg = dataclasses.replace(cfg.scoring(), device=resolve_device(cfg.device))
    scorer = load_scorer(genome, vcf_cfg, str(checkpoint), backend=backend, output_index=cfg.head_output)
    engine, score, n_strands = _engine(scorer, genome, cfg, vcf_cfg)
    sizes = {name: length for name, length in genome.contigs.items() if length > 0}
    t0 = time.perf_counter()
    with atomic_dir(out, ISM_JSON) as tmp:
        rows = _Rows(tmp / "ism.parquet", score, n_strands == 2)
        what = f"of the ISM {score} over the 3 alternatives"
        tracks = {n: TrackWriter(tmp, n, ["bigwig"], sizes, f"{n} {what}") for n in ("min", "mean")}
        try:
            for region in regions:
                for chunk in engine.run(region):
                    rows.write(chunk)
                    with warnings.catch_warnings():  # all-NaN rows (N reference) stay NaN: gaps in the tracks
                        warnings.simplefilter("ignore", RuntimeWarning)
                        tracks["min"].add(chunk.contig, chunk.start, np.nanmin(chunk.score, axis=1))
                        tracks["mean"].add(chunk.contig, chunk.start, np.nanmean(chunk.score, axis=1))
        finally:
            rows.close()
            for writer in tracks.values():
                writer.close()
        seconds = time.perf_counter() - t0
        record = {
            "checkpoint": str(Path(checkpoint).resolve()),
            "config": dataclasses.asdict(cfg),
            "device": vcf_cfg.device,
            "score": score,
            "strands": getattr(engine, "strands", "the fine-tuned head's own"),
            "regions": [f"{r.contig}:{r.start}-{r.end}" for r in regions],
            "bases": bases,
            "rows": rows.n_rows,
            "forward_calls": scorer.n_forward,
            "sequences_scored": scorer.n_sequences,
            "seconds": round(seconds, 3),
            "variants_per_second": round(rows.n_rows / max(seconds, 1e-9), 1),
            **scorer.describe(),
        }
        (tmp / ISM_JSON).write_text(json.dumps(record, indent=2) + "\n")
    return record
