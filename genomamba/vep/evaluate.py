"""Evaluation of variant scores against binary labels: AUROC / AUPRC overall, per group and for class contrasts,
with chromosome-stratified bootstrap confidence intervals, written as JSON + TSV + PNG plots.

Comparisons (each reported with n_pos, n_neg, AUROC, AUPRC and 95% percentile CIs):

* ``overall``: label 1 vs label 0 over every scored, labelled allele.
* ``group:<g>`` for each value of the group field: within the group when it holds both labels; a group holding only
  positives is compared against every negative ("vs_all_negatives"), one holding only negatives against every
  positive ("all_positives_vs") -- the usual reading for consequence classes, where each class has one label.
* ``contrast:<A>_vs_<B>``: group A as positives against group B as negatives (e.g. stop_gained vs synonymous).

Scores are oriented so that larger means "more likely positive": by default the negated score (a more negative
LLR = more damaging); ``higher_is_positive=True`` keeps the sign. Unscored alleles are excluded and counted.
The bootstrap resamples alleles with replacement within each chromosome (chromosome-stratified), so every replicate
keeps each chromosome's share of the data.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genomamba.columns import numeric_column
from genomamba.errors import GenomambaError
from genomamba.metrics.plots import plot_boxes, plot_roc_panels
from genomamba.metrics.ranking import auprc, auroc, bootstrap_ci, finite
from genomamba.vep.config import LABEL_FIELD, LABELS_TSV_COLUMN, EvaluateVepConfig

log = logging.getLogger(__name__)

VEP_METRICS_JSON = "vep_metrics.json"  # every evaluate-vep output holds it: marks a previous output
_TRUE = {"1", "true", "yes", "pos", "positive"}
_FALSE = {"0", "false", "no", "neg", "negative"}


@dataclass
class ScoreTable:
    """Scored alleles of one scores file (n,) each; label -1 = unlabelled, group "" = none."""

    name: str
    chrom: np.ndarray
    pos: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    score: np.ndarray  # float, NaN = unscored
    label: np.ndarray  # int8: 1, 0, -1
    group: np.ndarray  # str


def _parse_label(value, path, where) -> int:
    if value is None:
        return -1
    text = str(value).strip().lower()
    if text in ("", ".", "na", "nan", "none"):
        return -1
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    raise GenomambaError(f"label {value!r} is not binary (expected 0/1)", path, where)


def _first(value):
    if isinstance(value, tuple):
        return value[0] if value else None
    return value


_COLUMNS = ("chrom", "pos", "ref", "alt", "score", "label", "group")


def load_scores(
    path: str | os.PathLike,
    name: str,
    score_field: str = "GM_LLR",
    label_field: str | None = None,
    group_field: str | None = None,
) -> ScoreTable:
    """Read one scores file (VCF/BCF from score-vcf, or its TSV/Parquet) -> one row per ALT allele."""
    path = Path(path)
    if not path.is_file():
        raise GenomambaError("scores file not found", path)
    lower = path.name.lower()
    if lower.endswith((".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")):
        rows = _vcf_rows(path, score_field, label_field, group_field)
    elif lower.endswith((".tsv", ".parquet")):
        rows = _table_rows(path, score_field, label_field, group_field)
    else:
        raise GenomambaError("scores must be .vcf.gz/.bcf/.vcf or .tsv/.parquet", path)
    return ScoreTable(
        name=name,
        chrom=np.array(rows["chrom"], dtype=object),
        pos=np.array(rows["pos"], dtype=np.int64),
        ref=np.array(rows["ref"], dtype=object),
        alt=np.array(rows["alt"], dtype=object),
        score=np.array(rows["score"], dtype=np.float64),
        label=np.array(rows["label"], dtype=np.int8),
        group=np.array(rows["group"], dtype=object),
    )


def _vcf_rows(path: Path, score_field: str, label_field: str | None, group_field: str | None) -> dict[str, list]:
    """Columns of a score-vcf VCF/BCF: one row per ALT, record-level label and group repeated."""
    import pysam

    prev = pysam.set_verbosity(0)
    try:
        handle = pysam.VariantFile(str(path))
    except (OSError, ValueError) as exc:
        raise GenomambaError(f"not a readable VCF/BCF ({exc})", path) from None
    finally:
        pysam.set_verbosity(prev)
    rows: dict[str, list] = {k: [] for k in _COLUMNS}
    with handle:
        if score_field not in handle.header.info:
            raise GenomambaError(f"no INFO/{score_field} in the header (not a score-vcf output?)", path)
        for field in (label_field, group_field):
            if field and field not in handle.header.info:
                raise GenomambaError(f"no INFO/{field} in the header", path)
        for i, rec in enumerate(handle):
            scores = rec.info.get(score_field)
            scores = scores if isinstance(scores, tuple) else (scores,) * len(rec.alts or ())
            label = _parse_label(_first(rec.info.get(label_field)), path, f"record {i + 1}") if label_field else -1
            group = str(_first(rec.info.get(group_field)) or "") if group_field else ""
            for alt, s in zip(rec.alts or (), scores):
                row = (rec.chrom, rec.pos, rec.ref, alt, np.nan if s is None else float(s), label, group)
                for key, value in zip(_COLUMNS, row):
                    rows[key].append(value)
    return rows


def _table_rows(path: Path, score_field: str, label_field: str | None, group_field: str | None) -> dict[str, list]:
    """Columns of a score-vcf TSV/Parquet (score columns named llr / delta; labels and groups kept with
    score-vcf --keep-info)."""
    import polars as pl

    try:
        if path.name.lower().endswith(".parquet"):
            df = pl.read_parquet(path)
        else:
            df = pl.read_csv(path, separator="\t", comment_prefix="#", null_values=["NA"], infer_schema_length=0)
    except Exception as exc:  # polars raises several types for unreadable input
        raise GenomambaError(f"cannot read the scores table ({exc})", path) from None
    col = {"GM_LLR": "llr", "GM_DELTA": "delta", "GM_EMBDIST": "embedding_distance"}.get(score_field, score_field)
    missing = [c for c in ("chrom", "pos", "ref", "alt", col, label_field, group_field) if c and c not in df.columns]
    if missing:
        hint = "TSV/Parquet: keep them with score-vcf --keep-info"
        raise GenomambaError(f"missing column(s) {', '.join(missing)} ({hint})", path)
    labels = df[label_field].to_list() if label_field else [None] * df.height
    return {
        "chrom": df["chrom"].cast(pl.Utf8).to_list(),
        "pos": numeric_column(df, "pos", path, integer=True).to_list(),
        "ref": df["ref"].cast(pl.Utf8).to_list(),
        "alt": df["alt"].cast(pl.Utf8).to_list(),
        "score": numeric_column(df, col, path).fill_null(np.nan).to_list(),
        "label": [_parse_label(v, path, f"row {i + 1}") for i, v in enumerate(labels)],
        "group": [str(v or "") for v in df[group_field].to_list()] if group_field else [""] * df.height,
    }


def attach_labels(table: ScoreTable, labels_path: str | os.PathLike, label_col: str, group_col: str | None) -> None:
    """Join a labels TSV (columns chrom, pos, ref, alt, <label_col>[, <group_col>]) onto ``table`` in place."""
    import polars as pl

    labels_path = Path(labels_path)
    if not labels_path.is_file():
        raise GenomambaError("labels file not found", labels_path)
    df = pl.read_csv(labels_path, separator="\t", comment_prefix="#", infer_schema_length=0)
    need = ["chrom", "pos", "ref", "alt", label_col] + ([group_col] if group_col else [])
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise GenomambaError(f"missing column(s) {', '.join(missing)}", labels_path)
    lookup = {}
    for i, row in enumerate(df.select(need).iter_rows()):
        key = (row[0], int(row[1]), row[2].upper(), row[3].upper())
        lookup[key] = (_parse_label(row[4], labels_path, f"line {i + 2}"), row[5] if group_col else "")
    for i in range(table.score.size):
        hit = lookup.get((table.chrom[i], int(table.pos[i]), str(table.ref[i]).upper(), str(table.alt[i]).upper()))
        if hit is not None:
            table.label[i], g = hit
            if group_col:
                table.group[i] = g or ""


def comparisons(table: ScoreTable, contrasts: list[tuple[str, str]]) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """-> [(name, kind, index array, binary y)] over the scored alleles."""
    scored = ~np.isnan(table.score)
    out = []
    labelled = scored & (table.label >= 0)
    if labelled.any():
        ix = np.flatnonzero(labelled)
        out.append(("overall", "label", ix, table.label[ix].astype(np.int64)))
        groups = sorted({g for g in table.group[labelled] if g})
        pos_all = labelled & (table.label == 1)
        neg_all = labelled & (table.label == 0)
        for g in groups:
            in_g = labelled & (table.group == g)
            labels = set(table.label[in_g].tolist())
            if labels == {0, 1}:
                ix, kind = np.flatnonzero(in_g), "within"
            elif labels == {1}:
                ix, kind = np.flatnonzero(in_g | neg_all), "vs_all_negatives"
            else:
                ix, kind = np.flatnonzero(in_g | pos_all), "all_positives_vs"
            out.append((f"group:{g}", kind, ix, table.label[ix].astype(np.int64)))
    for a, b in contrasts:
        in_a = scored & (table.group == a)
        in_b = scored & (table.group == b)
        ix = np.flatnonzero(in_a | in_b)
        out.append((f"contrast:{a}_vs_{b}", "contrast", ix, in_a[ix].astype(np.int64)))
    return out


def evaluate(
    tables: list[ScoreTable],
    contrasts: list[tuple[str, str]],
    higher_is_positive: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    results = []
    for t in tables:
        oriented = t.score if higher_is_positive else -t.score
        n_unscored = int(np.isnan(t.score).sum())
        for name, kind, ix, y in comparisons(t, contrasts):
            n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
            row = {"scores": t.name, "comparison": name, "kind": kind, "n_pos": n_pos, "n_neg": n_neg}
            if n_pos == 0 or n_neg == 0:
                row.update(dict.fromkeys(("auroc", "auprc", "auroc_ci", "auprc_ci")))
                row["note"] = "undefined: only one class present"
            else:
                s = oriented[ix]
                row["auroc"] = finite(auroc(y, s), 6)
                row["auprc"] = finite(auprc(y, s), 6)
                row["auprc_baseline"] = round(n_pos / (n_pos + n_neg), 6)
                row.update(bootstrap_ci(y, s, t.chrom[ix], n_boot, seed) if n_boot else {})
            results.append(row)
        log.info("%s: %d alleles, %d unscored (excluded)", t.name, t.score.size, n_unscored)
    orientation = "higher score = positive" if higher_is_positive else "lower score = positive (scores negated)"
    return {
        "score_orientation": orientation,
        "bootstrap": {"replicates": n_boot, "seed": seed, "stratified_by": "chromosome", "level": 0.95},
        "inputs": [
            {
                "name": t.name,
                "alleles": int(t.score.size),
                "unscored_excluded": int(np.isnan(t.score).sum()),
                "labelled": int((t.label >= 0).sum()),
            }
            for t in tables
        ],
        "results": results,
    }


# ------------------------------------------------------------------------------------------------ outputs
def write_report(report: dict, tables: list[ScoreTable], contrasts, higher_is_positive: bool, out_dir: Path) -> None:
    """vep_metrics.json, vep_metrics.tsv, roc.png, score_distributions.png into ``out_dir``."""
    (out_dir / VEP_METRICS_JSON).write_text(json.dumps(report, indent=2) + "\n")
    cols = "scores comparison kind n_pos n_neg auroc auroc_ci auprc auprc_ci auprc_baseline".split()
    with open(out_dir / "vep_metrics.tsv", "w") as fh:
        fh.write("\t".join(cols) + "\n")
        for row in report["results"]:
            vals = []
            for c in cols:
                v = row.get(c)
                vals.append("NA" if v is None else "-".join(f"{x:.4f}" for x in v) if isinstance(v, list) else str(v))
            fh.write("\t".join(vals) + "\n")
    _plot_roc(tables, contrasts, higher_is_positive, out_dir / "roc.png")
    _plot_distributions(tables, out_dir / "score_distributions.png")


def _plot_roc(tables: list[ScoreTable], contrasts, higher_is_positive: bool, path: Path) -> None:
    """Panels "overall" and one per contrast, a curve per scores file."""
    titles = ["overall"] + [f"contrast:{a}_vs_{b}" for a, b in contrasts]
    curves: dict[str, list] = {t: [] for t in titles}
    for t in tables:
        oriented = t.score if higher_is_positive else -t.score
        for name, _, ix, y in comparisons(t, contrasts):
            if name in curves:
                curves[name].append((t.name, y, oriented[ix]))
    plot_roc_panels([(title.replace("contrast:", ""), curves[title]) for title in titles], path)


def _plot_distributions(tables: list[ScoreTable], path: Path) -> None:
    """Per scores file, the scores of each group (or each label when there are no groups)."""
    panels = []
    for t in tables:
        ok = ~np.isnan(t.score)
        groups = sorted({g for g in t.group[ok] if g})
        if groups:
            data = [(g, t.score[ok & (t.group == g)]) for g in groups]
        else:
            labels = sorted({int(v) for v in t.label[ok] if v >= 0})
            data = [(str(v), t.score[ok & (t.label == v)]) for v in labels] or [("all", t.score[ok])]
        panels.append((f"{t.name}: score by class", data))
    plot_boxes(panels, path)


# ------------------------------------------------------------------------------------------------ entry point
def named_inputs(specs: Sequence[str]) -> list[tuple[str, str]]:
    """``[NAME=]PATH`` specs -> (name, path); an unnamed input is called by its file stem ("scores" if alone)."""
    out = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = (Path(spec).name.split(".")[0] if len(specs) > 1 else "scores"), spec
        out.append((name, path))
    return out


def evaluate_vep(
    scores: Sequence[str],
    out: str | os.PathLike,
    config: EvaluateVepConfig | None = None,
    labels: str | os.PathLike | None = None,
) -> dict:
    """Evaluate score-vcf outputs (``[NAME=]PATH`` each) against labels; write the report directory ``out``
    atomically (vep_metrics.json/.tsv, roc.png, score_distributions.png) and return the report."""
    from genomamba.atomic import atomic_dir, check_output_dir

    out = check_output_dir(out, VEP_METRICS_JSON)  # a folder that is not ours fails before loading and bootstrap
    cfg = config or EvaluateVepConfig()
    tables = []
    for name, path in named_inputs(scores):
        if labels:
            t = load_scores(path, name, cfg.score_field)
            attach_labels(t, labels, cfg.label_field or LABELS_TSV_COLUMN, cfg.group_field)
        else:
            t = load_scores(path, name, cfg.score_field, cfg.label_field or LABEL_FIELD, cfg.group_field)
        tables.append(t)
    contrasts = cfg.contrast_pairs
    report = evaluate(tables, contrasts, cfg.higher_is_positive, cfg.bootstrap, cfg.seed)
    with atomic_dir(out, VEP_METRICS_JSON) as tmp:
        write_report(report, tables, contrasts, cfg.higher_is_positive, tmp)
    return report
