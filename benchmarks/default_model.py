"""Train, evaluate and ship genomamba's default model in one command (``make model``).

1. Windows for every genome of the config's ``data.sources`` (a source's name is its ``genomamba genomes`` name), and
   the k-mer baselines of the run's val/test tiles (a cache the training run then hits). CPU only:
   ``--prepare-only`` stops here, so a GPU session spends its device time on training.
2. A short probe run (a few steps and one evaluation) measures seconds per step and per evaluation;
   ``trainer.max_steps`` is then set so that training fills the time budget, and the learning-rate schedule ends
   when the time does.
3. ``genomamba pretrain`` (an interrupted run resumes; a finished one is reused unless ``--fresh``).
4. Per-genome test bits/base of the best-by-val model against the best two-sided k-mer of the same tiles.
5. Dev-SNV contrast AUROCs (stop_gained/missense vs synonymous, splice vs intron) of the model LLR and of the
   two-sided k-mer LLR on each focal genome (benchmarks/recipe.py).
6. MODEL_CARD.md + model_card.json (benchmarks/model_card.py), and the checkpoint with its card copied into
   genomamba/resources/models/default (refused above 25 MB), where ``--checkpoint default`` finds it.

    python benchmarks/default_model.py             # CPU: the config's budget (trainer.max_time_minutes), 1 thread
    python benchmarks/default_model.py --gpu       # one GPU: 10 minutes of training, same recipe
    python benchmarks/default_model.py --smoke     # 2 small genomes, d_model 16, 20 steps, few SNVs (< 2 min)

Every step is a logged CLI call; the card lists them with the exact command.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

from recipe import (  # noqa: E402
    ROOT,
    Runner,
    build_windows,
    evaluate_snvs,
    fit_steps,
    machine,
    time_stages,
    write_json,
)

CONFIG = ROOT / "configs" / "pretrain" / "default_model.yaml"
SHIP_TO = ROOT / "genomamba" / "resources" / "models" / "default"
GPU_MINUTES = 10.0
# the GPU budget: same recipe and model, 8x the tokens per step, bf16 (precision auto), a few loader workers
GPU_OVERRIDES = [
    "trainer.accelerator=gpu",
    "trainer.threads=null",
    "data.tokens_per_micro_batch=65536",
    "data.num_workers=4",
    "data.pin_memory=true",
]
SMOKE_GENOMES = ("yeast_chrI", "skud_chr1")
SMOKE_OVERRIDES = [
    "model.d_model=16",
    "model.n_layer=2",
    "data.seq_len=256",
    "data.warmup_stages=[{seq_len: 128, steps: 5}]",
    "data.tokens_per_micro_batch=2048",
    "data.max_eval_tiles=4",
    "data.homolog_guard={protect: [yeast_chrI], k: 24, max_shared: 0.05}",
    "trainer.max_steps=20",
    "trainer.val_every_steps=10",
    "trainer.ckpt_every_steps=10",
    "trainer.log_every_steps=5",
    "trainer.max_time_minutes=null",
    "trainer.threads=1",
    "baselines.one_sided_orders=[0, 2]",
    "baselines.two_sided_orders=[1, 2]",
]


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=CONFIG, help="pretraining recipe (default: %(default)s)")
    ap.add_argument("--work", type=Path, help="working folder (default results/default_model, smoke: ..._smoke)")
    ap.add_argument("--gpu", action="store_true", help=f"train on one GPU for {GPU_MINUTES:g} minutes")
    ap.add_argument("--smoke", action="store_true", help="tiny end-to-end check; ships into WORK/shipped only")
    ap.add_argument("--budget-minutes", type=float, help="training time budget (default: trainer.max_time_minutes)")
    ap.add_argument("--probe-steps", type=int, default=30, help="steps of the timing probe; 0: keep max_steps")
    ap.add_argument("--snvs-per-class", type=int, help="score only the first N dev SNVs of each class")
    ap.add_argument("--context", type=int, help="score-vcf context (default: data.seq_len)")
    ap.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates of the AUROC CIs")
    ap.add_argument("--peer", type=Path, help="benchmarks/peers/gpn_train.py JSON to put beside ours in the card")
    ap.add_argument("--with-peer", action="store_true", help="also train the GPN peer for the same wall-clock time")
    ap.add_argument("--skip-vep", action="store_true", help="no dev-SNV evaluation (the card says so)")
    ap.add_argument("--fresh", action="store_true", help="discard a previous probe and run in WORK")
    ap.add_argument("--prepare-only", action="store_true", help="windows and k-mer baselines only (CPU side)")
    ap.add_argument("--note", default="", help="how the run was made (load, jobs beside it), kept in the card")
    ap.add_argument("--no-ship", action="store_true", help="write the card but do not copy into the package")
    ap.add_argument("--ship-to", type=Path, help=f"bundled model folder (default {SHIP_TO.relative_to(ROOT)})")
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="pretraining config overrides")
    args = ap.parse_args(argv)
    args.work = args.work or ROOT / ("results/default_model_smoke" if args.smoke else "results/default_model")
    if args.smoke:
        args.snvs_per_class = args.snvs_per_class or 8
        args.bootstrap = min(args.bootstrap, 50)
        args.ship_to = args.ship_to or args.work / "shipped" / "default"
    args.ship_to = args.ship_to or SHIP_TO
    return args


def recipe_overrides(gpu: bool, smoke: bool, work: Path, user: list[str]) -> list[str]:
    """Config overrides of an invocation: GPU or smoke settings (smoke windows under ``work``), then the user's."""
    extra = list(GPU_OVERRIDES) if gpu else []
    if smoke:
        specs = ", ".join(f"{{name: {g}, path: '{work / 'windows' / g}', weight: 1.0}}" for g in SMOKE_GENOMES)
        extra += [*SMOKE_OVERRIDES, f"data.sources=[{specs}]"]
    return [*extra, *user]


