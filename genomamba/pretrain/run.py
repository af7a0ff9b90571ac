"""Run a pretraining job: input checks, the Lightning trainer, checkpoints, held-out test, summary JSON.

Output directory layout::

    OUT/config.yaml            resolved PretrainConfig + ModelConfig of this run
    OUT/best/                  self-describing model (save_pretrained) with the best val bits/base so far
    OUT/last/                  self-describing model at the latest checkpoint
    OUT/lightning/last.ckpt    Lightning checkpoint (optimizer, scheduler, step, data position) for --resume
    OUT/baselines.json         k-mer baselines on the val/test tiles
    OUT/logs/csv/version_N/    CSVLogger metrics (one version per attempt); OUT/logs/tensorboard/ when installed
    OUT/summary.json           final summary: config, data checksums, steps, bits/base vs baselines, wall time
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import yaml

from genomamba.atomic import atomic_file, check_output_path
from genomamba.config import to_dict
from genomamba.errors import GenomambaError
from genomamba.model.config import ModelConfig
from genomamba.pretrain import genic
from genomamba.pretrain.config import PretrainConfig, SourceConfig, TrainerConfig
from genomamba.threads import apply_threads, pick_threads

if TYPE_CHECKING:
    from genomamba.pretrain.data import PretrainDataModule

log = logging.getLogger(__name__)


def check_layout(devices: int, num_nodes: int) -> None:
    """Refuse a SLURM allocation whose task count differs from devices x nodes (it would silently shard wrong)."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    if SLURMEnvironment.detect():
        ntasks = int(os.environ.get("SLURM_NTASKS", "1"))
        if ntasks != devices * num_nodes:
            raise GenomambaError(
                f"SLURM runs {ntasks} task(s) but trainer.devices x trainer.num_nodes = {devices} x {num_nodes}; "
                "use srun --ntasks-per-node=<devices> --nodes=<num_nodes>"
            )


def _checkpoint_to_resume(out: Path, resume: bool) -> Path:
    """OUT/lightning/last.ckpt; ``--resume`` needs it, a fresh run must not find it."""
    ckpt_path = out / "lightning" / "last.ckpt"
    if resume and not ckpt_path.is_file():
        raise GenomambaError("--resume: no Lightning checkpoint to resume from", ckpt_path)
    if not resume and ckpt_path.exists():
        raise GenomambaError("output directory holds a previous run; pass --resume or choose a new --out", out)
    return ckpt_path


@dataclass
class Hardware:
    """What ``auto`` resolved to: accelerator, precision, processes in all, and the Lightning strategy."""

    accelerator: str
    precision: str
    world: int
    strategy: object


