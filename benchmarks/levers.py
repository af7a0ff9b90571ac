"""Recipe levers of the default model, one at a time, at a fixed token budget: keep a lever only if the dev SNVs say so.

A lever is a name plus config overrides of the default recipe (configs/pretrain/default_model.yaml). Each lever run
trains the same token budget as a baseline run of the unchanged recipe (by default the scaling curve's 7.5M-token
run, reused from its folder), and both are scored the same way as the scaling curve (benchmarks/scaling.py):
per-genome test bits/base against the best two-sided k-mer, and dev-SNV contrast AUROCs with bootstrap CIs. The
JSON lists each lever's differences from the baseline and, where both runs' dev-SNV scores are at hand (not for a
baseline reused from a scaling JSON), a paired bootstrap 95 % CI of each AUROC difference: the runs score the same
SNVs, so the paired CI is much tighter than the per-run CIs, which mostly measure which SNVs were drawn.

    python benchmarks/levers.py --tokens 7.5e6 --baseline results/scaling/tokens_7500000 \\
        --lever ctx4096 data.seq_len=4096 data.eval_seq_len=1024 --lever softmask1 data.softmask_weight=1.0
    python benchmarks/levers.py --baseline benchmarks/results/scaling.json ...   # the scaling curve's scored run
    python benchmarks/levers.py ... --train-only     # train the levers and stop (score later, e.g. on a quiet box)
    python benchmarks/levers.py --table              # the README table from the JSON
    python benchmarks/levers.py --merge a.json b.json   # levers run side by side (same baseline) into one --out
    python benchmarks/levers.py ... --equal-compute --lever wide model.d_model=192   # model size at fixed compute

With ``--equal-compute`` a lever trains for the baseline's compute instead of its tokens: a short timing probe runs
the unchanged recipe and the lever back to back (same machine, same load, final sequence length), and the lever's
token budget is the baseline's scaled by their tokens/s ratio; this is how a bigger or smaller model is compared.

A lever that changes ``data.seq_len`` should pin ``data.eval_seq_len`` to the baseline's (1024), so that bits/base
are scored on the same tiles (and short held-out windows of small genomes still hold a tile); its SNV AUROCs use the
lever's own context (``data.seq_len``), as a user would.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import argparse  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402
from default_model import CONFIG, recipe_overrides  # noqa: E402
from recipe import ROOT, Runner, build_windows, contrast_items, machine, read_scores, time_stages, write_json  # noqa: E402
from scaling import _f, score_run, train_budget  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "levers.json"


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--tokens", type=float, default=7.5e6, help="token budget of every lever run (and the baseline)")
    ap.add_argument("--baseline", type=Path,
                    help="a finished run of the unchanged recipe at --tokens, or a scaling JSON whose scored run at "
                         "--tokens is reused as it stands (else the baseline is trained)")  # fmt: skip
    ap.add_argument("--lever", nargs="+", action="append", default=[], metavar=("NAME", "KEY=VALUE"),
                    help="a lever: its name, then its config overrides")  # fmt: skip
    ap.add_argument("--work", type=Path, default=ROOT / "results" / "levers")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--equal-compute",
        action="store_true",
        help="train each lever for the baseline's compute (tokens scaled by the probed tokens/s ratio)",
    )
    ap.add_argument("--probe-steps", type=int, default=30, help="steps of each --equal-compute timing probe")
    ap.add_argument("--train-only", action="store_true")
    ap.add_argument("--table", action="store_true", help="print the README table of --out and exit")
    ap.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                    help="combine levers JSONs of the same baseline run into --out and exit")  # fmt: skip
    ap.add_argument("--note", default="")
    ap.add_argument("--snvs-per-class", type=int)
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args(argv)
    args.gpu = False  # score_run's device choice: levers are measured on the CPU
    if not (args.table or args.merge):
        if not args.lever:
            ap.error("give at least one --lever NAME KEY=VALUE ...")
        for lever in args.lever:
            if len(lever) < 2 or "=" in lever[0] or any("=" not in o for o in lever[1:]):
                ap.error(f"--lever {' '.join(lever)}: expected NAME KEY=VALUE [KEY=VALUE ...]")
        if args.tokens < 1e5 or args.tokens > 1e12:
            ap.error(f"--tokens {args.tokens:g}: expected 1e5 .. 1e12")
        if not 5 <= args.probe_steps <= 1000:
            ap.error(f"--probe-steps {args.probe_steps}: expected 5 .. 1000")
    return args


def scored_baseline(path: Path, tokens: float) -> dict:
    """The scaling curve's scored run at ``tokens`` (within 1 %): the same recipe and scoring, so it is reused as the
    baseline without retraining (its run folder may be gone)."""
    try:
        runs = json.loads(path.read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"{path}: not a scaling JSON with a 'runs' list ({e})") from None
    near = [r for r in runs if abs(r["tokens"] - tokens) <= 0.01 * tokens]
    if not near:
        have = ", ".join(f"{r['tokens']:,}" for r in runs)
        raise SystemExit(f"{path}: no scored run at {tokens:,.0f} tokens (has {have})")
    return {**near[0], "reused_from": str(path)}


def matched_tokens(tokens: float, base: dict, lever: dict) -> float:
    """The lever's token budget at the baseline's compute: ``tokens`` x (lever tokens/s / baseline tokens/s), each
    from a timing probe (``tokens_per_step`` / ``step_seconds``)."""
    rate = lambda p: p["tokens_per_step"] / p["step_seconds"]  # noqa: E731
    return tokens * rate(lever) / rate(base)


def probe_pair(args, name: str, base_overrides: list[str], overrides: list[str], run: Runner) -> dict:
    """Time the unchanged recipe and the lever back to back at the final sequence length (no warm-up stages, so
    the probe times the length most steps run at); their tokens/s give the lever's equal-compute token budget.
    Kept in ``<work>/<name>/probe.json`` and reused, so a rerun (e.g. scoring after --train-only) finds its run."""
    cache = args.work / name / "probe.json"
    if cache.is_file():
        out = json.loads(cache.read_text())
        if out.get("for_tokens") == args.tokens and out.get("overrides") == list(overrides):
            return out
    out = {"for_tokens": args.tokens, "overrides": list(overrides)}
    for key, ov in (("baseline", base_overrides), ("lever", [*base_overrides, *overrides])):
        out[key] = time_stages(args.config, args.work / name / f"probe_{key}", ov, run, steps=args.probe_steps)
    out["tokens"] = matched_tokens(args.tokens, out["baseline"], out["lever"])
    write_json(cache, out)
    return out


def same_run(base: dict) -> bool:
    """Whether ``base["run"]`` still holds the run ``base`` describes. A baseline reused from a scaling JSON names
    the folder it was trained in, which a later run may have taken over (the default model's folder is retrained
    in place): its score TSVs then belong to another checkpoint and must not be paired with a lever's."""
    if "reused_from" not in base:
        return True
    try:
        summary = json.loads((Path(base["run"]) / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return summary.get("steps") == base.get("steps")


def paired_differences(base: dict, lever: dict, n_boot: int) -> dict:
    """Lever minus baseline AUROC per ``genome/contrast`` with a paired bootstrap 95 % CI: both runs scored the same
    dev SNVs, so resampling the SNVs together cancels the SNV-sampling noise the per-run CIs carry. Read from the
    runs' score-vcf TSVs (``<run>/snvs``); a genome whose TSVs are gone (a reused baseline) is left out."""
    from genomamba.metrics.ranking import paired_auroc_ci

    out = {}
    if not same_run(base):
        print(f"no paired CIs: {base['run']} now holds another run than the reused baseline", file=sys.stderr)
        return out
    for genome, scores in lever["vep_auroc"].items():
        other = base["vep_auroc"].get(genome)
        if other is None:
            continue
        tsvs = [
            Path(r["run"]) / "snvs" / f"{genome}.model.c{v['context']}.tsv" for r, v in ((lever, scores), (base, other))
        ]
        if not all(t.is_file() for t in tsvs):
            continue
        a, b = map(read_scores, tsvs)
        if not (np.array_equal(a["chrom"], b["chrom"]) and np.array_equal(a["csq"], b["csq"])):
            raise SystemExit(f"{tsvs[0]} and {tsvs[1]}: not the same SNVs in the same order")
        for contrast, ix, y in contrast_items(a["csq"], np.isfinite(a["score"]) & np.isfinite(b["score"])):
            if not 0 < y.sum() < y.size:
                continue
            r = paired_auroc_ci(y, -a["score"][ix], -b["score"][ix], n_boot, seed=0)
            out[f"{genome}/{contrast}"] = {"difference": r["difference"], "ci": r["difference_ci"], "n": r["n"]}
    return out


def compare(base: dict, lever: dict) -> dict:
    """Lever minus baseline: per-genome Δ(bits/base - k-mer), Δ non-repeat bits/base and Δ AUROC per genome and
    contrast."""
    out: dict = {"bits": {}, "bits_unmasked": {}, "auroc": {}}
    for genome, row in lever["bits_per_base"].items():
        for key, field in (("bits", "model_minus_kmer"), ("bits_unmasked", "model_unmasked")):
            a, b = row.get(field), base["bits_per_base"].get(genome, {}).get(field)
            out[key][genome] = None if a is None or b is None else round(a - b, 4)
    for genome, scores in lever["vep_auroc"].items():
        for contrast, row in scores["contrasts"].items():
            b = base["vep_auroc"][genome]["contrasts"][contrast]["model"]
            a = row["model"]
            out["auroc"][f"{genome}/{contrast}"] = None if a is None or b is None else round(a - b, 4)
    return out


def _mean_bits(run: dict, genomes, field: str = "model_minus_kmer", minus: dict | None = None) -> str:
    """Mean ``field`` of a scored run's bits/base rows over those of ``genomes`` that have it; with ``minus`` (the
    baseline), the mean difference from it, and with a baseline-only field on the baseline row, its mean."""
    d = []
    for g in genomes:
        a = run["bits_per_base"].get(g, {}).get(field)
        b = 0.0 if minus is None else minus["bits_per_base"].get(g, {}).get(field)
        if a is not None and b is not None:
            d.append(a - b)
    fmt = "{:+.3f}" if minus is not None or field == "model_minus_kmer" else "{:.3f}"
    return _f(sum(d) / len(d) if d else None, fmt)


def _short(override: str) -> str:
    """An override as the table shows it: a ``data.sources`` list by its sources' names and weights."""
    key, _, value = override.partition("=")
    if key == "data.sources":
        import yaml

        try:
            return f"{key}=[" + ", ".join(f"{d['name']}:{d.get('weight', 1)}" for d in yaml.safe_load(value)) + "]"
        except (yaml.YAMLError, TypeError, KeyError):
            pass
    return override


def _significant(paired: dict | None) -> bool:
    """Whether a paired difference's 95 % CI excludes 0."""
    ci = (paired or {}).get("ci")
    return bool(ci) and (ci[0] > 0 or ci[1] < 0)


def table(result: dict) -> str:
    """Markdown: baseline, then each lever, with its AUROCs (difference from the baseline in brackets; * where the
    paired bootstrap CI of the difference excludes 0)."""
    base = result["baseline"]
    pairs = [(g, c) for g in base["vep_auroc"] for c in base["vep_auroc"][g]["contrasts"] if c != "splice_vs_intron"]
    contrasts = [f"{g} {c.split('_vs_')[0]}" for g, c in pairs]
    focal = list(base["vep_auroc"])  # the genomes with dev SNVs
    head = [
        "run",
        "overrides",
        "tokens",
        "train min",
        "mean Δbits vs k-mer",
        "focal Δbits",
        "focal non-repeat bits (Δ)",
        *contrasts,
    ]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for name, lever in [("baseline", {"run": base, "overrides": []}), *result["levers"].items()]:
        r, overrides = lever["run"], " ".join(map(_short, lever["overrides"]))
        cells = [name, f"`{overrides}`" if overrides else "-", f"{r['tokens'] / 1e6:.1f}M",
                 f"{r['fit_seconds'] / 60:.1f}", _mean_bits(r, r["bits_per_base"]), _mean_bits(r, focal),
                 _mean_bits(r, focal, "model_unmasked", None if r is base else base)]  # fmt: skip
        for g, c in pairs:
            a = r["vep_auroc"][g]["contrasts"][c]["model"]
            b = base["vep_auroc"][g]["contrasts"][c]["model"]
            star = "*" if _significant(lever.get("paired", {}).get(f"{g}/{c}")) else ""
            cells.append(_f(a) if r is base else f"{_f(a)} ({_f(None if a is None else a - b, '{:+.3f}')}{star})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def merge(paths: list[Path]) -> dict:
    """One levers JSON from several runs of this script against the same baseline run (levers trained side by side
    in separate processes): levers, commands and notes combined."""
    parts = []
    for path in paths:
        try:
            parts.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as e:
            raise SystemExit(f"{path}: cannot read a levers JSON ({e})") from None
    out = {**parts[0], "levers": {}, "commands": []}
    for path, part in zip(paths, parts):
        if part["baseline"]["run"] != out["baseline"]["run"]:
            raise SystemExit(f"{path}: baseline {part['baseline']['run']} is not {out['baseline']['run']}")
        out["levers"].update(part["levers"])
        out["commands"] += part["commands"]
    out["note"] = " | ".join(dict.fromkeys(p["note"] for p in parts if p["note"]))
    out["equal_compute"] = any(p.get("equal_compute") for p in parts)
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.table:
        print(table(json.loads(args.out.read_text())))
        return 0
    if args.merge:
        result = merge(args.merge)
        write_json(args.out, result)
        print(table(result))
        return 0
    run = Runner()
    base_overrides = recipe_overrides(False, False, args.work, [])
    from genomamba.pretrain.config import load_pretrain_config

    cfg, _ = load_pretrain_config(args.config, base_overrides)
    build_windows([{"name": s.name, "path": s.path} for s in cfg.data.sources], run)
    # the baseline: a scaling JSON's scored run (reused as it stands), a finished run folder, or trained here
    reused = scored_baseline(args.baseline, args.tokens) if args.baseline and args.baseline.suffix == ".json" else None
    plan, seed = {}, []
    if reused is None:
        ns = argparse.Namespace(**{**vars(args), "work": args.work / "baseline"})
        out = args.baseline or train_budget(ns, args.tokens, base_overrides, run)
        plan["baseline"], seed = (out, base_overrides), [out]
    probes = {}
    for name, *overrides in args.lever:
        ns = argparse.Namespace(**{**vars(args), "work": args.work / name})
        tokens = args.tokens
        if args.equal_compute:
            probes[name] = probe_pair(args, name, base_overrides, overrides, run)
            tokens = probes[name]["tokens"]
        out = train_budget(ns, tokens, [*base_overrides, *overrides], run, seed_from=seed)
        plan[name] = (out, [*base_overrides, *overrides])
    if args.train_only:
        return 0
    scored = {name: score_run(args, out, overrides, run) for name, (out, overrides) in plan.items()}
    base = reused or scored.pop("baseline")
    result = {
        "what": "recipe levers of the default model, each at the baseline's token budget or, where it has an "
        "'equal_compute' probe, at its compute; scored like the scaling curve",
        "config": str(args.config),
        "tokens": args.tokens,
        "equal_compute": args.equal_compute,
        "machine": machine(),
        "note": args.note,
        "baseline": base,
        "levers": {
            name: {
                "overrides": list(args.lever[i][1:]),
                "run": r,
                "minus_baseline": compare(base, r),
                "paired": paired_differences(base, r, args.bootstrap),
                **({"equal_compute": probes[name]} if name in probes else {}),
            }
            for i, (name, r) in enumerate(scored.items())
        },
        "commands": run.commands,
    }
    write_json(args.out, result)
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