def load(args, overrides: list[str]):
    from genomamba.pretrain.config import load_pretrain_config

    return load_pretrain_config(args.config, overrides)


def budget_minutes(args, cfg) -> float | None:
    if args.budget_minutes:
        return args.budget_minutes
    if args.gpu:
        return GPU_MINUTES
    return cfg.trainer.max_time_minutes


def probe(args, cfg, overrides: list[str], run: Runner) -> dict:
    """Seconds per optimizer step (at the final length and at each warm-up stage's) and per evaluation pass, from
    short runs of the same recipe. On a GPU only the final length is probed (each probe costs about a minute of
    device time, mostly the homolog guard); the warm-up steps then count at the final length's speed, which errs
    towards fewer steps if they are cheaper (as on this CPU); the time limit stops the run either way."""
    stages = [] if args.gpu else cfg.data.warmup_stages
    return time_stages(args.config, args.work / "probe", overrides, run, stages, args.probe_steps)


def prepare(args, cfg, model_cfg, run: Runner) -> dict:
    """CPU-side steps: the windows of every genome, then the k-mer baselines of the run's tiles, written where
    ``genomamba pretrain`` finds them as its cache (same tiles and settings). Returns the genomes' card facts."""
    if args.fresh:
        for stale in (args.work / "pretrain", args.work / "probe"):
            shutil.rmtree(stale, ignore_errors=True)
        (args.work / "plan.json").unlink(missing_ok=True)
    sources = [{"name": s.name, "path": s.path} for s in cfg.data.sources]
    print(f"windows of {len(sources)} genome(s)", file=sys.stderr)
    genomes = build_windows(sources, run)
    if cfg.baselines.enabled and not (args.work / "pretrain" / "summary.json").is_file():
        kmer_baselines(args, cfg, model_cfg)
    return genomes


def kmer_baselines(args, cfg, model_cfg) -> dict:
    """The k-mer baselines of the run's val/test tiles, in WORK/pretrain/baselines.json (a cache hit when there)."""
    from genomamba.pretrain.data import PretrainDataModule
    from genomamba.pretrain.report import compute_baselines

    t0, out = time.perf_counter(), args.work / "pretrain"
    dm = PretrainDataModule(None, cfg.data, model_cfg.objective, model_cfg.rc_equivariant, 1, 1, cfg.seed)
    dm.check()
    out.mkdir(parents=True, exist_ok=True)
    others = sorted(p for p in args.work.parent.glob("*/pretrain") if p.resolve() != out.resolve())
    result = compute_baselines(dm, cfg, out, elsewhere=others)  # sibling runs (other --work) share the tiles
    print(f"  {time.perf_counter() - t0:7.1f} s  k-mer baselines of {len(dm.sources)} genome(s)", file=sys.stderr)
    return result


