"""The end-of-workflow summary: one readable table of the headline metrics of every stage.

Each stage writes its own JSON (windows QC, pretraining summary, fine-tuning metrics, VEP metrics); this module
only collects numbers from them, so the summary can never disagree with the files it points at.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from genomamba.atomic import atomic_file, check_output_path
from genomamba.errors import GenomambaError


def _load(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GenomambaError(f"cannot read metrics ({exc})", path) from None


def flatten_numbers(data, prefix: str = "", depth: int = 4) -> Iterable[tuple[str, float]]:
    """Yield ``(dotted.key, value)`` for the finite numeric leaves of a nested JSON object."""
    if isinstance(data, bool):
        return
    if isinstance(data, (int, float)):
        if math.isfinite(data):
            yield prefix, float(data)
        return
    if isinstance(data, dict) and depth > 0:
        for key, value in data.items():
            yield from flatten_numbers(value, f"{prefix}.{key}" if prefix else str(key), depth - 1)


def headline(data: dict) -> dict[str, float]:
    """The headline numbers of one stage's JSON, recognised by its shape (windows QC, pretraining summary,
    fine-tuning metrics, VEP metrics); any other JSON contributes all of its numeric leaves."""
    out: dict[str, float] = {}
    if "totals" in data and "splits" in data:  # genomamba windows qc.json
        out["windows kept"] = data["totals"]["kept"]
        for name, split in data["splits"].items():
            out[f"{name} windows"] = split["windows"]
    elif "best_val_bits_per_base" in data:  # genomamba pretrain summary.json
        out["steps"] = data.get("steps")
        out["val bits/base (model)"] = data["best_val_bits_per_base"]
        out["test bits/base (model)"] = data.get("test_best_model", {}).get("test/bits_per_base")
        for family in ("one_sided", "two_sided"):
            best = data.get(f"test_vs_best_{family}")
            if best:
                out[f"test bits/base (best {family} k-mer: {best['baseline']})"] = best["baseline_bits_per_base"]
        out["wall seconds"] = data.get("wall_seconds")
    elif isinstance(data.get("results"), list) and data["results"] and "metrics" in data["results"][0]:
        for row in data["results"]:  # genomamba evaluate metrics.json
            for key in ("auroc", "auprc", "mcc", "spearman", "pearson", "r2"):
                if key in row["metrics"]:
                    out[f"{row['model']} {row['split']} {key}"] = row["metrics"][key]
        for c in data.get("model_vs_kmer", []):
            out[f"model - k-mer {c['split']} auroc"] = c["difference"]
    elif isinstance(data.get("results"), list) and data["results"] and "comparison" in data["results"][0]:
        for row in data["results"]:  # genomamba evaluate-vep vep_metrics.json
            if row["comparison"] == "overall" or row["comparison"].startswith("contrast:"):
                out[f"{row['scores']} {row['comparison']} auroc"] = row.get("auroc")
    else:
        out = dict(flatten_numbers(data))
    return {k: float(v) for k, v in out.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def _ci(ci) -> str:
    return f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""


def notes(data: dict) -> list[str]:
    """Text facts of a stage's JSON that are not numbers: the start model of a fine-tuned checkpoint, and the model
    against the k-mer baseline with 95 % CIs (genomamba evaluate --kmer-baseline)."""
    lines = [f"model: {data['start_model']}"] if data.get("start_model") else []
    for c in data.get("model_vs_kmer", []):
        lines.append(
            f"{c['split']} AUROC: model {c['model_auroc']:.3f}{_ci(c['model_ci'])} vs k-mer {c['kmer_auroc']:.3f}"
            f"{_ci(c['kmer_ci'])}; model - k-mer {c['difference']:+.3f}{_ci(c['difference_ci'])} "
            f"(n={c['n']}, paired bootstrap, 95 % CI)"
        )
    return lines


def summarize(metrics: list[tuple[str, Path, list[str]]], out_txt: Path, out_json: Path) -> dict:
    """Write a text table and a JSON of the headline numbers of each stage.

    Args:
        metrics: ``(label, json_path, keys)``; ``keys`` selects dotted keys of the JSON's numeric leaves instead
            of its headline numbers.
    """
    return write_summary(*collect(metrics), out_txt, out_json)


def collect(metrics: list[tuple[str, Path, list[str]]]) -> tuple[dict[str, dict[str, float]], dict[str, list[str]]]:
    """Read every metrics JSON: ``(numbers, notes)`` per label. A missing file or key fails here, before any output
    is written."""
    summary: dict[str, dict[str, float]] = {}
    texts: dict[str, list[str]] = {}
    for label, path, keys in metrics:
        data = _load(path)
        if keys:
            numbers = dict(flatten_numbers(data))
            unknown = [k for k in keys if k not in numbers]
            if unknown:
                known = ", ".join(sorted(numbers)[:12]) or "none"
                raise GenomambaError(f"no numeric key {unknown[0]!r} in {label} (keys: {known})", path)
            summary[label] = {k: numbers[k] for k in keys}
        else:
            summary[label] = headline(data)
            texts[label] = notes(data)
    return summary, texts


def write_summary(summary: dict[str, dict[str, float]], texts: dict[str, list[str]], out_txt: Path, out_json: Path):
    """The text table and its JSON twin of ``collect``'s numbers; returns the numbers."""
    lines = ["genomamba results", "================="]
    for label, numbers in summary.items():
        lines.append(f"\n[{label}]")
        lines += [f"  {t}" for t in texts.get(label, [])]
        width = max((len(k) for k in numbers), default=0)
        lines += [f"  {k:<{width}}  {v:.4g}" for k, v in numbers.items()]
    with atomic_file(out_txt) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_file(out_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


@dataclass
class SummarizeConfig:
    """What ``genomamba summarize`` collects and draws."""

    metrics: list[str] = field(default_factory=list)  # LABEL=FILE.json[:key,key]: a stage's JSON (+ dotted keys)
    out: str | None = None  # text table; a .json twin is written beside it
    plot_pretraining: str | None = None  # a ``genomamba pretrain`` output directory to draw
    plot_out: str | None = None  # the PNG of ``plot_pretraining``

    def __post_init__(self) -> None:
        if self.plot_pretraining is not None and self.plot_out is None:
            raise ValueError("--plot-pretraining needs --plot-out")
        if self.plot_out is not None and self.plot_pretraining is None:
            raise ValueError("--plot-out needs --plot-pretraining (the run it draws)")
        if self.metrics and self.out is None:
            raise ValueError("--metrics needs --out")
        self.items()  # every spec is well formed

    def items(self) -> list[tuple[str, Path, list[str]]]:
        """``(label, json_path, keys)`` per ``metrics`` spec."""
        out = []
        for spec in self.metrics:
            label, sep, rest = spec.partition("=")
            if not sep or not label or not rest:
                raise ValueError(f"--metrics {spec!r} is not LABEL=FILE.json[:keys]")
            path, _, keys = rest.partition(":")
            out.append((label, Path(path), [k for k in keys.split(",") if k]))
        return out


def output_paths(cfg: SummarizeConfig) -> tuple[Path | None, Path | None, Path | None]:
    """(text table, its JSON twin, figure), each checked before anything is read or written, so a bad name
    leaves nothing half done. The twin is the table's name with .json: a table named .json would be overwritten by
    its own twin, and a figure named like the table by the table."""
    figure = None if cfg.plot_out is None else check_output_path(cfg.plot_out, (".png",))
    if cfg.out is None:
        return None, None, figure
    table = check_output_path(cfg.out, ("file",))
    if table.suffix.lower() == ".json":
        raise GenomambaError("is the text table, and its .json twin would overwrite it: name it .txt", table)
    if figure is not None and figure.absolute() == table.absolute():
        raise GenomambaError("is both --out and --plot-out: give each its own name", table)
    return table, check_output_path(table.with_suffix(".json"), (".json",)), figure


def run_summarize(cfg: SummarizeConfig) -> str | None:
    """Draw the pretraining curves and/or write the summary table; returns the table's text (None without out)."""
    table, twin, figure = output_paths(cfg)
    rows = collect(cfg.items()) if table is not None else None  # a bad --metrics fails before the figure is drawn
    if cfg.plot_pretraining is not None:
        plot_pretraining(cfg.plot_pretraining, figure)
    if rows is None:
        return None
    write_summary(*rows, table, twin)
    return table.read_text()


def _read_training_logs(pretrain_dir: Path):
    """All CSVLogger rows of a pretraining run (one version_N per attempt, so resumed runs are concatenated)."""
    import polars as pl

    frames = [
        pl.read_csv(p, infer_schema_length=None) for p in sorted(pretrain_dir.glob("logs/csv/version_*/metrics.csv"))
    ]
    frames = [f for f in frames if f.height]
    if not frames:
        raise GenomambaError("no training logs (logs/csv/version_*/metrics.csv)", pretrain_dir)
    return pl.concat(frames, how="diagonal_relaxed").sort("step")


def plot_pretraining(pretrain_dir: str | Path, out_png: str | Path) -> None:
    """Training curves (loss, val bits/base) with the k-mer baselines of the same val tiles as reference lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pretrain_dir = Path(pretrain_dir)
    logs = _read_training_logs(pretrain_dir)
    summary = _load(pretrain_dir / "summary.json")
    fig, (ax_loss, ax_bpb) = plt.subplots(1, 2, figsize=(11, 4))
    for col in [c for c in logs.columns if "loss" in c]:
        rows = logs.select("step", col).drop_nulls()
        ax_loss.plot(rows["step"], rows[col], label=col)
    ax_loss.set(xlabel="optimizer step", ylabel="loss", title="training")
    ax_loss.legend(fontsize=8)
    for col in [c for c in logs.columns if "bits_per_base" in c and c.startswith("val")]:
        rows = logs.select("step", col).drop_nulls()
        ax_bpb.plot(rows["step"], rows[col], marker="o", label=f"model {col}")
    baselines = summary.get("baselines", {}).get("val", {})
    styles = {"one_sided": ":", "two_sided": "--"}
    for family, style in styles.items():
        family_items = sorted((v, k) for k, v in baselines.items() if k.startswith(family))
        for value, name in family_items[:2]:  # the two best orders of each family
            ax_bpb.axhline(value, linestyle=style, linewidth=1, color="gray")
            ax_bpb.annotate(name, (0, value), fontsize=7, va="bottom", xycoords=("axes fraction", "data"))
    ax_bpb.set(xlabel="optimizer step", ylabel="bits per base", title="validation vs k-mer baselines")
    ax_bpb.legend(fontsize=8)
    fig.tight_layout()
    with atomic_file(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
