"""Peer: GPN (PyPI ``gpn``, ``GPNForMaskedLM`` with its dilated-convolution encoder) trained on the same windows, for
the same wall-clock time on the same machine, scored with its masked LLR on the same dev SNVs as the default model.

Two processes, because GPN brings its own environment (transformers):

* this script in genomamba's environment (the driver) opens the recipe's windows exactly as ``genomamba pretrain``
  does (same genomes, same homolog guard, same sampling probabilities), cuts the dev-SNV windows, and computes the
  contrast AUROCs (benchmarks/recipe.py) from the scores;
* the same file run by the peer's Python with ``--worker JOB`` (numpy, torch and gpn only) trains and scores.

GPN's recipe as published: masked LM, 15 % of positions (80 % [MASK], 10 % random, 10 % kept), soft-masked
(repeat) positions weighted 0.1, both strands; the LLR of a variant is logit(alt) - logit(ref) at the masked
position, averaged over the two strands (lower = more damaging).

    python benchmarks/peers/gpn_train.py --match results/default_model/pretrain/summary.json
    python benchmarks/peers/gpn_train.py --smoke          # needs results/default_model_smoke (default_model --smoke)

Without gpn in the peer's Python (``--peer-python``, default /work/peers-venv/bin/python, else this Python) the JSON
records ``"status": "gpn not installed"`` and nothing is trained.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "benchmarks" / "results" / "gpn_peer.json"
PEERS_PYTHON = Path("/work/peers-venv/bin/python")
# genomamba token ids (A C G T N) -> GPN's vocabulary ([PAD] 0, [MASK] 1, [UNK] 2, a 3, c 4, g 5, t 6)
TO_GPN = np.array([3, 4, 5, 6, 2], dtype=np.int64)
MASK, VOCAB = 1, 7


# ---------------------------------------------------------------------------------------------- worker (peer env)
def crops(job: dict, rng: np.random.Generator, tokens, soft) -> tuple[np.ndarray, np.ndarray]:
    """(B, L) GPN ids and soft-mask flags of random train crops (genome by the recipe's probabilities)."""
    length, batch = job["seq_len"], job["batch"]
    ids, flags = np.empty((batch, length), np.int64), np.empty((batch, length), bool)
    for b in range(batch):
        g = rng.choice(len(job["genomes"]), p=job["probs"])
        windows = np.asarray(job["genomes"][g]["train"], dtype=np.int64)  # (n, 2) offset, length
        ok = windows[windows[:, 1] >= length]
        off, n = ok[rng.choice(len(ok), p=(ok[:, 1] - length + 1) / (ok[:, 1] - length + 1).sum())]
        s = off + rng.integers(0, n - length + 1)
        t, m = np.asarray(tokens[g][s : s + length]), np.asarray(soft[g][s : s + length]).astype(bool)
        if rng.random() < 0.5:  # reverse complement: A<->T, C<->G, N stays
            t, m = np.where(t < 4, 3 - t, t)[::-1], m[::-1]
        ids[b], flags[b] = TO_GPN[np.minimum(t, 4)], m
    return ids, flags


def mask_batch(ids: np.ndarray, soft: np.ndarray, rng: np.random.Generator, softmask_weight: float):
    """BERT masking of 15 % of non-N positions -> (inputs, labels with -100 elsewhere, loss weights)."""
    valid = ids >= 3
    chosen = valid & (rng.random(ids.shape) < 0.15)
    r = rng.random(ids.shape)
    inputs = ids.copy()
    inputs[chosen & (r < 0.8)] = MASK
    rand = chosen & (r >= 0.8) & (r < 0.9)
    inputs[rand] = rng.integers(3, 7, int(rand.sum()))
    labels = np.where(chosen, ids, -100)
    weight = np.where(soft, softmask_weight, 1.0).astype(np.float32)
    return inputs, labels, weight


def _dev(array: np.ndarray, job: dict, torch):
    return torch.from_numpy(array).to(job["device"])


def autocast(job: dict, torch):
    """bf16 autocast on a GPU (as genomamba pretrain's precision auto), nothing on the CPU."""
    import contextlib

    if job["device"].startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(job: dict, model, torch) -> dict:
    tokens = [np.memmap(Path(g["root"]) / "tokens.u8", dtype=np.uint8, mode="r") for g in job["genomes"]]
    soft = [np.memmap(Path(g["root"]) / "softmask.u8", dtype=np.uint8, mode="r") for g in job["genomes"]]
    opt = torch.optim.AdamW(model.parameters(), lr=job["lr"], weight_decay=0.01, betas=(0.9, 0.98))
    budget, t0, step = job["minutes"] * 60, time.perf_counter(), 0
    model.train()
    while (elapsed := time.perf_counter() - t0) < budget:
        frac = elapsed / budget  # warm-up over the first 2 % of the time, then cosine to 10 % by the deadline
        scale = min(1.0, frac / 0.02) * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
        for group in opt.param_groups:
            group["lr"] = job["lr"] * scale
        rng = np.random.default_rng([job["seed"], step])
        inputs, labels, weight = mask_batch(*crops(job, rng, tokens, soft), rng, job["softmask_weight"])
        with autocast(job, torch):
            out = model(input_ids=_dev(inputs, job, torch), labels=_dev(labels, job, torch),
                        loss_weight=_dev(weight, job, torch))  # fmt: skip
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step} loss {float(out.loss):.4f} {elapsed:.0f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    return {"steps": step, "fit_seconds": seconds, "tokens_seen": step * job["batch"] * job["seq_len"]}


def score(job: dict, model, torch) -> dict[str, list[float]]:
    """Masked LLR per SNV: logit(alt) - logit(ref) at the masked centre, mean of both strands."""
    model.eval()
    out = {}
    for genome, path in job["snvs"].items():
        data = np.load(path)
        windows, ref, alt = TO_GPN[data["windows"]], TO_GPN[data["ref"]], TO_GPN[data["alt"]]
        centre, llr = windows.shape[1] // 2, []
        for i in range(0, len(windows), 64):
            fwd = windows[i : i + 64].copy()
            rev = np.where(fwd >= 3, 9 - fwd, fwd)[:, ::-1].copy()  # a<->t (3<->6), c<->g (4<->5)
            rc_centre = windows.shape[1] - 1 - centre
            fwd[:, centre], rev[:, rc_centre] = MASK, MASK
            with torch.no_grad(), autocast(job, torch):
                lf = model(input_ids=_dev(fwd, job, torch)).logits[:, centre].float().cpu().numpy()
                lr = model(input_ids=_dev(rev, job, torch)).logits[:, rc_centre].float().cpu().numpy()
            r, a = ref[i : i + 64], alt[i : i + 64]
            rows = np.arange(len(r))
            llr.extend(0.5 * ((lf[rows, a] - lf[rows, r]) + (lr[rows, 9 - a] - lr[rows, 9 - r])))
        out[genome] = [float(x) for x in llr]
    return out


def worker(job_path: Path) -> int:
    import torch
    from gpn.model import GPNConfig, GPNForMaskedLM

    job = json.loads(job_path.read_text())
    torch.set_num_threads(job["threads"])
    torch.manual_seed(job["seed"])
    if job.get("model_dir"):  # score only: a trained peer's weights on another SNV set
        model = GPNForMaskedLM.from_pretrained(job["model_dir"]).to(job["device"])
        Path(job["result"]).write_text(json.dumps({"llr": score(job, model, torch)}))
        return 0
    config = GPNConfig(vocab_size=VOCAB, num_hidden_layers=job["layers"], hidden_size=job["hidden"],
                       intermediate_size=4 * job["hidden"], dilation_cycle=job["dilation_cycle"])  # fmt: skip
    model = GPNForMaskedLM(config).to(job["device"])
    result = train(job, model, torch)
    result["parameters"] = sum(p.numel() for p in model.parameters())
    keys = ("num_hidden_layers", "hidden_size", "intermediate_size", "first_kernel_size", "rest_kernel_size")
    result["config"] = {k: getattr(config, k) for k in (*keys, "dilation_cycle")}
    result["llr"] = score(job, model, torch)
    model.save_pretrained(job["out"])
    Path(job["result"]).write_text(json.dumps(result))
    return 0


# ------------------------------------------------------------------------------------ driver (genomamba env)
def peer_env(threads: int | None = None) -> dict:
    """The peer's environment: this one without PYTHONPATH (benchmarks/recipe.Runner points it at the repository,
    whose kernels/ folder shadows a package transformers imports), with its thread count."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return env if threads is None else {**env, "OMP_NUM_THREADS": str(threads)}


def run_worker(python: str, job: dict, job_path: Path, threads: int) -> dict:
    """Write ``job`` to ``job_path``, run this file's worker on it in the peer's Python, and return its result."""
    job_path.write_text(json.dumps(job))
    subprocess.run([python, __file__, "--worker", str(job_path)], check=True, env=peer_env(threads))
    return json.loads(Path(job["result"]).read_text())


def peer_python(explicit: str | None) -> tuple[str, dict | None]:
    """(python, {package: version} of gpn, transformers and torch, or None without gpn) of the peer environment."""
    python = explicit or (str(PEERS_PYTHON) if PEERS_PYTHON.exists() else sys.executable)
    code = "import importlib.metadata as m, gpn.model; print(*(m.version(p) for p in ('gpn', 'transformers', 'torch')))"
    # run outside the repository: with ``-c`` the working directory comes first on sys.path, and genomamba's
    # top-level kernels/ folder would shadow the ``kernels`` package that transformers >= 5.25 imports
    # and in the peer's environment, as the worker runs
    probe = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir(),
                           env=peer_env())  # fmt: skip
    if probe.returncode != 0:
        return python, None
    return python, dict(zip(("gpn", "transformers", "torch"), probe.stdout.split()))


def snv_windows(genome: str, vcf: Path, width: int, per_class: int | None, dst: Path) -> tuple[Path, dict]:
    """The dev SNVs of ``genome`` as centred token windows (N-padded at chromosome ends) -> npz, plus their
    chrom/csq arrays for the AUROCs."""
    from recipe import subsample_vcf

    from genomamba.genome.fasta import Genome
    from genomamba.genome.registry import resolve_genome

    if per_class:
        vcf = subsample_vcf(vcf, dst.with_suffix(".vcf"), per_class)
    rows = [ln.split("\t") for ln in vcf.read_text().splitlines() if ln and not ln.startswith("#")]
    code = {b: i for i, b in enumerate("ACGT")}
    with Genome(resolve_genome(genome)[0]) as fasta:
        chroms = {c: fasta.fetch_tokens(c, 0, n)[0] for c, n in fasta.contigs.items() if c in {r[0] for r in rows}}
    half = width // 2
    windows = np.full((len(rows), width), 4, np.uint8)
    for i, r in enumerate(rows):
        seq, p = chroms[r[0]], int(r[1]) - 1
        lo, hi = max(0, p - half), min(seq.size, p - half + width)
        windows[i, lo - (p - half) : hi - (p - half)] = seq[lo:hi]
    ref = np.array([code[r[3]] for r in rows], np.int64)
    alt = np.array([code[r[4]] for r in rows], np.int64)
    np.savez(dst, windows=windows, ref=ref, alt=alt)
    info = {
        "chrom": np.array([r[0] for r in rows]),
        "csq": np.array([r[7].split("CSQ=")[1].split(";")[0] for r in rows]),
        **{name: np.array([r[col] for r in rows]) for name, col in (("pos", 1), ("ref", 3), ("alt", 4))},
    }
    return dst, info


def rescore(args) -> int:
    """``--rescore MODEL``: a trained peer's masked LLR on the SNVs of ``--vcf`` (INFO CSQ) -> a TSV with the columns
    ``score-vcf --keep-info CSQ`` writes (chrom, pos, ref, alt, CSQ, llr), so benchmarks that read genomamba's
    scores read the peer's the same way (benchmarks/heldout_snvs.py --gpn-model)."""
    from genomamba.atomic import atomic_file

    python, versions = peer_python(args.peer_python)
    if versions is None:
        raise SystemExit(f"--rescore: gpn is not installed in {python} (--peer-python)")
    if not (args.rescore / "config.json").is_file():
        raise SystemExit(f"--rescore {args.rescore}: no config.json (not a saved GPN model folder)")
    args.work.mkdir(parents=True, exist_ok=True)
    path, info = snv_windows(args.genome, args.vcf, args.context, None, args.work / f"snvs_{args.genome}.npz")
    job = {"snvs": {args.genome: str(path)}, "model_dir": str(args.rescore), "device": args.device,
           "threads": args.threads, "seed": 0, "result": str(args.work / "rescore_result.json")}  # fmt: skip
    llr = run_worker(python, job, args.work / "rescore_job.json", args.threads)["llr"][args.genome]
    with atomic_file(args.out) as tmp:
        with open(tmp, "w") as fh:
            fh.write(f"#gpn_model={args.rescore}\n#context={args.context}\nchrom\tpos\tref\talt\tCSQ\tllr\n")
            for i, x in enumerate(llr):
                fh.write("\t".join([*(str(info[c][i]) for c in ("chrom", "pos", "ref", "alt", "csq")), f"{x:.6g}"]))
                fh.write("\n")
    print(f"GPN masked LLR of {len(llr)} SNVs -> {args.out}", file=sys.stderr)
    return 0


def make_job(args, work: Path) -> tuple[dict, dict]:
    """The worker's job (genomes, probabilities, budget, SNV files) and the SNV labels kept by the driver."""
    from recipe import FOCAL_VCF, VEP_DIR

    from genomamba.pretrain.config import load_pretrain_config
    from genomamba.pretrain.data import PretrainDataModule

    cfg, model_cfg = load_pretrain_config(args.config, args.overrides)
    dm = PretrainDataModule(None, cfg.data, "mlm", True, 1, 1, cfg.seed)
    dm.check()  # the same genomes, homolog guard and sampling probabilities as genomamba pretrain
    genomes = [{"name": s.name, "root": str(s.root.resolve()), "train": s.splits["train"].tolist()} for s in dm.sources]
    snvs, labels = {}, {}
    for s in dm.sources:
        if s.name in FOCAL_VCF and (VEP_DIR / FOCAL_VCF[s.name]).is_file():
            path, labels[s.name] = snv_windows(s.name, VEP_DIR / FOCAL_VCF[s.name], args.context, args.snvs_per_class,
                                               work / f"snvs_{s.name}.npz")  # fmt: skip
            snvs[s.name] = str(path)
    job = {
        "genomes": genomes, "probs": dm.probs.tolist(), "seq_len": args.seq_len,
        "batch": max(1, cfg.data.tokens_per_micro_batch // args.seq_len), "softmask_weight": cfg.data.softmask_weight,
        "lr": args.lr, "minutes": args.minutes, "threads": args.threads, "device": args.device, "seed": cfg.seed,
        "hidden": args.hidden,
        "layers": args.layers, "dilation_cycle": args.dilation_cycle, "snvs": snvs,
        "out": str(work / "gpn_model"), "result": str(work / "worker_result.json"),
    }  # fmt: skip
    return job, labels


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "pretrain" / "default_model.yaml")
    ap.add_argument("--match", type=Path, help="a genomamba pretrain summary.json: train for its fit_seconds")
    ap.add_argument("--minutes", type=float, help="training wall time (default: --match, else 10)")
    ap.add_argument("--peer-python", help=f"Python with gpn installed (default {PEERS_PYTHON} if it exists)")
    ap.add_argument("--hidden", type=int, default=128, help="GPN hidden size (default %(default)s)")
    ap.add_argument("--layers", type=int, default=8, help="GPN convolution layers (default %(default)s)")
    ap.add_argument("--dilation-cycle", type=int, default=8, help="dilation doubles per layer, resets every N")
    ap.add_argument("--seq-len", type=int, default=512, help="training crop length (GPN's 512)")
    ap.add_argument("--context", type=int, default=512, help="scoring window around each SNV")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="torch device of the peer, e.g. cuda")
    ap.add_argument("--snvs-per-class", type=int)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--smoke", action="store_true", help="10 s of a tiny GPN on the smoke genomes, few SNVs")
    ap.add_argument("--smoke-work", type=Path, default=ROOT / "results" / "default_model_smoke",
                    help="--smoke: the default_model.py --smoke folder holding the windows")  # fmt: skip
    ap.add_argument("--work", type=Path)
    ap.add_argument(
        "--rescore",
        type=Path,
        metavar="MODEL",
        help="score --vcf on --genome with a trained peer's saved folder (WORK/gpn_model) into --out TSV",
    )
    ap.add_argument("--vcf", type=Path, help="--rescore: SNVs with INFO CSQ")
    ap.add_argument("--genome", help="--rescore: the genome name of --vcf (genomamba genomes)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="pretraining config overrides")
    args = ap.parse_args(argv)
    if args.rescore:
        if not (args.vcf and args.genome and args.out and args.work):
            ap.error("--rescore needs --vcf, --genome, --out and --work")
        if args.out.suffix != ".tsv":
            ap.error(f"--out {args.out}: expected a file name ending in .tsv")
        return args
    args.work = args.work or ROOT / ("results/gpn_peer_smoke" if args.smoke else "results/gpn_peer")
    args.out = args.out or (args.work / "gpn_peer.json" if args.smoke else OUT)
    if args.smoke:
        sys.path.insert(0, str(HERE.parent))
        from default_model import recipe_overrides

        args.overrides = recipe_overrides(False, True, args.smoke_work, args.overrides)
        args.minutes, args.hidden, args.layers, args.seq_len, args.context = 10 / 60, 16, 2, 128, 128
        args.snvs_per_class, args.bootstrap = args.snvs_per_class or 8, min(args.bootstrap, 50)
    if args.minutes is None:
        args.minutes = json.loads(args.match.read_text())["fit_seconds"] / 60 if args.match else 10.0
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args.worker)
    sys.path[:0] = [str(ROOT), str(HERE.parent)]
    if args.rescore:
        return rescore(args)
    from recipe import contrast_aurocs, machine, write_json

    python, versions = peer_python(args.peer_python)
    record = {"peer": "GPN (GPNForMaskedLM, convnet encoder)", "peer_python": python,
              "gpn_version": versions and versions["gpn"], "peer_packages": versions}  # fmt: skip
    if versions is None:
        write_json(args.out, {**record, "status": "gpn not installed"})
        print(f"gpn is not installed in {python}: recorded in {args.out}", file=sys.stderr)
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    job, labels = make_job(args, args.work)
    result = run_worker(python, job, args.work / "job.json", args.threads)
    sampling = {g["name"]: p for g, p in zip(job["genomes"], job["probs"])}  # the model card compares it with its own
    record.update(status="ok", minutes=args.minutes, machine=machine(args.threads), recipe=str(args.config),
                  sampling=sampling, **{k: v for k, v in result.items() if k != "llr"})  # fmt: skip
    for genome, llr in result["llr"].items():
        lab = labels[genome]
        record[genome] = {"contrasts": contrast_aurocs(lab["chrom"], lab["csq"], np.array(llr), args.bootstrap)}
    write_json(args.out, record)
    print(json.dumps({g: v["contrasts"] for g, v in record.items() if isinstance(v, dict) and "contrasts" in v}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