def unmasked_baselines(args, cfg, model_cfg, summary: dict) -> dict | None:
    """For a run summarised before the k-mers were also scored on non-repeat bases: its baselines again, now with
    them (the card's non-repeat columns); None when the summary has them."""
    if not cfg.baselines.enabled or all(
        "test_unmasked" in g.get("baselines", {}) for g in summary.get("genomes", {}).values()
    ):
        return None
    return kmer_baselines(args, cfg, model_cfg)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def recipe_changes(args, overrides: list[str], out: Path, plan: dict) -> list[str]:
    """The config fields in which the run in ``out`` (its config.yaml) differs from this invocation's recipe (config,
    overrides and the plan's length settings). A field only one side has (a setting added to the code since) is not
    counted."""
    import yaml

    from genomamba.config import to_dict

    stored = out / "config.yaml"
    if not stored.is_file():
        return []
    then = _flat(yaml.safe_load(stored.read_text())["pretrain"])
    cfg, _ = load(args, [*overrides, *plan["settings"]])
    now = _flat(to_dict(cfg))
    return sorted(k for k in then.keys() & now.keys() if then[k] != now[k])


def check_same_recipe(args, overrides: list[str], out: Path, plan: dict) -> None:
    """Refuse to reuse or resume a run of another recipe (e.g. the config's depth changed since it trained)."""
    changed = recipe_changes(args, overrides, out, plan)
    if changed:
        shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
        raise SystemExit(f"{out}: holds a run of another recipe (differs in {shown}); --fresh retrains it there, "
                         "--work DIR trains in another folder")  # fmt: skip


def pretrain(args, cfg, overrides: list[str], run: Runner) -> tuple[dict, dict]:
    """Train (or resume, or reuse a finished run of the same recipe); returns the summary and the plan that set its
    length."""
    out, plan_path = args.work / "pretrain", args.work / "plan.json"
    if (out / "summary.json").is_file():
        plan = json.loads(plan_path.read_text())
        check_same_recipe(args, overrides, out, plan)
        print(f"reusing the finished run in {out} (--fresh to retrain)", file=sys.stderr)
        step = ("pretrain", "--config", args.config, "--out", out, "--no-progress-bar")
        run.reused(*step, *overrides, *plan["settings"])
        return json.loads((out / "summary.json").read_text()), plan
    resume = (out / "lightning" / "last.ckpt").is_file()
    if resume:
        plan = json.loads(plan_path.read_text())
        check_same_recipe(args, overrides, out, plan)
    else:
        budget = budget_minutes(args, cfg)
        plan = {"budget_minutes": budget, "max_steps": cfg.trainer.max_steps, "probe": None}
        plan["val_every_steps"] = cfg.trainer.val_every_steps
        if budget and args.probe_steps and (args.budget_minutes or not args.smoke):  # smoke: only when asked
            plan["probe"] = p = probe(args, cfg, overrides, run)
            plan["max_steps"], plan["val_every_steps"] = fit_steps(budget * 60, p["step_seconds"], p["eval_seconds"],
                                                                   warmup=p["warmup"],
                                                                   startup_s=p["startup_seconds"])  # fmt: skip
        every = plan["val_every_steps"]
        plan["settings"] = [f"trainer.max_steps={plan['max_steps']}", f"trainer.val_every_steps={every}",
                            f"trainer.ckpt_every_steps={min(every, 500)}",
                            f"trainer.max_time_minutes={budget or 'null'}"]  # fmt: skip
        write_json(plan_path, plan)
    cmd = ["pretrain", "--config", args.config, "--out", out, "--no-progress-bar", *(["--resume"] if resume else [])]
    run.genomamba(*cmd, *overrides, *plan["settings"])
    return json.loads((out / "summary.json").read_text()), plan


