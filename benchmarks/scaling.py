"""The default recipe at several token budgets: what more compute buys.

Each budget is one pretraining run of the same config with ``trainer.max_steps = tokens / tokens per step`` (no time
limit), scored like the default model (benchmarks/recipe.py): per-genome test bits/base against the best two-sided
k-mer, and dev-SNV contrast AUROCs of the model LLR against the k-mer LLR. Results go to a JSON, a plot and a README
table; a log-linear fit of each AUROC against tokens says where the issue's targets would be reached, in tokens,
CPU hours (this machine's measured tokens/s) and GPU minutes (``--gpu`` runs, or ``--gpu-tokens-per-s``).

    python benchmarks/scaling.py --tokens 10e6 40e6 160e6                     # the default model's recipe
    python benchmarks/scaling.py --config configs/pretrain/scaling_fly.yaml --tokens 10e6 40e6 160e6
    python benchmarks/scaling.py --smoke                                      # 3 tiny budgets (checks the code)
    python benchmarks/scaling.py --keep-runs benchmarks/results/scaling.json --add-run results/default_model/pretrain
    python benchmarks/scaling.py --table                                      # the README table from the JSON
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402
from default_model import CONFIG, recipe_overrides  # noqa: E402
from model_card import TARGETS, bits_per_base  # noqa: E402
from recipe import ROOT, Runner, build_windows, evaluate_snvs, machine, seed_baselines, write_json  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "scaling.json"
SMOKE_TOKENS = (10240, 20480, 40960)  # 5, 10 and 20 steps of the smoke recipe


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=CONFIG, help="pretraining recipe (default: %(default)s)")
    ap.add_argument("--tokens", type=float, nargs="+", help="token budgets (>= 3 for a curve)")
    ap.add_argument("--work", type=Path, help="working folder (default results/scaling[_smoke])")
    ap.add_argument("--out", type=Path, help=f"result JSON (default {OUT.relative_to(ROOT)}; plot beside it)")
    ap.add_argument("--gpu", action="store_true", help="train on one GPU (default_model.py's GPU settings)")
    ap.add_argument("--gpu-tokens-per-s", type=float, help="GPU training speed for the GPU-minutes column")
    ap.add_argument("--smoke", action="store_true", help="3 tiny budgets of the smoke recipe")
    ap.add_argument("--snvs-per-class", type=int, help="score only the first N dev SNVs of each class")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--table", action="store_true", help="print the README table of --out and exit")
    ap.add_argument("--add-run", type=Path, action="append", default=[], metavar="DIR",
                    help="a finished `genomamba pretrain` output of the same recipe (e.g. the default model's "
                    "results/default_model/pretrain) to include as one more budget")  # fmt: skip
    ap.add_argument("--keep-runs", type=Path, metavar="JSON",
                    help="carry the scored runs of an earlier result JSON of the same recipe into this curve (their "
                    "folders need not exist); a budget (tokens seen) scored again replaces its kept row")  # fmt: skip
    ap.add_argument("--note", default="", help="how the runs were made (load, side-by-side jobs), kept in the JSON")
    ap.add_argument("--train-only", action="store_true",
                    help="train the --tokens budgets and stop (two 1-thread invocations can train side by side; "
                    "a later full invocation reuses them)")  # fmt: skip
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="pretraining config overrides")
    args = ap.parse_args(argv)
    args.work = args.work or ROOT / ("results/scaling_smoke" if args.smoke else "results/scaling")
    args.out = args.out or (args.work / "scaling.json" if args.smoke else OUT)
    if args.smoke:
        args.tokens = args.tokens or list(SMOKE_TOKENS)
        args.snvs_per_class = args.snvs_per_class or 8
        args.bootstrap = min(args.bootstrap, 50)
    args.kept = kept_runs(args.keep_runs, ap.error) if args.keep_runs else []
    n_budgets = len(args.tokens or []) + len(args.add_run) + len(args.kept)
    if not args.table and not args.train_only and n_budgets < 3:
        ap.error("--tokens, --add-run and --keep-runs need at least 3 budgets together for a curve")
    if args.train_only and not args.tokens:
        ap.error("--train-only needs --tokens")
    return args


def train_budget(args, tokens: float, overrides: list[str], run: Runner, seed_from=()) -> Path:
    """Pretrain one budget (reused when its summary exists, resumed when interrupted); its output folder. The k-mer
    baselines come from ``seed_from`` or another budget in the same folder when their tiles match."""
    from genomamba.pretrain.config import load_pretrain_config

    cfg, _ = load_pretrain_config(args.config, overrides)
    per_step = cfg.data.tokens_per_micro_batch * cfg.trainer.accumulate_grad_batches
    steps = max(1, round(tokens / per_step))
    out = args.work / f"tokens_{int(tokens)}"
    every = max(1, steps // 4)
    settings = [f"trainer.max_steps={steps}", f"trainer.val_every_steps={every}",
                f"trainer.ckpt_every_steps={min(every, 500)}", "trainer.max_time_minutes=null"]  # fmt: skip
    step = ("pretrain", "--config", args.config, "--out", out, "--no-progress-bar", *overrides, *settings)
    done = (out / "summary.json").is_file()
    if not done:
        seed_baselines(out, [*seed_from, *sorted(args.work.glob("tokens_*"))])
    resume = ["--resume"] if not done and (out / "lightning" / "last.ckpt").is_file() else []
    run.genomamba_unless(done, *step, *resume)
    return out


def kept_runs(path: Path, error) -> list[dict]:
    """The scored runs of an earlier scaling JSON, each marked with where it was kept from."""
    try:
        runs = json.loads(path.read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        error(f"--keep-runs {path}: not a scaling result JSON ({exc.__class__.__name__}: {exc})")
    return [{**r, "kept_from": str(path)} for r in runs]


def merge_runs(kept: list[dict], scored: list[dict]) -> list[dict]:
    """Kept and newly scored runs by tokens; a newly scored run replaces a kept one of the same budget (tokens
    seen). Not by folder: a folder may since hold a retrained run, as results/default_model/pretrain does."""
    budgets = {r["tokens"] for r in scored}
    return sorted([*(r for r in kept if r["tokens"] not in budgets), *scored], key=lambda r: r["tokens"])


def snv_folder(run_dir: Path) -> Path:
    """Where a run's dev-SNV scores go: ``make model``'s WORK for its WORK/pretrain (told by WORK/plan.json), so an
    ``--add-run`` of the default model reuses the scores benchmarks/default_model.py cached in WORK/snvs with the
    same arguments instead of scoring them again (~8 minutes on one thread); the run folder itself otherwise."""
    work = run_dir.parent
    return work if run_dir.name == "pretrain" and (work / "plan.json").is_file() else run_dir


def score_run(args, out: Path, overrides: list[str], run: Runner) -> dict:
    """Bits/base and dev-SNV AUROCs of a finished pretraining output folder."""
    from genomamba.pretrain.config import load_pretrain_config

    cfg, _ = load_pretrain_config(args.config, overrides)
    if not (out / "summary.json").is_file():
        raise SystemExit(f"{out}: no summary.json (not a finished pretraining run)")
    summary = json.loads((out / "summary.json").read_text())
    focal = [s.name for s in cfg.data.sources]
    vep = evaluate_snvs(out / "best", focal, snv_folder(out), run, cfg.data.seq_len, 4 if args.gpu else 1,
                        "cuda" if args.gpu else "cpu", args.snvs_per_class, args.bootstrap)  # fmt: skip
    seen = summary["steps"] * summary["tokens_per_step"]
    return {
        "run": str(out),
        "tokens": seen,
        "steps": summary["steps"],
        "fit_seconds": round(summary["fit_seconds"], 1),
        "tokens_per_s": seen / max(summary["fit_seconds"], 1e-9),
        "accelerator": summary["accelerator"],
        "bits_per_base": bits_per_base(summary),
        "vep_auroc": vep,
    }


def _speed(runs: list[dict], accelerator: str) -> float | None:
    """Training tokens/s of the largest run on ``accelerator``."""
    on = [r for r in runs if r["accelerator"] == accelerator]
    return max(on, key=lambda r: r["tokens"])["tokens_per_s"] if on else None


def trend(runs: list[dict], gpu_tps: float | None) -> dict:
    """Per (genome, contrast): AUROC = a + b log10(tokens), and where it reaches each target. Hours and minutes use
    the training speed of the largest run on each kind of machine (the closest to a long run: least of its time in
    warm-up and evaluation, and the current code when earlier runs are kept)."""
    cpu, gpu = _speed(runs, "cpu"), _speed(runs, "gpu") or gpu_tps
    out = {}
    for genome in runs[0]["vep_auroc"]:
        for contrast, goal in TARGETS.items():
            pts = [(r["tokens"], r["vep_auroc"][genome]["contrasts"][contrast]["model"]) for r in runs]
            pts = [(t, a) for t, a in pts if a is not None]
            if len(pts) < 2:
                continue
            x, y = np.log10([t for t, _ in pts]), np.array([a for _, a in pts])
            b, a = np.polyfit(x, y, 1)
            decades = (goal - a) / b if b > 1e-6 else math.inf  # flat (or round-off) slope: never reached
            need = 10**decades if decades < 30 else None  # beyond 1e30 tokens is "not on this trend"
            out[f"{genome}/{contrast}"] = {
                "slope_per_decade": round(float(b), 4),
                "target": goal,
                "tokens_to_target": None if need is None else float(f"{need:.3g}"),
                "cpu_hours": None if need is None or not cpu else round(need / cpu / 3600, 1),
                "gpu_minutes": None if need is None or not gpu else round(need / gpu / 60, 1),
            }
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    tokens = [r["tokens"] for r in runs]
    fig, (ax_b, ax_a) = plt.subplots(1, 2, figsize=(12, 4.5))
    for genome in runs[0]["bits_per_base"]:
        deltas = [r["bits_per_base"][genome].get("model_minus_kmer") for r in runs]
        if None not in deltas:
            ax_b.plot(tokens, deltas, marker="o", label=genome)
    ax_b.axhline(0, color="gray", linewidth=1)
    ax_b.axhline(-0.1, color="gray", linestyle="--", linewidth=1)
    ax_b.set(xscale="log", xlabel="tokens seen", ylabel="test bits/base - best two-sided k-mer", title="bits/base")
    ax_b.legend(fontsize=7)
    for genome in runs[0]["vep_auroc"]:
        for contrast in runs[0]["vep_auroc"][genome]["contrasts"]:
            ys = [r["vep_auroc"][genome]["contrasts"][contrast]["model"] for r in runs]
            if None not in ys:
                ax_a.plot(tokens, ys, marker="o", label=f"{genome} {contrast.replace('_vs_', ' vs ')}")
    for goal in TARGETS.values():
        ax_a.axhline(goal, color="gray", linestyle="--", linewidth=1)
    ax_a.axhline(0.5, color="gray", linewidth=1)
    ax_a.set(xscale="log", xlabel="tokens seen", ylabel="AUROC (model LLR)", title="dev-SNV contrasts")
    ax_a.legend(fontsize=6)
    fig.suptitle(f"{Path(result['config']).name} on {result['machine_text']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _f(x, fmt="{:.3f}") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def _tokens(n: float) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def table(result: dict) -> str:
    """Markdown: one row per budget; bits/base minus the best k-mer per genome, then every AUROC (k-mer in brackets)."""
    runs = result["runs"]
    genomes = [g for g in runs[0]["bits_per_base"] if g in runs[0]["vep_auroc"]] or list(runs[0]["bits_per_base"])
    pairs = [(g, c) for g in runs[0]["vep_auroc"] for c in runs[0]["vep_auroc"][g]["contrasts"]]
    head = ["tokens", "train min", *(f"{g} Δbits" for g in genomes), *(f"{g} {c.split('_vs_')[0]}" for g, c in pairs)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in runs:
        cells = [_tokens(r["tokens"]), f"{r['fit_seconds'] / 60:.1f}"]
        cells += [_f(r["bits_per_base"][g].get("model_minus_kmer"), "{:+.3f}") for g in genomes]
        for g, c in pairs:
            row = r["vep_auroc"][g]["contrasts"][c]
            cells.append(f"{_f(row['model'])} ({_f(row['kmer'])})")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Where the log-linear trend reaches the targets:", ""]
    for key, t in result.get("trend", {}).items():
        where = "not on this trend (flat or falling)"
        if t["tokens_to_target"] is not None:
            hours, minutes = _f(t["cpu_hours"], "{:.3g}"), _f(t["gpu_minutes"], "{:.3g}")
            where = f"{t['tokens_to_target']:.3g} tokens = {hours} CPU h / {minutes} GPU min"
        lines.append(f"- {key} >= {t['target']}: {where}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.table:
        print(table(json.loads(args.out.read_text())))
        return 0
    from genomamba.pretrain.config import load_pretrain_config

    overrides = recipe_overrides(args.gpu, args.smoke, args.work, args.overrides)
    cfg, _ = load_pretrain_config(args.config, overrides)
    run = Runner()
    build_windows([{"name": s.name, "path": s.path} for s in cfg.data.sources], run)
    trained = [train_budget(args, t, overrides, run) for t in sorted(args.tokens or [])]
    if args.train_only:
        print(f"trained {len(trained)} budget(s) in {args.work}", file=sys.stderr)
        return 0
    runs = merge_runs(args.kept, [score_run(args, out, overrides, run) for out in [*trained, *args.add_run]])
    m = machine(cfg.trainer.threads)
    result = {
        "what": "the same recipe at several token budgets: per-genome test bits/base minus the best two-sided k-mer "
        "and dev-SNV contrast AUROCs (model LLR; k-mer LLR in brackets)",
        "config": str(args.config),
        "overrides": overrides,
        "machine": m,
        "machine_text": m["gpu"] or f"{m['cpu']}, {cfg.trainer.threads} thread(s)",
        "note": args.note,
        "load_average": list(os.getloadavg()),
        "runs": runs,
        "trend": trend(runs, args.gpu_tokens_per_s),
        "commands": run.commands,
    }
    write_json(args.out, result)
    plot(result, args.out.with_suffix(".png"))
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
