"""Run a pretraining job: config loading, Lightning trainer, checkpoints, baselines, summary JSON.

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

import hashlib
import json
import logging
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import yaml

from genomamba.atomic import atomic_file, file_digest
from genomamba.config import load_config, to_dict
from genomamba.errors import GenomambaError
from genomamba.model.config import ModelConfig
from genomamba.pretrain.module import PretrainConfig

log = logging.getLogger(__name__)


def load_pretrain_config(path: str | os.PathLike | None, overrides: list[str]) -> tuple[PretrainConfig, ModelConfig]:
    """PretrainConfig from YAML + ``key=value`` overrides, and the fully resolved ModelConfig."""
    cfg = load_config(PretrainConfig, path, overrides)
    return cfg, ModelConfig.from_preset(cfg.model_config, cfg.model)


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


def data_checksums(root: Path) -> dict:
    files = {"tokens_md5": "tokens.u8", "softmask_md5": "softmask.u8", "windows_parquet_md5": "windows.parquet"}
    out = {key: file_digest(root / name, "md5") for key, name in files.items()}
    try:
        import polars as pl

        contigs = pl.read_parquet(root / "contigs.parquet")
        out["contigs"] = {r["name"]: r["md5"] for r in contigs.select("name", "md5").to_dicts()}
    except Exception as exc:  # informative only; WindowsDir already validated the directory
        out["contigs"] = f"unreadable: {exc}"
    return out


def _write_json(path: Path, data: dict) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=float) + "\n")


def compute_baselines(dm, cfg: PretrainConfig, out: Path) -> dict:
    """k-mer baselines on exactly the val/test tiles; cached in OUT/baselines.json (keyed by tiles + config)."""
    from genomamba.baselines.kmer import evaluate_baselines

    key = hashlib.md5(
        json.dumps(
            {
                "val": dm.tiles["val"].tolist(),
                "test": dm.tiles["test"].tolist(),
                "len": dm.cfg.eval_len,
                "cfg": to_dict(cfg.baselines),
                "tokens": os.path.getsize(dm.root / "tokens.u8"),
            }
        ).encode()
    ).hexdigest()
    path = out / "baselines.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return cached
    t0 = time.perf_counter()
    train = dm.train_segments()
    tiles = {split: dm.tile_arrays(split) for split in ("val", "test")}
    b = cfg.baselines
    res = evaluate_baselines(train, tiles, b.one_sided_orders, b.two_sided_orders, b.alpha)
    result = {"key": key, "tile_length": dm.cfg.eval_len, "alpha": {r.name: r.alpha for r in res["val"]}}
    for split in ("val", "test"):
        result[split] = {r.name: r.bits_per_base for r in res[split]}
        result[f"{split}_positions"] = res[split][0].n_positions if res[split] else 0
    result["seconds"] = time.perf_counter() - t0
    _write_json(path, result)
    log.info("k-mer baselines on val/test tiles in %.1f s", result["seconds"])
    return result


def best_of(baselines: dict, split: str, family: str) -> tuple[str, float] | None:
    items = [(k, v) for k, v in baselines.get(split, {}).items() if k.startswith(family)]
    return min(items, key=lambda kv: kv[1]) if items else None


def _callbacks(out: Path, cfg: PretrainConfig, dm, state: dict):
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint

    tokens_per_micro = cfg.data.tokens_per_micro_batch

    class Progress(pl.Callback):
        """tokens/s (logged as train/tokens_per_s) and a progress line with ETA every log_every_steps."""

        def __init__(self):
            self.t0 = self.tokens = self.last_step = None

        def on_train_start(self, trainer, module):
            self.t0, self.tokens, self.last_step = time.perf_counter(), 0, trainer.global_step
            self.start_step = trainer.global_step

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.tokens += tokens_per_micro * trainer.world_size
            step = trainer.global_step
            if step == self.last_step or step % cfg.trainer.log_every_steps:
                return
            self.last_step = step
            dt = time.perf_counter() - self.t0
            rate = self.tokens / max(dt, 1e-9)
            module.log("train/tokens_per_s", rate, prog_bar=True, rank_zero_only=True)
            if trainer.is_global_zero:
                done = step - self.start_step
                eta = (cfg.trainer.max_steps - step) * dt / max(done, 1)
                loss = trainer.callback_metrics.get("train/loss")
                log.info(
                    "step %d/%d  seq_len %d  loss %.4f  %.0f tokens/s  elapsed %.0f s  ETA %.0f s",
                    step,
                    cfg.trainer.max_steps,
                    cfg.data.seq_len_at(step),
                    float(loss) if loss is not None else math.nan,
                    rate,
                    dt,
                    eta,
                )

    class Export(pl.Callback):
        """Self-describing model exports: best by val bits/base, and last at every Lightning checkpoint."""

        def on_fit_start(self, trainer, module):
            if cfg.baselines.enabled and trainer.is_global_zero:
                state["baselines"] = compute_baselines(dm, cfg, out)

        def on_validation_end(self, trainer, module):
            if trainer.sanity_checking or not hasattr(module, "last_eval"):
                return
            bpb = module.last_eval.get("val/bits_per_base", math.inf)
            if bpb < module.best_val_bpb:
                module.best_val_bpb = bpb
                if trainer.is_global_zero:
                    save_model(module, out / "best", {"step": trainer.global_step, "val_bits_per_base": bpb})
            if trainer.is_global_zero:
                log.info("val bits/base %.4f at step %d (best %.4f)", bpb, trainer.global_step, module.best_val_bpb)

        def on_save_checkpoint(self, trainer, module, checkpoint):
            if trainer.is_global_zero:
                save_model(module, out / "last", {"step": trainer.global_step})

    ckpt = ModelCheckpoint(
        dirpath=out / "lightning",
        save_last=True,
        save_top_k=0,
        every_n_train_steps=cfg.trainer.ckpt_every_steps,
    )
    return [Progress(), Export(), ckpt]


def save_model(module, path: Path, extra: dict) -> None:
    module.model.save_pretrained(path, extra={"pretraining": extra})


def _atomic_checkpoint_io():
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        """A killed run never leaves a truncated last.ckpt: write a sibling, then rename."""

        def save_checkpoint(self, checkpoint, path, storage_options=None):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(path) as tmp:
                super().save_checkpoint(checkpoint, tmp, storage_options)

    return AtomicCheckpointIO()


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


def run_pretraining(
    config_path: str | None,
    overrides: list[str],
    windows_dir: str,
    out_dir: str,
    resume: bool = False,
    progress_bar: bool | None = None,
) -> dict:
    """Validate everything, train, evaluate, write OUT/summary.json; returns the summary (rank 0) or {}."""
    wall0 = time.time()
    cfg, model_cfg = load_pretrain_config(config_path, overrides)
    out = Path(out_dir)
    ckpt_path = out / "lightning" / "last.ckpt"
    if resume and not ckpt_path.is_file():
        raise GenomambaError("--resume: no Lightning checkpoint to resume from", ckpt_path)
    if not resume and ckpt_path.exists():
        raise GenomambaError("output directory holds a previous run; pass --resume or choose a new --out", out)

    from genomamba.pretrain.data import PretrainDataModule, lightning_datamodule

    dm = PretrainDataModule(
        windows_dir,
        cfg.data,
        model_cfg.objective,
        model_cfg.rc_equivariant,
        cfg.trainer.accumulate_grad_batches,
        cfg.trainer.max_steps,
        cfg.seed,
    )
    dm.check()  # bad input fails here, before any training
    check_layout(cfg.trainer.devices, cfg.trainer.num_nodes)

    import lightning.pytorch as pl
    from lightning.pytorch.strategies import DDPStrategy

    from genomamba.pretrain.module import PretrainModule

    _quiet_lightning()
    warnings.filterwarnings("ignore", message=".*srun.*command is available.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    accelerator = cfg.trainer.accelerator
    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    precision = cfg.trainer.precision
    if precision == "auto":
        precision = "bf16-mixed" if accelerator == "gpu" else "32"
    world = cfg.trainer.devices * cfg.trainer.num_nodes
    strategy = "auto"
    if world > 1:
        strategy = DDPStrategy(
            process_group_backend="nccl" if accelerator == "gpu" else "gloo", find_unused_parameters=False
        )
    out.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)  # model init; the data stream has its own seeds
    module = PretrainModule(to_dict(model_cfg), to_dict(cfg.optim), to_dict(cfg.data), cfg.trainer.max_steps)
    state: dict = {}
    loggers, has_tb = _loggers(out)
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=cfg.trainer.devices,
        num_nodes=cfg.trainer.num_nodes,
        strategy=strategy,
        precision=precision,
        max_steps=cfg.trainer.max_steps,
        max_epochs=-1,
        max_time={"minutes": cfg.trainer.max_time_minutes} if cfg.trainer.max_time_minutes else None,
        accumulate_grad_batches=cfg.trainer.accumulate_grad_batches,
        gradient_clip_val=cfg.optim.grad_clip or None,
        val_check_interval=cfg.trainer.val_every_steps * cfg.trainer.accumulate_grad_batches,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        log_every_n_steps=cfg.trainer.log_every_steps,
        logger=loggers,
        callbacks=_callbacks(out, cfg, dm, state),
        plugins=[_atomic_checkpoint_io()],
        use_distributed_sampler=False,  # the data module shards by rank itself (deterministic streams)
        enable_progress_bar=bool(progress_bar) if progress_bar is not None else _stderr_is_tty(),
        enable_model_summary=False,
        default_root_dir=out,
        deterministic=False,
    )
    if trainer.world_size != trainer.num_devices * trainer.num_nodes:
        raise GenomambaError(
            f"world size {trainer.world_size} != devices {trainer.num_devices} x nodes {trainer.num_nodes}"
        )
    if trainer.is_global_zero:
        with atomic_file(out / "config.yaml") as tmp:
            tmp.write_text(yaml.safe_dump({"pretrain": to_dict(cfg), "model": to_dict(model_cfg)}, sort_keys=False))
    ldm = lightning_datamodule(dm)
    t_fit = time.time()
    trainer.fit(module, datamodule=ldm, ckpt_path=str(ckpt_path) if resume else None)
    fit_seconds = time.time() - t_fit
    trainer.save_checkpoint(ckpt_path)  # also when max_time stopped the run between checkpoints
    final_val = dict(trainer.validate(module, datamodule=ldm, verbose=False)[0])
    # held-out test on the best-by-val weights
    best_dir = out / "best"
    trainer.strategy.barrier("best-export")  # rank 0 finished writing OUT/best before any rank reads it
    if best_dir.is_dir():
        from genomamba.model import GenomambaModel

        best = GenomambaModel.from_pretrained(best_dir, map_location="cpu")
        module.model.load_state_dict(best.state_dict())
    test = dict(trainer.test(module, datamodule=ldm, verbose=False)[0])
    if not trainer.is_global_zero:
        return {}
    baselines = state.get("baselines") or (compute_baselines(dm, cfg, out) if cfg.baselines.enabled else {})
    summary = {
        "config": to_dict(cfg),
        "model": to_dict(model_cfg),
        "windows_dir": str(Path(windows_dir).resolve()),
        "data_checksums": data_checksums(dm.root),
        "tiles": {"length": dm.cfg.eval_len, "val": int(dm.tiles["val"].size), "test": int(dm.tiles["test"].size)},
        "steps": int(trainer.global_step),
        "tokens_per_step": cfg.data.tokens_per_micro_batch * cfg.trainer.accumulate_grad_batches * world,
        "world_size": world,
        "precision": precision,
        "accelerator": accelerator,
        "torch_threads": torch.get_num_threads(),
        "tensorboard": has_tb,
        "resumed": resume,
        "fit_seconds": fit_seconds,
        "wall_seconds": time.time() - wall0,
        "final_val": {k: float(v) for k, v in final_val.items()},
        "best_val_bits_per_base": module.best_val_bpb,
        "test_best_model": {k: float(v) for k, v in test.items()},
        "baselines": baselines,
    }
    for split, model_bpb in (("val", module.best_val_bpb), ("test", test.get("test/bits_per_base"))):
        for family in ("one_sided", "two_sided"):
            b = best_of(baselines, split, family)
            if b is not None and model_bpb is not None:
                summary[f"{split}_vs_best_{family}"] = {
                    "baseline": b[0],
                    "baseline_bits_per_base": b[1],
                    "model_bits_per_base": float(model_bpb),
                    "model_better": bool(model_bpb < b[1]),
                }
    _write_json(out / "summary.json", summary)
    log.info("summary written to %s", out / "summary.json")
    return summary


def _quiet_lightning() -> None:
    """One log line per message (Lightning adds its own handler besides ours) and no advertising tips."""

    class _NoTips(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "Tip:" not in record.getMessage()

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            lg.removeHandler(h)
        lg.propagate = True
        lg.addFilter(_NoTips())
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_NoTips())
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def _stderr_is_tty() -> bool:
    import sys

    return sys.stderr.isatty()


def format_table(summary: dict) -> str:
    """Model vs every baseline order, bits/base on val and test (a text table for logs and the README)."""
    b = summary.get("baselines", {})
    rows = [
        (
            "model (best by val)",
            summary.get("best_val_bits_per_base"),
            summary["test_best_model"].get("test/bits_per_base"),
        )
    ]
    for name in b.get("val", {}):
        rows.append((name, b["val"][name], b["test"].get(name)))
    lines = ["| predictor | val bits/base | test bits/base |", "|---|---:|---:|"]
    for name, v, t in rows:
        fmt = lambda x: "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"
        lines.append(f"| {name} | {fmt(v)} | {fmt(t)} |")
    return "\n".join(lines)


__all__ = ["run_pretraining", "load_pretrain_config", "format_table", "np"]