def run_peer(args, run: Runner) -> Path:
    """benchmarks/peers/gpn_train.py on the same windows for our run's training time; its JSON path."""
    out = args.work / "gpn_peer.json"
    if not out.is_file() or args.fresh:
        cmd = [sys.executable, ROOT / "benchmarks" / "peers" / "gpn_train.py", "--out", out,
               "--match", args.work / "pretrain" / "summary.json", "--config", args.config,
               "--device", "cuda" if args.gpu else "cpu"]  # fmt: skip
        if args.smoke:
            cmd += ["--smoke", "--smoke-work", args.work]
        if args.snvs_per_class:
            cmd += ["--snvs-per-class", str(args.snvs_per_class)]
        run.run(cmd)
    return out


def ship(best: Path, card_dir: Path, dest: Path) -> float:
    """Copy the checkpoint and its card into ``dest`` (atomically); refuse above the bundled-size budget."""
    from genomamba.atomic import atomic_dir
    from genomamba.bundled import CARD_JSON, CARD_MD, MAX_BUNDLED_MB
    from genomamba.model import GenomambaModel
    from genomamba.model.checkpoint import CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE

    files = [best / n for n in (CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE)]
    files += [card_dir / CARD_MD, card_dir / CARD_JSON]
    size_mb = sum(f.stat().st_size for f in files) / 2**20
    if size_mb > MAX_BUNDLED_MB:
        raise SystemExit(f"{size_mb:.1f} MB is over the {MAX_BUNDLED_MB:g} MB bundled-model budget; not shipped")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(dest, CONFIG_FILE, stamp=False) as tmp:  # replaces a previous shipped copy, nothing else
        for f in files:
            shutil.copy2(f, tmp / f.name)
    GenomambaModel.from_pretrained(dest)  # a complete, loadable checkpoint
    return size_mb


def check_shipped(dest: Path, run: Runner) -> None:
    """``--checkpoint default`` finds the shipped copy (models folder given by GENOMAMBA_MODELS_DIR)."""
    check = Runner({"GENOMAMBA_MODELS_DIR": str(dest.parent)})
    listing = check.genomamba("models")
    if not listing.startswith("default"):
        raise SystemExit(f"the shipped model is not listed by `genomamba models`:\n{listing}")
    run.commands += check.commands


def main(argv=None) -> int:
    from model_card import make_card, write_card

    from genomamba.model import GenomambaModel

    args = parse_args(argv)
    t0 = time.time()
    overrides = recipe_overrides(args.gpu, args.smoke, args.work, args.overrides)
    cfg, model_cfg = load(args, overrides)
    run = Runner()
    genomes = prepare(args, cfg, model_cfg, run)
    if args.prepare_only:
        print(f"prepared {args.work}: windows and k-mer baselines of {len(genomes)} genome(s)", file=sys.stderr)
        return 0
    summary, plan = pretrain(args, cfg, overrides, run)
    best = args.work / "pretrain" / "best"
    vep = {}
    if not args.skip_vep:
        threads = 1 if not args.gpu else 4
        context = args.context or cfg.data.seq_len
        vep = evaluate_snvs(best, list(genomes), args.work, run, context, threads, "cuda" if args.gpu else "cpu",
                            args.snvs_per_class, args.bootstrap)  # fmt: skip
    if args.with_peer:
        args.peer = run_peer(args, run)
    peer = json.loads(args.peer.read_text()) if args.peer else None
    card = make_card(
        cfg=cfg,
        model_cfg=model_cfg,
        parameters=GenomambaModel.from_pretrained(best).num_parameters(),
        summary=summary,
        genomes=genomes,
        vep=vep,
        peer=peer,
        plan=plan,
        machine=machine(cfg.trainer.threads),
        command="make model" + (f' MODEL_ARGS="{shlex.join(sys.argv[1:])}"' if sys.argv[1:] else ""),
        invocation=shlex.join([sys.executable, *sys.argv]),
        commands=run.commands,
        chain_seconds=time.time() - t0,
        note=args.note,
        baselines=unmasked_baselines(args, cfg, model_cfg, summary),
        weights=json.loads((best / "config.json").read_text()).get("extra", {}).get("pretraining"),
    )
    card_dir = args.work / "card"
    write_card(card, card_dir)
    print((card_dir / "MODEL_CARD.md").read_text())
    if not args.no_ship:
        size = ship(best, card_dir, args.ship_to)
        check_shipped(args.ship_to, run)
        print(f"shipped {size:.1f} MB -> {args.ship_to}", file=sys.stderr)
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