def _threads(t: TrainerConfig, hw: Hardware) -> dict | None:
    """Apply ``trainer.threads`` (auto: the free cores, shared among this node's CPU processes) -> the settings."""
    if t.threads is None:
        return None
    n = pick_threads(t.threads)
    if t.threads == "auto" and hw.accelerator == "cpu" and t.devices > 1:
        n = max(1, n // t.devices)
    return apply_threads(n)


def _hardware(t: TrainerConfig) -> Hardware:
    from lightning.pytorch.strategies import DDPStrategy

    accelerator = t.accelerator
    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    precision = t.precision
    if precision == "auto":
        precision = "bf16-mixed" if accelerator == "gpu" else "32"
    world = t.devices * t.num_nodes
    strategy: object = "auto"
    if world > 1:
        backend = "nccl" if accelerator == "gpu" else "gloo"
        strategy = DDPStrategy(process_group_backend=backend, find_unused_parameters=False)
    return Hardware(accelerator, precision, world, strategy)


def _loggers(out: Path) -> tuple[list, bool]:
    from lightning.pytorch.loggers import CSVLogger

    loggers = [CSVLogger(out / "logs", name="csv")]  # a new version_N per attempt: resume never clobbers
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        log.info("tensorboard is not installed: logging to CSV only (pip install tensorboard for event files)")
        return loggers, False
    from lightning.pytorch.loggers import TensorBoardLogger

    loggers.append(TensorBoardLogger(out / "logs", name="tensorboard"))
    return loggers, True


class _NoTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


def _quiet_lightning() -> None:
    """One log line per message (Lightning adds its own handler besides ours) and no advertising tips."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            lg.removeHandler(h)
        lg.propagate = True
        lg.addFilter(_NoTips())
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_NoTips())
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*srun.*command is available.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def _trainer(cfg: PretrainConfig, out: Path, hw: Hardware, callbacks: list, loggers: list, progress_bar: bool):
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint

    from genomamba.pretrain.callbacks import AtomicCheckpointIO

    t = cfg.trainer
    ckpt = ModelCheckpoint(
        dirpath=out / "lightning", save_last=True, save_top_k=0, every_n_train_steps=t.ckpt_every_steps
    )
    trainer = pl.Trainer(
        accelerator=hw.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=hw.strategy,
        precision=hw.precision,
        max_steps=t.max_steps,
        max_epochs=-1,
        max_time={"minutes": t.max_time_minutes} if t.max_time_minutes else None,
        accumulate_grad_batches=t.accumulate_grad_batches,
        gradient_clip_val=cfg.optim.grad_clip or None,
        val_check_interval=t.val_every_steps * t.accumulate_grad_batches,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        log_every_n_steps=t.log_every_steps,
        logger=loggers,
        callbacks=[*callbacks, ckpt],
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # the data module shards by rank itself (deterministic streams)
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        default_root_dir=out,
        deterministic=False,
    )
    if trainer.world_size != trainer.num_devices * trainer.num_nodes:
        raise GenomambaError(
            f"world size {trainer.world_size} != devices {trainer.num_devices} x nodes {trainer.num_nodes}"
        )
    return trainer


def _test_best(trainer, module, ldm, out: Path) -> dict:
    """Held-out test on the best-by-val weights (OUT/best), or on the current weights if none was exported."""
    best_dir = out / "best"
    trainer.strategy.barrier("best-export")  # rank 0 finished writing OUT/best before any rank reads it
    if best_dir.is_dir():
        from genomamba.model import GenomambaModel

        best = GenomambaModel.from_pretrained(best_dir, map_location="cpu")
        module.model.load_state_dict(best.state_dict())
    return dict(trainer.test(module, datamodule=ldm, verbose=False)[0])


def with_sources(cfg: PretrainConfig, windows: str | os.PathLike | list[SourceConfig] | None) -> PretrainConfig:
    """``cfg`` with ``data.sources`` set from ``windows`` (one directory or a list), re-validated; None keeps the
    configured sources. The genomes then travel with the config into checkpoints and the summary."""
    if windows is None:
        if not cfg.data.sources:
            raise GenomambaError("no windows directory: pass --windows DIR (or NAME=DIR:WEIGHT) or set data.sources")
        return cfg
    if isinstance(windows, (str, os.PathLike)):
        windows = [SourceConfig(path=os.fspath(windows))]
    try:
        data = dataclasses.replace(cfg.data, sources=list(windows))
    except ValueError as exc:
        raise GenomambaError(f"invalid data config: {exc}") from None
    return dataclasses.replace(cfg, data=data)


def run_pretraining(
    cfg: PretrainConfig,
    model_cfg: ModelConfig,
    windows_dir: str | os.PathLike | list[SourceConfig] | None,
    out_dir: str | os.PathLike,
    resume: bool = False,
    progress_bar: bool | None = None,
) -> dict:
    """Validate everything, train, evaluate, write OUT/summary.json; returns the summary (rank 0) or {}.

    ``windows_dir``: one windows directory, a list of ``SourceConfig`` (several genomes), or None for the
    config's ``data.sources``."""
    import lightning.pytorch as pl

    from genomamba.pretrain.callbacks import Export, Progress
    from genomamba.pretrain.data import PretrainDataModule, lightning_datamodule
    from genomamba.pretrain.module import PretrainModule

    wall0 = time.time()
    out = check_output_path(out_dir, ("dir",))  # an existing file as --out fails before the data checks
    cfg = with_sources(cfg, windows_dir)
    ckpt_path = _checkpoint_to_resume(out, resume)
    dm = PretrainDataModule(
        None,
        cfg.data,
        objective=model_cfg.objective,
        rc_equivariant=model_cfg.rc_equivariant,
        accumulate=cfg.trainer.accumulate_grad_batches,
        max_steps=cfg.trainer.max_steps,
        seed=cfg.seed,
    )
    dm.check()  # bad input fails here, before any training
    check_layout(cfg.trainer.devices, cfg.trainer.num_nodes)
    _quiet_lightning()
    hw = _hardware(cfg.trainer)
    threads = _threads(cfg.trainer, hw)
    out.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)  # model init; the data stream has its own seeds
    # hyperparameters as plain dicts: Lightning checkpoints then load weights-only
    module = PretrainModule(to_dict(model_cfg), to_dict(cfg.optim), to_dict(cfg.data), cfg.trainer.max_steps)
    export = Export(cfg, out, dm)
    loggers, has_tb = _loggers(out)
    show_bar = bool(progress_bar) if progress_bar is not None else sys.stderr.isatty()
    progress = Progress(cfg)
    trainer = _trainer(cfg, out, hw, [progress, export], loggers, show_bar)
    if trainer.is_global_zero:
        with atomic_file(out / "config.yaml") as tmp:
            tmp.write_text(yaml.safe_dump({"pretrain": to_dict(cfg), "model": to_dict(model_cfg)}, sort_keys=False))
    ldm = lightning_datamodule(dm)
    t_fit = time.time()
    trainer.fit(module, datamodule=ldm, ckpt_path=str(ckpt_path) if resume else None)
    fit_seconds = time.time() - t_fit
    trainer.save_checkpoint(ckpt_path)  # also when max_time stopped the run between checkpoints
    final_val = dict(trainer.validate(module, datamodule=ldm, verbose=False)[0])
    test = _test_best(trainer, module, ldm, out)
    if not trainer.is_global_zero:
        return {}
    run = {
        "steps": int(trainer.global_step),
        "tokens_per_step": cfg.data.tokens_per_micro_batch * cfg.trainer.accumulate_grad_batches * hw.world,
        "world_size": hw.world,
        "precision": hw.precision,
        "accelerator": hw.accelerator,
        "torch_threads": torch.get_num_threads(),
        "threads": threads,
        "tensorboard": has_tb,
        "resumed": resume,
        "fit_seconds": fit_seconds,
        "steady_step_seconds": progress.steady_step_seconds,  # None when the fit ran <= Progress.SETTLE + 1 steps
        "wall_seconds": time.time() - wall0,
        "final_val": {k: float(v) for k, v in final_val.items()},
        "best_val_bits_per_base": module.best_val_bpb,
        "test_best_model": {k: float(v) for k, v in test.items()},
    }
    return _write_summary(cfg, model_cfg, dm, export.baselines, run, out)


