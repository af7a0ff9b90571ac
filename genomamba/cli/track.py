"""``genomamba track``: per-base tracks of a checkpoint over regions or whole sequences, to bigWig / bedGraph."""

from __future__ import annotations

import argparse
from pathlib import Path

from genomamba.backends import BACKENDS

# CLI flag -> TrackConfig field; unset flags fall back to --config, then to the dataclass defaults
_FLAGS = ("tile", "margin", "strands", "batch_size", "window", "step", "formats", "bigwig_zooms", "head_output",
          "device", "threads")  # fmt: skip


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _zooms(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or 0..10, got {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    from genomamba.devices import DEVICE_HELP
    from genomamba.infer.config import TrackConfig

    d = TrackConfig()
    p = sub.add_parser(
        "track",
        help="per-base tracks (log P(ref), entropy, a fine-tuned head's prediction) to bigWig / bedGraph",
        description="Compute per-base tracks over regions, whole sequences or annotated genes and write them as "
        "bigWig (header: the FASTA's sequence sizes) and/or bedGraph into --out, with track.json. A pretrained LM "
        "gives log_p_ref (log P(reference base)) and entropy; a fine-tuned head gives prediction (per base for a "
        "position head, per --step bases from centred --window windows for a sequence head). Streams in tiles "
        "with margins, so memory is bounded at any sequence length.",
    )
    p.add_argument("--checkpoint", required=True, type=Path, metavar="DIR", help="pretrained or fine-tuned checkpoint")
    p.add_argument("--fasta", required=True, metavar="NAME_OR_PATH", help="reference FASTA or a genome name")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--regions", metavar="SPEC", help="chr:start-end[,...] (1-based inclusive), sequence names, all, or a BED file"
    )
    where.add_argument("--genes", metavar="N|IDS", help="annotated genes: the first N, or comma-separated gene ids")
    p.add_argument("--annotation", metavar="GFF", help="GFF3/GTF or genome name (default: --fasta's, if a genome name)")
    p.add_argument("--gene-flank", type=int, default=2000, metavar="BP", help="bases added around --genes (2000)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory (written atomically)")
    p.add_argument("--figure", action="store_true", help="also draw browser.png: the first region with its genes")
    p.add_argument("--config", type=Path, metavar="YAML", help="TrackConfig fields; flags override it")
    p.add_argument("--tile", type=int, help="bases per tile (default: 65536 one-pass models, 128 masked passes)")
    p.add_argument("--margin", type=int, help="context bases each side of a tile (default: 8192 one-pass, 512 masked)")
    p.add_argument("--strands", choices=("auto", "both", "forward"), help=f"LM strands (default {d.strands})")
    p.add_argument("--batch-size", type=int, help="windows per forward pass (default: about 65536 bases' worth)")
    p.add_argument("--window", type=int, help="sequence heads: window length (default: the training length)")
    p.add_argument("--step", type=int, help="sequence heads: bases per value (default: window / 4)")
    p.add_argument("--formats", type=_csv, metavar="F,...", help=f"bigwig,bedgraph (default {','.join(d.formats)})")
    p.add_argument("--bigwig-zooms", type=_zooms, metavar="auto|N",
                   help="bigWig zoom levels 0..10 (default auto: 10 up to 10 Mb of track, none above, so memory stays "
                        "bounded: pyBigWig holds zoom levels in memory, ~14 bytes per base)")  # fmt: skip
    p.add_argument("--head-output", type=int, help="fine-tuned heads: class / target index (default: the last)")
    p.add_argument("--device", help=f"{DEVICE_HELP} (default {d.device})")
    p.add_argument("--threads", type=int, help=f"torch threads (default {d.threads}: leave the default)")
    p.add_argument("--backend", choices=BACKENDS, help="scan backend (default: follows the device)")
    p.set_defaults(func=run)


def annotation_of(args: argparse.Namespace) -> str | None:
    """--annotation, else the bundled annotation of a genome named by --fasta (None when there is none)."""
    if args.annotation:
        return args.annotation
    from genomamba.genome.registry import GENOMES

    known = GENOMES.get(args.fasta)
    return args.fasta if known is not None and known.gff is not None else None


def resolve_regions(args: argparse.Namespace, genome):
    """The regions asked for, merged in FASTA order, and the transcripts to draw (or None)."""
    from genomamba.errors import GenomambaError
    from genomamba.infer.regions import gene_regions, gene_spans, parse_regions

    annotation = annotation_of(args)
    if args.gene_flank < 0:
        raise GenomambaError(f"--gene-flank must be >= 0, got {args.gene_flank}")
    if args.genes is not None:
        if annotation is None:
            raise GenomambaError("--genes needs --annotation (a GFF3/GTF, or a genome name with an annotation)")
        regions = gene_regions(annotation, genome, args.genes, args.gene_flank)
    else:
        regions = parse_regions(args.regions, genome)
    transcripts = None
    if args.figure and annotation is not None:
        transcripts = [t for _, _, ts in gene_spans(annotation, genome) for t in ts]
    return regions, transcripts


def run(args: argparse.Namespace) -> int:
    import json

    from genomamba.atomic import check_output_dir
    from genomamba.config import flag_values, load_config
    from genomamba.finetune.datasets import open_genome
    from genomamba.infer.config import TrackConfig
    from genomamba.infer.track_run import TRACK_JSON, write_tracks

    check_output_dir(args.out, TRACK_JSON)  # before the genome is opened and the regions resolved
    cfg = load_config(TrackConfig, args.config, flags=flag_values(args, _FLAGS))
    with open_genome(args.fasta) as genome:
        regions, transcripts = resolve_regions(args, genome)
        record = write_tracks(args.checkpoint, genome, regions, args.out, cfg, args.backend, args.figure, transcripts)
    keys = ("n_regions", "bases", "seconds", "bases_per_second", "device")
    print(json.dumps({"out": str(args.out), **{k: record[k] for k in keys}, "tracks": list(record["tracks"])}))
    return 0
