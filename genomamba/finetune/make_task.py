"""``genomamba make-task``: a genome + its annotation -> a labeled task table (promoters or splice sites), or a
VCF of coding SNVs labelled by consequence."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from genomamba.errors import GenomambaError
from genomamba.finetune.coding_snvs import build_coding_snvs, vcf_output, write_vcf
from genomamba.finetune.gff import read_transcripts
from genomamba.finetune.promoters import build_promoters
from genomamba.finetune.splice_sites import build_splice_sites
from genomamba.finetune.tables import table_format, write_table
from genomamba.finetune.task_config import MakeTaskConfig
from genomamba.finetune.task_table import task_summary


def make_task(cfg: MakeTaskConfig) -> dict:
    """Build the task table and write it to ``cfg.out``; returns {out, fasta, annotation} and the table's counts
    per split and label (``task_table.task_summary``). ``coding-snvs`` writes a VCF instead (counts per class)."""
    from genomamba.genome.fasta import Genome
    from genomamba.genome.registry import resolve_genome

    if cfg.task == "coding-snvs":  # an unknown extension fails before any work
        vcf_output(cfg.out)
    else:
        table_format(cfg.out)
    fasta, bundled = resolve_genome(cfg.genome)
    annotation = cfg.annotation or bundled
    if annotation is None:
        raise GenomambaError("no annotation: pass --annotation GFF (a FASTA path has none bundled)", cfg.genome)
    transcripts = read_transcripts(annotation, tuple(cfg.transcript_types))
    with Genome(fasta) as genome:
        if cfg.task == "coding-snvs":
            records = build_coding_snvs(genome, transcripts, cfg.coding_snvs)
            contigs = dict(genome.contigs)
            write_vcf(records, contigs, cfg.out, f"genomamba make-task coding-snvs ({Path(annotation).name})")
            counts = dict(Counter(r[4] for r in records))
            return {"out": cfg.out, "fasta": str(fasta), "annotation": str(annotation), "snvs": len(records),
                    "per_class_written": counts}  # fmt: skip
        if cfg.task == "promoters":
            table = build_promoters(genome, transcripts, cfg.promoters, cfg.split)
        else:
            table = build_splice_sites(genome, transcripts, cfg.splice_sites, cfg.split)
    summary = task_summary(table)
    if summary["cross_split_overlaps"]:
        raise GenomambaError(f"internal: {summary['cross_split_overlaps']} cross-split overlaps remain", cfg.out)
    write_table(table, cfg.out)
    return {"out": cfg.out, "fasta": str(fasta), "annotation": str(annotation), **summary}