def _genomes(dm: PretrainDataModule, baselines: dict, run: dict) -> dict:
    """Per genome: where its windows are, how it was sampled, its checksums, tiles, bits/base and baselines."""
    from genomamba.pretrain.report import comparisons, data_checksums

    several = len(dm.sources) > 1
    out = {}
    for s, p in zip(dm.sources, dm.probs):
        key = f"{s.name}/" if several else ""
        b = baselines.get("genomes", {}).get(s.name, {}) if several else baselines
        test = run["test_best_model"].get(f"test/{key}bits_per_base")
        val = run["final_val"].get(f"val/{key}bits_per_base")
        g = {
            "windows_dir": str(s.root.resolve()),
            "weight": s.weight,
            "sampling_probability": float(p),
            "train_bases": s.train_bases,
            "train_windows": int(len(s.splits["train"])),
            "dropped_train_windows": s.dropped_windows,
            "genic": None
            if s.exons is None
            else {
                "annotation": str(s.annotation),
                "genic_weight": dm.cfg.genic_weight,
                "exonic_fraction_of_train_bases": round(genic.exonic_fraction(s.exons, s.splits["train"]), 4),
            },
            "data_checksums": data_checksums(s.root),
            "tiles": {"length": dm.cfg.eval_len, "val": int(s.tiles["val"].size), "test": int(s.tiles["test"].size)},
            "final_val_bits_per_base": val,
            "test_bits_per_base": test,
            "baselines": {
                k: b[k]
                for k in ("alpha", "val", "test", "val_unmasked", "test_unmasked", "val_positions", "test_positions")
                if k in b
            },
        }
        g.update({k: v for k, v in comparisons(b, val, test).items() if k.startswith("test")})
        out[s.name] = g
    return out


def _write_summary(
    cfg: PretrainConfig, model_cfg: ModelConfig, dm: PretrainDataModule, baselines: dict | None, run: dict, out: Path
) -> dict:
    """OUT/summary.json: config, data, the run's facts and bits/base, the baselines and the comparison with them
    (baselines computed now if the fit-start export did not); per genome under ``genomes``."""
    from genomamba.pretrain.report import comparisons, compute_baselines, data_checksums, write_json

    if baselines is None:
        baselines = compute_baselines(dm, cfg, out) if cfg.baselines.enabled else {}
    summary = {"config": to_dict(cfg), "model": to_dict(model_cfg)}
    if len(dm.sources) == 1:
        only = dm.sources[0]
        summary["windows_dir"] = str(only.root.resolve())
        summary["data_checksums"] = data_checksums(only.root)
        summary["tiles"] = {
            "length": dm.cfg.eval_len,
            "val": int(only.tiles["val"].size),
            "test": int(only.tiles["test"].size),
        }
    summary.update(run)
    summary["genomes"] = _genomes(dm, baselines, run)
    summary["homolog_guard"] = dm.guard_report
    summary["baselines"] = {k: v for k, v in baselines.items() if k != "genomes"}
    test_bpb = run["test_best_model"].get("test/bits_per_base")
    summary.update(comparisons(baselines, run["best_val_bits_per_base"], test_bpb))
    write_json(out / "summary.json", summary)
    log.info("summary written to %s", out / "summary.json")
    return summary


__all__ = ["run_pretraining", "check_layout"]
