"""What a score file says about how it was made (header / metadata entries) and the run summary of ``score_vcf``.

The window geometry is read from the engine's ``alleles.Tiling`` objects, never recomputed from ``context``: the
stride loses one base on contigs whose length has the other parity (mirror symmetry), and short contigs are one
window, so one context gives several geometries per genome.
"""

from __future__ import annotations

import time
from pathlib import Path

from genomamba import __version__
from genomamba.atomic import file_digest
from genomamba.vep.alleles import Tiling
from genomamba.vep.config import ScoreVcfConfig
from genomamba.vep.scorers import SupervisedScorer

_NAMES_SHOWN = 4  # contig names listed per geometry in the header text; the summary lists all


def tiling_groups(tilings: dict[str, Tiling]) -> list[dict]:
    """Contigs grouped by window geometry: [{"window", "stride", "flank", "contigs"}]; contigs that fit in one
    window have window "whole contig" and no stride."""
    groups: dict[tuple, list[str]] = {}
    for name, t in tilings.items():
        key = ("whole contig", None, t.flank) if t.whole_contig else (t.window_length, t.stride, t.flank)
        groups.setdefault(key, []).append(name)
    return [{"window": w, "stride": s, "flank": f, "contigs": names} for (w, s, f), names in groups.items()]


def tiling_text(groups: list[dict]) -> str:
    parts = []
    for g in groups:
        names = g["contigs"]
        shown = ", ".join(names[:_NAMES_SHOWN])
        if len(names) > _NAMES_SHOWN:
            shown += f" (+{len(names) - _NAMES_SHOWN} more)"
        stride = "" if g["stride"] is None else f", stride {g['stride']}"
        parts.append(f"window {g['window']}{stride}, flank {g['flank']} on {shown}")
    return " | ".join(parts)


def engine_tilings(engine, genome) -> dict[str, Tiling] | None:
    """The engine's tiling of every contig of ``genome`` (None for engines without tiles: supervised)."""
    if not hasattr(engine, "tiling"):
        return None
    return {name: engine.tiling(name) for name in genome.contigs}


def strand_policy(scorer, used: str, asked: str, score_kind: str = "llr") -> str:
    if isinstance(scorer, SupervisedScorer):
        return f"the fine-tuned head's own (strands: {scorer.head_strands})"
    if used == "both":
        field = "GM_EMBDIST" if score_kind == "embedding_distance" else "GM_LLR"
        return f"mean of forward and reverse-complement strands ({field}_FWD, {field}_REV)"
    if asked == "auto":
        return (
            "forward strand only: the scorer is reverse-complement equivariant by construction, so the reverse "
            "strand gives the same value (force it with --strands both)"
        )
    return "forward strand only (--strands forward)"


def window_policy(scorer, cfg: ScoreVcfConfig, tilings: dict[str, Tiling] | None) -> str:
    if tilings is None:
        return "one window centred on each variant (supervised)"
    base = f"mirror-symmetric tiles: {tiling_text(tiling_groups(tilings))}"
    if cfg.score == "embedding-distance":
        return base + "; one reference pass per tile and strand, one pass per SNV with the ALT base"
    if scorer.fusion == "layer":
        return base + "; variant position masked, one pass per position and strand"
    if cfg.per_variant:
        return base + "; one pass per variant and strand"
    return base + "; one pass per tile and strand shared by all its variants"


def run_provenance(scorer, engine, genome, fasta, cfg: ScoreVcfConfig, command: str) -> dict[str, object]:
    """Header entries (written as ``genomamba_<key>``) of one score-vcf run."""
    return {
        "version": __version__,
        "command": command,
        **scorer.describe(),
        "reference": str(Path(fasta).resolve()),
        "reference_md5": file_digest(fasta, "md5"),
        "context": cfg.context,
        "score": cfg.score,
        "strand_policy": strand_policy(scorer, engine.strands, cfg.strands, engine.score_kind),
        "window_policy": window_policy(scorer, cfg, engine_tilings(engine, genome)),
        "ref_check": cfg.ref_check,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_summary(out: Path, index: Path | None, engine, scorer, genome, vin, seconds: float) -> dict:
    """What ``score_vcf`` returns (and ``score-vcf --summary`` writes): counts, flags, passes, geometry, timing."""
    counts = engine.counts
    tilings = engine_tilings(engine, genome)
    return {
        "output": str(out),
        "index": str(index) if index else None,
        "records": counts["records"],
        "alleles": counts["alleles"],
        "scored_alleles": counts["scored"],
        "flagged_alleles": {k[5:]: v for k, v in sorted(counts.items()) if k.startswith("flag:")},
        "records_ref_mismatch": counts["records_ref_mismatch"],
        "records_unknown_contig": counts["records_unknown_contig"],
        "unknown_contigs": sorted(engine.unknown_contigs),
        "header_definitions_added": vin.added_definitions,
        "tiling": None if tilings is None else tiling_groups(tilings),
        "tile_passes": counts["tile_passes"],
        "masked_passes": counts["masked_passes"],
        "supervised_passes": counts["supervised_passes"],
        "haplotype_passes": counts["haplotype_passes"],
        "embedding_passes": counts["embedding_passes"],
        "sequences_scored": scorer.n_sequences,
        "seconds": round(seconds, 3),
        "alleles_per_second": round(counts["alleles"] / seconds, 2) if seconds > 0 else None,
    }
