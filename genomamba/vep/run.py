"""Variant-effect scoring driver: stream a VCF, score every ALT allele with a model, write VCF/BCF/TSV/Parquet.

The scores themselves (SNV LLR, haplotype score, flags, tiling) come from ``engine``; this module loads the
scorer, streams records through the engine and writes the output with its provenance and index.

Memory is bounded: records are read ``chunk_records`` at a time (the engine bounds what scoring a chunk holds).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from genomamba import __version__
from genomamba.atomic import atomic_file, file_digest
from genomamba.errors import GenomambaError
from genomamba.vep.config import ScoreVcfConfig
from genomamba.vep.engine import Engine, make_engine
from genomamba.vep.refcheck import RefChecker, Variant
from genomamba.vep.scorers import SupervisedScorer, load_scorer
from genomamba.vep.writers import TableWriter, VcfWriter, output_format

__all__ = ["load_scorer", "score_vcf"]

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
    """Score every ALT of ``vcf``; write ``out`` atomically (plus its index); return the run summary."""
    from genomamba.genome.fasta import Genome
    from genomamba.vep.vcf_io import parse_regions, prepare_input

    t_start = time.perf_counter()
    out = Path(out)
    fmt = output_format(out, out_format)
    if (checkpoint is None) == (kmer is None):  # checked before any input is read
        raise GenomambaError("give exactly one of a checkpoint or a k-mer baseline order")
    if config.threads > 0:
        import torch

        torch.set_num_threads(config.threads)
    genome = Genome(fasta)
    region_list = parse_regions(regions) if regions else None
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.work.", dir=out.parent) as work:
        work = Path(work)
        vin = prepare_input(vcf, work)
        log.info("%s: %d records (%s, %s)", vin.source, vin.n_records, vin.fmt, vin.compression)
        _check_header_contigs(vin, genome)
        if config.ref_check == "error" and vin.n_records:
            _ref_precheck(vin, genome, config, region_list)
        scorer = load_scorer(genome, config, checkpoint, kmer, backend, head_output)
        engine = make_engine(scorer, genome, config, source=str(vin.source))
        supervised = isinstance(scorer, SupervisedScorer)
        provenance = {
            "version": __version__,
            "command": command,
            **scorer.describe(),
            "reference": str(Path(fasta).resolve()),
            "reference_md5": file_digest(fasta, "md5"),
            "context": config.context,
            "strand_policy": f"the fine-tuned head's own (strands: {scorer.head_strands})"
            if supervised else _strand_policy(engine.strands, config.strands),
            "window_policy": "one window centred on each variant (supervised)" if supervised
            else _window_policy(config, scorer.fusion),
            "ref_check": config.ref_check,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }  # fmt: skip
        index_suffix = _index_suffix(fmt, genome)
        index_path = Path(f"{out}{index_suffix}") if index_suffix else None
        with atomic_file(out) as tmp_out:
            writer = _make_writer(fmt, tmp_out, vin, provenance, config, supervised)
            _stream(vin, engine, writer, config, region_list, progress)
            if index_path is None:
                writer.finish(vin.index_ready or region_list is not None, None, work)
            else:
                with atomic_file(index_path) as tmp_index:
                    tmp_index.unlink()
                    writer.finish(vin.index_ready, tmp_index, work)
                    for other in (".tbi", ".csi"):  # a stale index of the other kind would not match
                        stale = Path(f"{out}{other}")
                        if other != index_suffix and stale.exists():
                            stale.unlink()
    elapsed = time.perf_counter() - t_start
    counts = engine.counts
    summary = {
        "output": str(out),
        "index": str(index_path) if index_path else None,
        "records": counts["records"],
        "alleles": counts["alleles"],
        "scored_alleles": counts["scored"],
        "flagged_alleles": {k[5:]: v for k, v in sorted(counts.items()) if k.startswith("flag:")},
        "records_ref_mismatch": counts["records_ref_mismatch"],
        "records_unknown_contig": counts["records_unknown_contig"],
        "unknown_contigs": sorted(engine.unknown_contigs),
        "header_definitions_added": vin.added_definitions,
        "tile_passes": counts["tile_passes"],
        "masked_passes": counts["masked_passes"],
        "supervised_passes": counts["supervised_passes"],
        "haplotype_passes": counts["haplotype_passes"],
        "sequences_scored": scorer.n_sequences,
        "seconds": round(elapsed, 3),
        "alleles_per_second": round(counts["alleles"] / elapsed, 2) if elapsed > 0 else None,
    }
    genome.close()
    return summary


def _strand_policy(used: str, asked: str) -> str:
    if used == "both":
        return "mean of forward and reverse-complement strands (GM_LLR_FWD, GM_LLR_REV)"
    if asked == "auto":
        return (
            "forward strand only: the scorer is reverse-complement equivariant by construction, so the reverse "
            "strand gives the same value (force it with --strands both)"
        )
    return "forward strand only (--strands forward)"


def _window_policy(cfg: ScoreVcfConfig, fusion: str) -> str:
    base = f"mirror-symmetric tiles: window {cfg.context}, stride {cfg.context - 2 * (cfg.context // 4)}, " \
           f"flank {cfg.context // 4}"  # fmt: skip
    if fusion == "layer":
        return base + "; variant position masked, one pass per position and strand"
    if cfg.per_variant:
        return base + "; one pass per variant and strand"
    return base + "; one pass per tile and strand shared by all its variants"


def _index_suffix(fmt: str, genome) -> str | None:
    if fmt == "bcf":
        return ".csi"
    if fmt == "vcf.gz":
        # a .tbi cannot address positions beyond 2^29; longer contigs need CSI
        return ".csi" if max(genome.contigs.values()) >= 1 << 29 else ".tbi"
    return None


def _make_writer(fmt: str, tmp_out: Path, vin, provenance: dict, cfg: ScoreVcfConfig, supervised: bool = False):
    import pysam

    if fmt in ("tsv", "parquet"):
        return TableWriter(tmp_out, fmt, provenance, cfg.keep_info, supervised)
    prev = pysam.set_verbosity(0)
    with pysam.VariantFile(str(vin.path)) as handle:
        header = handle.header.copy()
    pysam.set_verbosity(prev)
    return VcfWriter(tmp_out, fmt, header, provenance, threads=max(1, cfg.threads), supervised=supervised)


def _stream(vin, engine: Engine, writer, cfg: ScoreVcfConfig, regions, progress: bool | None) -> None:
    from genomamba.vep.vcf_io import iter_records

    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(
            TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]} rec/s"),
            TimeRemainingColumn(), console=Console(stderr=True), transient=False,
        )  # fmt: skip
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
                vin.source, name, f"{length:,}", f"{real:,}",
            )  # fmt: skip


def _ref_precheck(vin, genome, cfg: ScoreVcfConfig, regions) -> None:
    """With ref_check "error", check every REF before the model is loaded: a mismatch fails in seconds."""
    from genomamba.vep.vcf_io import iter_records

    checker = RefChecker(genome, cfg.ref_check, source=str(vin.source))
    for i, rec in iter_records(vin, regions):
        checker.check(Variant(rec.chrom, rec.pos, rec.ref or "", (), vin.line_of(i)))
