"""``genomamba predict``: per-sequence scores / probabilities of a fine-tuned checkpoint, to Parquet or TSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from genomamba.backends import BACKENDS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="score sequences with a fine-tuned checkpoint (Parquet or TSV)",
        description="Score one split of the checkpoint's own dataset, or a new table (--input; labels optional). "
        "Columns: id, split, label (null when absent), then score = P(positive) for binary tasks, prob_<class> for "
        "multi-class (plus pred = the arg-max class), or pred for regression. Provenance (checkpoint, dataset, "
        "split, task, classes, config) goes to <out>.json beside the table; `genomamba evaluate` reads both.",
    )
    p.add_argument("--checkpoint", required=True, type=Path, metavar="DIR", help="output of genomamba finetune")
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help=".parquet, or .tsv (.tsv.gz)")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"), help="rows to score")
    p.add_argument("--input", metavar="PATH", help="a different table/intervals file (same column options)")
    p.add_argument("--fasta", metavar="NAME_OR_PATH", help="reference for an interval --input")
    p.add_argument("--flank", type=int, help="context bases around intervals (default: as in training)")
    p.add_argument("--sequence-column", help="default: as in training")
    p.add_argument("--label-column", help="default: as in training (absent column: no labels)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--strands", choices=("both", "forward"), help="default: the checkpoint's eval_strands")
    p.add_argument("--backend", choices=BACKENDS, help="scan backend")
    p.add_argument("--device", default="auto", help="auto (CUDA when present, logged), cpu, cuda or cuda:N")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from genomamba.atomic import atomic_file
    from genomamba.config import from_dict
    from genomamba.errors import GenomambaError
    from genomamba.finetune.datasets import DataConfig, describe_source, load_labeled
    from genomamba.finetune.module import predict_tokens, read_finetune_meta
    from genomamba.infer.device import load_for_inference

    net, _ = load_for_inference(args.checkpoint, args.device, args.backend)
    if not hasattr(net, "head_config"):
        raise GenomambaError("a pretrained LM has no head: fine-tune it first (genomamba finetune)", args.checkpoint)
    meta = read_finetune_meta(net, args.checkpoint)
    data_cfg = from_dict(DataConfig, meta["config"]["data"])
    changes: dict = {"task": meta["task"], "classes": meta["classes"] or None}
    if args.input:
        # a new input is a sequence table unless --fasta names its reference (explicit, never guessed)
        changes.update(path=args.input, resplit=None, id_column=None, fasta=args.fasta)
    for flag, key in (
        (args.flank, "flank"),
        (args.sequence_column, "sequence_column"),
        (args.label_column, "label_column"),
    ):
        if flag is not None:
            changes[key] = flag
    data_cfg = dataclasses.replace(data_cfg, **changes)
    data = load_labeled(data_cfg, require_labels=args.input is None, default_split="test" if args.input else None)
    if args.strands:
        net.head_config.strands = args.strands
    names = ("train", "val", "test") if args.split == "all" else (args.split,)
    if args.split != "all":
        data.split(args.split)  # an empty split is an error
    import polars as pl

    frames = []
    for name in names:
        part = data.splits[name]
        if len(part) == 0:
            continue
        scores = predict_tokens(net, data.task, part.tokens, args.batch_size, meta["target_mean"], meta["target_std"])
        cols: dict = {"id": part.ids, "split": [name] * len(part)}
        if data.task == "regression":
            cols["label"] = [None if v != v else float(v) for v in part.labels]
            cols["pred"] = scores.astype(float)
        else:
            cols["label"] = [data.classes[k] if k >= 0 else None for k in part.labels]
            if data.task == "binary":
                cols["score"] = scores.astype(float)
                cols["pred"] = [data.classes[int(s >= 0.5)] for s in scores]
            else:
                for k, c in enumerate(data.classes):
                    cols[f"prob_{c}"] = scores[:, k].astype(float)
                cols["pred"] = [data.classes[k] for k in scores.argmax(axis=1)]
        frames.append(
            pl.DataFrame(cols, schema_overrides={"label": pl.Float64 if data.task == "regression" else pl.Utf8})
        )
    if not frames:
        raise GenomambaError("no rows to score in any split", data_cfg.path)
    table = pl.concat(frames)
    with atomic_file(args.out) as tmp:
        if args.out.name.endswith(".parquet"):
            table.write_parquet(tmp)
        elif args.out.name.endswith(".gz"):
            import gzip

            with gzip.open(tmp, "wb") as fh:
                table.write_csv(fh, separator="\t")
        else:
            table.write_csv(tmp, separator="\t")
    provenance = {
        "checkpoint": str(args.checkpoint),
        "dataset": describe_source(data_cfg),
        "data": dataclasses.asdict(data_cfg),
        "train_data": meta["config"]["data"],
        "split": args.split,
        "task": data.task,
        "classes": data.classes,
        "strands": net.head_config.strands,
        "config": meta.get("config_path") or "",
        "rows": table.height,
    }
    with atomic_file(Path(f"{args.out}.json")) as tmp:
        tmp.write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps({"out": str(args.out), "rows": table.height, "task": data.task, "split": args.split}))
    return 0
