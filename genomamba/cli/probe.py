"""``genomamba probe``: a frozen-embedding linear probe on a labelled dataset, reported like ``evaluate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from genomamba.backends import BACKENDS

# CLI flag -> ProbeConfig field; unset flags fall back to --config, then to the dataclass defaults
_FLAGS = ("layer", "pooling", "strands", "folds", "batch_size", "kmer_baseline", "seed", "device", "threads")


def register(sub: argparse._SubParsersAction) -> None:
    from genomamba.devices import DEVICE_HELP
    from genomamba.infer.config import ProbeConfig

    d = ProbeConfig()
    p = sub.add_parser(
        "probe",
        help="frozen-embedding probe (logistic / ridge, cross-validated) on a labelled dataset",
        description="Embed every row of a labelled dataset with a checkpoint (pooled, strands averaged), fit a "
        "standardised logistic regression (classification) or ridge regression (regression) whose strength is "
        "chosen by k-fold cross-validation on the train (+ val) rows, and evaluate it on the test split. Writes "
        "metrics.json / metrics.tsv as `genomamba evaluate` does, with the k-mer baseline on the same splits.",
    )
    p.add_argument("--checkpoint", required=True, type=Path, metavar="DIR", help="any genomamba checkpoint")
    p.add_argument("--data", metavar="PATH", help="dataset path (data.path): a table, a split directory, or BED")
    p.add_argument(
        "--data-config", type=Path, metavar="YAML", help="read the data: section of this file (e.g. a finetune config)"
    )
    p.add_argument("--fasta", metavar="NAME_OR_PATH", help="reference of an interval dataset (data.fasta)")
    p.add_argument("--out-dir", required=True, type=Path, metavar="DIR", help="metrics.json and metrics.tsv")
    p.add_argument("--config", type=Path, metavar="YAML", help="ProbeConfig fields; flags override it")
    p.add_argument("--layer", type=int, help=f"hidden state after block k (default {d.layer}: last)")
    p.add_argument("--pooling", choices=("mean", "center"), help=f"(default {d.pooling})")
    p.add_argument("--strands", choices=("forward", "average", "concat"), help=f"(default {d.strands})")
    p.add_argument("--folds", type=int, help=f"cross-validation folds (default {d.folds})")
    p.add_argument("--batch-size", type=int, help=f"sequences per forward pass (default {d.batch_size})")
    p.add_argument(
        "--no-kmer-baseline", dest="kmer_baseline", action="store_const", const=False, help="skip the k-mer baseline"
    )
    p.add_argument("--seed", type=int, help=f"fold assignment seed (default {d.seed})")
    p.add_argument("--device", help=f"{DEVICE_HELP} (default {d.device})")
    p.add_argument("--threads", type=int, help=f"torch threads (default {d.threads}: leave the default)")
    p.add_argument("--backend", choices=BACKENDS, help="scan backend (default: follows the device)")
    p.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. folds=3 or data.resplit=val"
    )
    p.set_defaults(func=run)


def data_config(args: argparse.Namespace, overrides: list[str]):
    """DataConfig: the data: section of --data-config, then data.* overrides, then --data / --fasta."""
    from genomamba.config import apply_overrides, from_dict, read_yaml, set_values
    from genomamba.finetune.datasets import DataConfig

    fields = dict(read_yaml(args.data_config).get("data") or {}) if args.data_config else {}
    apply_overrides(fields, [o.removeprefix("data.") for o in overrides])
    set_values(fields, {"path": args.data, "fasta": args.fasta})
    return from_dict(DataConfig, fields, path=args.data_config, prefix="data.")


def run(args: argparse.Namespace) -> int:
    import json

    from genomamba.atomic import atomic_dir, check_output_dir
    from genomamba.config import flag_values, load_config
    from genomamba.finetune.datasets import describe_source, load_labeled
    from genomamba.infer.config import ProbeConfig
    from genomamba.infer.probe import run_probe
    from genomamba.metrics.supervised import METRICS_JSON, write_metrics

    out_dir = check_output_dir(args.out_dir, METRICS_JSON)  # before the data, the model and cross-validation
    data_overrides = [o for o in args.overrides if o.startswith("data.")]
    probe_overrides = [o for o in args.overrides if not o.startswith("data.")]
    cfg = load_config(ProbeConfig, args.config, probe_overrides, flags=flag_values(args, _FLAGS))
    data_cfg = data_config(args, data_overrides)
    data = load_labeled(data_cfg)
    data.split("test"), [data.split(name) for name in cfg.cv_splits]  # empty splits fail before any model work
    record = run_probe(data, args.checkpoint, cfg, backend=args.backend, dataset=describe_source(data_cfg))
    record["config"] = str(args.config or "")
    with atomic_dir(out_dir, METRICS_JSON) as tmp:
        write_metrics(tmp / METRICS_JSON, tmp / "metrics.tsv", record)
    for r in record["results"]:
        values = ", ".join(f"{k} {v:.4f}" for k, v in r["metrics"].items() if isinstance(v, float))
        print(f"{r['model']} {r['split']}: {values}")
    print(json.dumps({"out_dir": str(args.out_dir), "strength": record["probe"]["strength"]}))
    return 0
