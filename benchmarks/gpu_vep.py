"""The GPU check's ``score_vcf`` step: variant-scoring throughput (variants/s) of the zero-shot engine on CUDA and on
the CPU, for random-init ``small`` and ``base`` models at 1k / 4k / 16k contexts, CUDA scores checked against CPU
scores first.

The device machine has no pysam (the VCF reader) and no pyfaidx (FASTA indexing), so the step drives
``genomamba.vep.engine.VariantEffectScorer`` directly, as ``score-vcf`` does for each chunk of records:

* ``prep`` (CPU side, ``gpu_check.py --prep``) reads the bundled yeast VCF with the project's reader into
  ``Variant`` fields and the reference's bases (original case) into one .npz, and checks that the engine scores
  every variant identically with ``ArrayGenome`` over those bases and with ``genome.fasta.Genome`` (k-mer scorer);
* on the device ``ArrayGenome`` serves the engine's reference reads (``contigs``, ``resolve``, ``fetch``,
  ``fetch_tokens``) from the arrays. ``Genome`` itself needs a ``.fai`` and ``.gzi`` whose modification times are
  not older than the FASTA's, else it rebuilds them with pyfaidx; a carried copy need not keep those times.

Throughput is records scored per second of ``engine.score`` (planning, reference reads, model passes, score
extraction; no VCF parsing or writing). The CPU runs only the smallest case, in chunks of records, stopped after
its time box; the same records' CUDA scores (bf16 autocast) must match within ``TOL_REL`` of the CPU scores' RMS.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

VEP_FILE = Path("vep") / "yeast_chrI.npz"  # under the prep folder (results/gpu-prep)
KMER_K = 3  # order of the k-mer scorer behind prep's ArrayGenome-vs-Genome check
PREP_CONTEXT = 1024
# records per engine.score call on the CPU (about 50 tiles of 1k on the yeast VCF, one batch); the time box is
# checked between chunks
CPU_CHUNK = 128
# bf16 autocast: matmul inputs keep 8 significant bits (unit roundoff 2^-8), so logits and their differences
# (an SNV LLR is logit[alt] - logit[ref]) carry errors of about 1% of their size after a few layers
TOL_REL = 0.05  # max |LLR_cuda - LLR_cpu| <= TOL_REL * RMS(LLR_cpu) + TOL_ABS
TOL_ABS = 1e-3
MIN_PEARSON = 0.995


def plan(dry: bool) -> dict:
    """What the step runs (``dry``: the tiny CPU version); ``variants``: records scored per pass (None: all)."""
    if dry:
        check = {"preset": "tiny", "context": 128, "records": 24, "cpu_time_box_s": 30.0}
        return {"presets": ["tiny"], "contexts": [128, 256], "variants": 48, "reps": 1, "check": check}
    check = {"preset": "small", "context": 1024, "records": 320, "cpu_time_box_s": 10.0}
    return {"presets": ["small", "base"], "contexts": [1024, 4096, 16384], "variants": None, "reps": 3, "check": check}


# ------------------------------------------------------------------------------------------------ the reference


class ArrayGenome:
    """What the scoring engine reads of ``genome.fasta.Genome``, over raw bases held in memory.

    ``bases``: ``{contig: uint8 (L,) ASCII in the FASTA's case}``; ``aliases``: ``{VCF name: contig}`` as
    ``Genome.resolve`` mapped them on the CPU side. Coordinates are 0-based, half-open.
    """

    def __init__(self, bases: dict[str, np.ndarray], aliases: dict[str, str]):
        self._bases = bases
        self._aliases = aliases
        self.contigs = {name: int(b.size) for name, b in bases.items()}

    def resolve(self, name: str) -> str:
        from genomamba.errors import GenomambaError

        hit = name if name in self._bases else self._aliases.get(name)
        if hit is None:
            raise GenomambaError(f"unknown sequence {name!r}")
        return hit

    def read_bases(self, chrom: str, start: int, end: int) -> np.ndarray:
        from genomamba.errors import GenomambaError

        name = self.resolve(chrom)
        if not 0 <= start <= end <= self.contigs[name]:
            raise GenomambaError(f"interval {start}-{end} is outside the sequence", None, name)
        return self._bases[name][start:end]

    def fetch(self, chrom: str, start: int, end: int) -> str:
        return self.read_bases(chrom, start, end).tobytes().decode("latin-1")

    def fetch_tokens(self, chrom: str, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """``(tokens uint8 (L,), softmask uint8 (L,))`` as ``Genome.fetch_tokens`` on the forward strand."""
        from genomamba.alphabet import encode_with_softmask

        return encode_with_softmask(self.read_bases(chrom, start, end))


def load_inputs(npz: Path):
    """-> (ArrayGenome, [Variant] in file order, meta) from the file ``prep`` wrote."""
    from genomamba.vep.refcheck import Variant

    with np.load(npz, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        bases = {name: z[f"bases_{i}"] for i, name in enumerate(meta["contigs"])}
        chrom, pos, ref, alts = z["chrom"], z["pos"], z["ref"], z["alts"]
    variants = [
        Variant(str(c), int(p), str(r), tuple(str(a).split(",")) if a else (), f"record {i + 1}")
        for i, (c, p, r, a) in enumerate(zip(chrom, pos, ref, alts))
    ]
    return ArrayGenome(bases, meta["aliases"]), variants, meta


def prep(out_dir: Path) -> dict:
    """CPU side (pysam, pyfaidx): the bundled yeast VCF's records and chromosome I's bases into ``VEP_FILE``."""
    from genomamba.atomic import file_digest
    from genomamba.genome.fasta import Genome
    from genomamba.genome.registry import resolve_genome
    from genomamba.vep.vcf_io import iter_records, prepare_input

    fasta, _ = resolve_genome("yeast_chrI")
    vcf = fasta.parent / "consequence_snvs.vcf.gz"
    with tempfile.TemporaryDirectory() as work:
        vin = prepare_input(vcf, work)
        rows = [(r.chrom, r.pos, r.ref or "", ",".join(r.alts or ())) for _, r in iter_records(vin)]
    chrom, pos, ref, alts = (list(col) for col in zip(*rows))
    with Genome(fasta) as genome:
        bases = {name: np.ascontiguousarray(genome.read_bases(name)) for name in genome.contigs}
        aliases = {c: genome.resolve(c) for c in sorted(set(chrom))}
        arrays = ArrayGenome(bases, aliases)
        npz = out_dir / VEP_FILE
        meta = {"fasta": fasta.name, "fasta_md5": file_digest(fasta, "md5"), "vcf": vcf.name, "records": len(rows)}
        meta.update(vcf_md5=file_digest(vcf, "md5"), contigs=list(bases), aliases=aliases)
        npz.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            npz, meta=np.array(json.dumps(meta)), chrom=np.array(chrom), pos=np.array(pos, dtype=np.int64),
            ref=np.array(ref), alts=np.array(alts), **{f"bases_{i}": b for i, b in enumerate(bases.values())},
        )  # fmt: skip
        _, variants, _ = load_inputs(npz)
        same = _same_scores(genome, arrays, variants)
    if not same["identical"]:
        raise RuntimeError(f"ArrayGenome and Genome give different scores: {same}")
    return {"file": str(npz), "records": len(rows), "kib": round(npz.stat().st_size / 1024, 1), "array_check": same}


def _same_scores(genome, arrays: ArrayGenome, variants: list) -> dict:
    """Score every variant through the engine with each reference reader (one fitted k-mer scorer): equal?"""
    from genomamba.vep.config import ScoreVcfConfig
    from genomamba.vep.engine import VariantEffectScorer
    from genomamba.vep.scorers import KmerScorer

    scorer = KmerScorer(KMER_K).fit(genome.fetch_tokens(n, 0, length)[0] for n, length in genome.contigs.items())
    cfg = ScoreVcfConfig(context=PREP_CONTEXT)
    got = [_allele_rows(VariantEffectScorer(scorer, g, cfg).score(variants)) for g in (genome, arrays)]
    scored = sum(1 for row in got[0] if row[0] is not None)
    return {"scorer": f"k-mer k={KMER_K}", "context": PREP_CONTEXT, "alleles": len(got[0]), "scored": scored,
            "identical": got[0] == got[1] and scored > 0}  # fmt: skip


def _allele_rows(results) -> list[tuple]:
    return [(a.llr, tuple(a.flags)) for alleles in results for a in alleles]


# ------------------------------------------------------------------------------------------------ scoring


def _engine(model_scorer, genome, context: int):
    from genomamba.vep.config import ScoreVcfConfig
    from genomamba.vep.engine import VariantEffectScorer

    return VariantEffectScorer(model_scorer, genome, ScoreVcfConfig(context=context))


def _scorer(model, context: int, device: str):
    from genomamba.vep.config import ScoreVcfConfig
    from genomamba.vep.scorers import ModelScorer

    return ModelScorer(model, ScoreVcfConfig(context=context).effective_batch_size, device)


def build_model(preset: str, seed: int = 0):
    """A random-init model of ``preset`` on the CPU (the same weights for the same seed)."""
    import torch

    from genomamba.model import GenomambaModel, ModelConfig

    torch.manual_seed(seed)
    return GenomambaModel(ModelConfig.from_preset(preset)).eval()


def cpu_backend() -> str:
    """The CPU scan backend: the fused C++ kernel, or (no C++ compiler there) the PyTorch reference."""
    try:
        from genomamba_kernels.cpu_scan import load_library

        load_library()
    except Exception:  # compiled at first use: a machine without g++ cannot
        return "ref"
    return "cpu"


def cpu_pass(model, genome, variants: list, context: int, box_s: float) -> tuple[dict, list]:
    """Score ``variants`` on the CPU in chunks of ``CPU_CHUNK`` records until done or ``box_s`` has passed."""
    backend = cpu_backend()
    model.set_backend(backend)
    scorer = _scorer(model, context, "cpu")
    if backend == "ref":
        scorer.batch_size = 4  # the reference scan holds (batch, d_inner, L, d_state) at once
    engine, results = _engine(scorer, genome, context), []
    t0 = time.perf_counter()
    for i in range(0, len(variants), CPU_CHUNK):
        results += engine.score(variants[i : i + CPU_CHUNK])
        if time.perf_counter() - t0 > box_s:
            break
    seconds = time.perf_counter() - t0
    rec = {"device": "cpu", "backend": backend, "threads": _threads(), "time_box_s": box_s, "variants": len(results)}
    rec.update(seconds=seconds, variants_per_s=len(results) / seconds, batch_size=scorer.batch_size)
    rec.update(tile_passes=engine.counts["tile_passes"], strands=engine.strands)
    model.set_backend("auto")
    return rec, results


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def device_pass(model, genome, variants: list, context: int, device: str, reps: int, deadline: float):
    """One untimed pass (compiles, autotunes), then up to ``reps`` timed passes while the deadline allows."""
    import torch

    scorer = _scorer(model, context, device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    _engine(scorer, genome, context).score(variants)
    times, results, engine = [], None, None
    last = warmup = time.perf_counter() - t0
    while len(times) < reps and (not times or deadline - time.perf_counter() > 2 * last):
        engine = _engine(scorer, genome, context)
        t = time.perf_counter()
        results = engine.score(variants)
        last = time.perf_counter() - t
        times.append(last)
    seconds = float(np.median(times))
    rec = {"device": device, "variants": len(variants), "seconds": seconds, "reps_s": times, "warmup_s": warmup}
    rec.update(variants_per_s=len(variants) / seconds, batch_size=scorer.batch_size, strands=engine.strands)
    rec.update(tile_passes=engine.counts["tile_passes"], scored=engine.counts["scored"])
    if device == "cuda":
        rec.update(autocast="bf16", peak_gpu_gib=torch.cuda.max_memory_allocated() / 2**30)
    return rec, results


def compare(cpu_results: list, dev_results: list) -> dict:
    """CUDA against CPU scores on the records the CPU scored: flags equal, LLRs within the bf16 tolerance."""
    want, got = _allele_rows(cpu_results), _allele_rows(dev_results[: len(cpu_results)])
    flags_equal = [w[1] for w in want] == [g[1] for g in got]
    pairs = np.array([(w[0], g[0]) for w, g in zip(want, got) if w[0] is not None and g[0] is not None])
    out = {"alleles": len(want), "n_compared": len(pairs), "flags_equal": flags_equal}
    if len(pairs) < 2:
        return out | {"passed": False, "status": "error", "reason": "fewer than 2 scored alleles to compare"}
    err = np.abs(pairs[:, 1] - pairs[:, 0])
    rms = float(np.sqrt(np.mean(pairs[:, 0] ** 2)))
    tol = TOL_REL * rms + TOL_ABS
    pearson = float(np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1]) if pairs[:, 0].std() > 0 else 1.0
    passed = bool(flags_equal and err.max() <= tol and pearson >= MIN_PEARSON)
    out.update(max_abs_err=float(err.max()), mean_abs_err=float(err.mean()), rms_cpu=rms, tol=tol)
    out.update(pearson=pearson, min_pearson=MIN_PEARSON, passed=passed, status="ok" if passed else "wrong")
    return out


# ------------------------------------------------------------------------------------------------ the step


def run_step(emit, dry: bool, budget_s: float, prep_dir: Path) -> dict:
    """Per preset: the CPU baseline (check preset only, before the model moves), then per context a timed device
    pass; the check preset's device scores at the check context are compared with the CPU's."""
    import torch

    p, chk = plan(dry), plan(dry)["check"]
    device = "cuda" if torch.cuda.is_available() and not dry else "cpu"
    torch.set_num_threads(1 if dry else os.cpu_count() or 1)
    deadline = time.perf_counter() + budget_s - 3
    npz = prep_dir / VEP_FILE
    if not npz.is_file():
        return {"status": "error", "reason": f"{npz} missing: run `make gpu-check-prep` (gpu_check.py --prep)"}
    genome, variants, meta = load_inputs(npz)
    variants = variants[: p["variants"]]
    summary: dict = {"device": device, "records": len(variants), "inputs": {k: meta[k] for k in ("fasta", "vcf")}}
    rates, cpu = {}, None
    for preset in p["presets"]:
        model = build_model(preset)
        base = {"kind": "vep_timing", "preset": preset, "params": model.num_parameters()}
        if preset == chk["preset"]:
            subset = variants[: chk["records"]]
            rec, cpu_results = cpu_pass(model, genome, subset, chk["context"], chk["cpu_time_box_s"])
            emit({**base, "context": chk["context"], "status": "ok", **rec})
            cpu = rec
        model.to(device)
        for context in p["contexts"]:
            where = {**base, "context": context, "device": device}
            if deadline - time.perf_counter() < 2:
                emit({**where, "status": "not_run", "reason": "the step's time budget is spent"})
                continue
            try:
                rec, results = device_pass(model, genome, variants, context, device, p["reps"], deadline)
            except Exception as exc:
                oom = isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()
                emit({**where, "status": "oom" if oom else "error", "error": f"{type(exc).__name__}: {exc}"[:500]})
                continue
            emit({**where, "status": "ok", **rec})
            rates[f"{preset}/{context}"] = rec["variants_per_s"]
            if preset == chk["preset"] and context == chk["context"]:
                check = compare(cpu_results, results)
                emit({"kind": "vep_check", "preset": preset, "context": context, "device": device, **check})
                summary["check"] = {k: check.get(k) for k in ("passed", "n_compared", "max_abs_err", "tol")}
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
    summary.update(variants_per_s=rates, cpu_variants_per_s=cpu and cpu["variants_per_s"])
    key = f"{chk['preset']}/{chk['context']}"
    if cpu and key in rates:
        summary["speedup_vs_cpu"] = rates[key] / cpu["variants_per_s"]
    if "check" not in summary:
        summary.update(status="failed", reason="the CUDA-vs-CPU score check did not run")
    return summary
