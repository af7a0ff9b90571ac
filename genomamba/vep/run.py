"""Variant-effect scoring driver: stream a VCF, score every ALT allele with a model, write VCF/BCF/TSV/Parquet.

The scores themselves (SNV LLR, haplotype score, flags, tiling) come from ``engine``; this module loads the
scorer (``scorers.load_scorer``), streams records through the engine and writes the output with its index and
the provenance of ``provenance``.

Memory is bounded: records are read ``chunk_records`` at a time (the engine bounds what scoring a chunk holds).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from pathlib import Path

from genomamba.atomic import atomic_file, check_output_path, scratch_dir
from genomamba.errors import GenomambaError
from genomamba.vep.config import ScoreVcfConfig
from genomamba.vep.engine import Engine, make_engine
from genomamba.vep.provenance import run_provenance, run_summary
from genomamba.vep.refcheck import RefChecker, Variant
from genomamba.vep.scorers import check_score_source, load_scorer
from genomamba.vep.writers import TableWriter, VcfWriter, output_format

__all__ = ["score_vcf"]

log = logging.getLogger(__name__)


def _variants_from_records(chunk, vin) -> list[Variant]:
    return [Variant(rec.chrom, rec.pos, rec.ref or "", tuple(rec.alts or ()), vin.line_of(i)) for i, rec in chunk]


def score_vcf(
    vcf: str | os.PathLike,
    fasta: str | os.PathLike,
    out: str | os.PathLike,
    config: ScoreVcfConfig,
    checkpoint: str | None = None,
    kmer: int | None = None,
    regions: str | None = None,
    out_format: str | None = None,
    command: str = "",
    backend: str | None = None,
    progress: bool | None = None,
    head_output: int | None = None,
) -> dict:
    """Score every ALT of ``vcf``; write ``out`` atomically (plus its index); return the run summary.

    The scorer is a ``checkpoint`` (pretrained: zero-shot LLR; fine-tuned sequence head: prediction change of
    output ``head_output``) or the two-sided k-mer baseline of order ``kmer`` fitted on ``fasta``.
    """
    from genomamba.genome.fasta import Genome
    from genomamba.vep.vcf_io import parse_regions, prepare_input

    t_start = time.perf_counter()
    out = check_output_path(out, ("file",))  # a directory or an unwritable folder fails before any work
    fmt = output_format(out, out_format)
    if (checkpoint is None) == (kmer is None):  # checked before any input is read
        raise GenomambaError("give exactly one of a checkpoint or a k-mer baseline order")
    check_score_source(config, checkpoint, kmer)
    if checkpoint is not None:  # an unusable --device fails before any input is read, and is resolved once
        from genomamba.devices import resolve_device

        config = dataclasses.replace(config, device=resolve_device(config.device))
    if config.threads > 0:
        import torch

        torch.set_num_threads(config.threads)
    genome = Genome(fasta)
    region_list = parse_regions(regions) if regions else None
    try:
        with scratch_dir(out) as work:
            vin = prepare_input(vcf, work)
            log.info("%s: %d records (%s, %s)", vin.source, vin.n_records, vin.fmt, vin.compression)
            _check_header_contigs(vin, genome)
            if config.ref_check == "error" and vin.n_records:
                _ref_precheck(vin, genome, config, region_list)
            scorer = load_scorer(genome, config, checkpoint, kmer, backend, head_output)
            engine = make_engine(scorer, genome, config, source=str(vin.source))
            provenance = run_provenance(scorer, engine, genome, fasta, config, command)
            index = _write_scores(out, fmt, vin, engine, genome, provenance, config, region_list, progress, work)
        return run_summary(out, index, engine, scorer, genome, vin, time.perf_counter() - t_start)
    finally:
        genome.close()


def _write_scores(
    out: Path,
    fmt: str,
    vin,
    engine: Engine,
    genome,
    provenance: dict,
    config: ScoreVcfConfig,
    regions,
    progress,
    work: Path,
) -> Path | None:
    """Stream the scores into ``out`` and its index (both atomic) -> the index path, or None.

    The index's temporary encloses the output's, so the output is renamed into place first and the index only after
    it: a failed rename of the output leaves neither behind."""
    suffix = _index_suffix(fmt, genome)
    if suffix is None:
        with atomic_file(out) as tmp_out:
            writer = _make_writer(tmp_out, fmt, vin, provenance, config, engine.score_kind)
            _stream(vin, engine, writer, config, regions, progress)
            writer.finish(vin.index_ready or regions is not None, None, work)
        return None
    index = Path(f"{out}{suffix}")
    with atomic_file(index) as tmp_index, atomic_file(out) as tmp_out:
        tmp_index.unlink()
        writer = _make_writer(tmp_out, fmt, vin, provenance, config, engine.score_kind)
        _stream(vin, engine, writer, config, regions, progress)
        writer.finish(vin.index_ready, tmp_index, work)
    for other in (".tbi", ".csi"):  # a stale index of the other kind would not match
        stale = Path(f"{out}{other}")
        if other != suffix and stale.exists():
            stale.unlink()
    return index


def _index_suffix(fmt: str, genome) -> str | None:
    if fmt == "bcf":
        return ".csi"
    if fmt == "vcf.gz":
        # a .tbi cannot address positions beyond 2^29; longer contigs need CSI
        return ".csi" if max(genome.contigs.values()) >= 1 << 29 else ".tbi"
    return None


def _make_writer(tmp_out: Path, fmt: str, vin, provenance: dict, cfg: ScoreVcfConfig, score: str):
    import pysam

    if fmt in ("tsv", "parquet"):
        return TableWriter(tmp_out, fmt, provenance, cfg.keep_info, score)
    prev = pysam.set_verbosity(0)
    with pysam.VariantFile(str(vin.path)) as handle:
        header = handle.header.copy()
    pysam.set_verbosity(prev)
    return VcfWriter(tmp_out, fmt, header, provenance, threads=max(1, cfg.threads), score=score)


def _stream(vin, engine: Engine, writer, cfg: ScoreVcfConfig, regions, progress: bool | None) -> None:
    from genomamba.vep.vcf_io import iter_records

    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} rec/s"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        bar.start()
        task = bar.add_task("score", total=vin.n_records, rate="-")
    t0 = time.perf_counter()
    done = 0
    chunk: list = []
    try:
        for item in iter_records(vin, regions):
            chunk.append(item)
            if len(chunk) >= cfg.chunk_records:
                done += _flush(chunk, vin, engine, writer)
                chunk = []
                if bar is not None:
                    bar.update(task, completed=done, rate=f"{done / (time.perf_counter() - t0):.0f}")
        if chunk:
            done += _flush(chunk, vin, engine, writer)
        if bar is not None:
            bar.update(task, completed=done, rate=f"{done / max(time.perf_counter() - t0, 1e-9):.0f}")
    finally:
        if bar is not None:
            bar.stop()


def _flush(chunk, vin, engine: Engine, writer) -> int:
    results = engine.score(_variants_from_records(chunk, vin))
    for (_, rec), alleles in zip(chunk, results):
        writer.write(rec, alleles)
    return len(chunk)


def _check_header_contigs(vin, genome) -> None:
    """Warn when the VCF header's contig lengths disagree with the FASTA (usually a different build)."""
    import pysam

    prev = pysam.set_verbosity(0)
    with pysam.VariantFile(str(vin.path)) as handle:
        declared = {name: c.length for name, c in handle.header.contigs.items()}
    pysam.set_verbosity(prev)
    for name, length in declared.items():
        try:
            real = genome.contigs[genome.resolve(name)]
        except GenomambaError:
            continue
        if length is not None and length != real:
            log.warning(
                "%s: header declares contig %s with length %s but the FASTA has %s (different reference build?)",
                vin.source,
                name,
                f"{length:,}",
                f"{real:,}",
            )


def _ref_precheck(vin, genome, cfg: ScoreVcfConfig, regions) -> None:
    """With ref_check "error", check every REF before the model is loaded: a mismatch fails in seconds."""
    from genomamba.vep.vcf_io import iter_records

    checker = RefChecker(genome, cfg.ref_check, source=str(vin.source))
    for i, rec in iter_records(vin, regions):
        checker.check(Variant(rec.chrom, rec.pos, rec.ref or "", (), vin.line_of(i)))
