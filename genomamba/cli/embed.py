"""``genomamba embed``: embeddings of sequences, intervals or windows from any checkpoint and layer."""

from __future__ import annotations

import argparse
from pathlib import Path

from genomamba.backends import BACKENDS

# CLI flag -> EmbedConfig field; unset flags fall back to --config, then to the dataclass defaults
_FLAGS = ("layer", "pooling", "strands", "batch_size", "chunk_rows", "flank", "dtype", "device", "threads")


def register(sub: argparse._SubParsersAction) -> None:
    from genomamba.devices import DEVICE_HELP
    from genomamba.infer.config import EmbedConfig

    d = EmbedConfig()
    p = sub.add_parser(
        "embed",
        help="embeddings (pooled -> Parquet, per token -> .npy) from any checkpoint and layer",
        description="Embed a sequence table (CSV/TSV/Parquet), intervals (BED + --fasta) or a windows directory "
        "with a pretrained or fine-tuned checkpoint. Pooled vectors (mean|center) go to .parquet, one row per "
        "input with its id and coordinates; per-token features (pooling none) go to .npy with "
        "<out>.index.parquet giving each row's offset and length. Streams in bounded memory.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--sequences", type=Path, metavar="FILE", help="CSV/TSV/Parquet with a sequence column")
    src.add_argument("--intervals", type=Path, metavar="BED", help="BED (0-based) or chrom/start/end table; --fasta")
    src.add_argument("--windows", type=Path, metavar="DIR", help="a `genomamba windows` directory")
    p.add_argument("--fasta", metavar="NAME_OR_PATH", help="reference of --intervals (FASTA path or genome name)")
    p.add_argument("--sequence-column", default="sequence", help="--sequences column (default sequence)")
    p.add_argument("--id-column", help="--sequences column with row ids (default: <file>:<line>)")
    p.add_argument("--split", choices=("train", "val", "test"), help="--windows: only this split")
    p.add_argument("--checkpoint", required=True, type=Path, metavar="DIR", help="any genomamba checkpoint")
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help=".parquet (pooled) or .npy (per token)")
    p.add_argument("--config", type=Path, metavar="YAML", help="EmbedConfig fields; flags override it")
    p.add_argument("--layer", type=int, help=f"hidden state after block k; 0 = embedding (default {d.layer}: last)")
    p.add_argument("--pooling", choices=("mean", "center", "none"), help=f"(default {d.pooling})")
    p.add_argument(
        "--strands",
        choices=("forward", "average", "concat"),
        help=f"(default {d.strands}) average: mean of x and its reverse complement (RC-invariant); concat: both",
    )
    p.add_argument("--batch-size", type=int, help=f"sequences per forward pass (default {d.batch_size})")
    p.add_argument("--chunk-rows", type=int, help=f"input rows held in memory at once (default {d.chunk_rows})")
    p.add_argument("--flank", type=int, help=f"--intervals: context bases each side (default {d.flank})")
    p.add_argument("--dtype", choices=("float32", "float16"), help=f".npy precision (default {d.dtype})")
    p.add_argument("--device", help=f"{DEVICE_HELP} (default {d.device})")
    p.add_argument("--threads", type=int, help=f"torch threads (default {d.threads}: leave the default)")
    p.add_argument("--backend", choices=BACKENDS, help="scan backend (default: follows the device)")
    p.set_defaults(func=run)


def open_source(args: argparse.Namespace, flank: int):
    """The input rows named by --sequences / --intervals (+ --fasta) / --windows."""
    from genomamba.errors import GenomambaError
    from genomamba.infer import sources

    if args.intervals is not None:
        if not args.fasta:
            raise GenomambaError("--intervals needs --fasta (the reference the intervals are on)", args.intervals)
        from genomamba.finetune.datasets import open_genome

        return sources.Intervals(args.intervals, open_genome(args.fasta), flank)
    if args.windows is not None:
        return sources.Windows(args.windows, args.split)
    return sources.SequenceTable(args.sequences, args.sequence_column, args.id_column)


def run(args: argparse.Namespace) -> int:
    import json

    from genomamba.config import flag_values, load_config
    from genomamba.infer.config import EmbedConfig
    from genomamba.infer.embed import embed, output_kind

    cfg = load_config(EmbedConfig, args.config, flags=flag_values(args, _FLAGS))
    output_kind(args.out, cfg.pooling)  # a wrong extension fails before any input is read
    source = open_source(args, cfg.flank)
    summary = embed(source, args.checkpoint, args.out, cfg, backend=args.backend)
    print(json.dumps(summary))
    return 0
