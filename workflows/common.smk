# Helpers shared by all .smk files (config defaults, paths, input functions). No ML logic here.
import re
import sys
from importlib import resources
from pathlib import Path

RESULTS = config.get("results", "results")
GENOMES = list(config["genomes"])
RES = config.get("resources", {})
THREADS = RES.get("threads", 2)
MEM_MB = RES.get("mem_mb", 8000)
GPUS = RES.get("gpu", 0)

# the CLI of the environment Snakemake runs in (also inside SLURM jobs, which re-run this interpreter)
GENOMAMBA = f"{sys.executable} -m genomamba"


def section(name):
    return config.get(name, {}) or {}


def is_enabled(name):
    return section(name).get("enabled", True)


def genome_cfg(genome):
    return config["genomes"][genome]


def resolve_spec(spec):
    """`bundled:<genome>/<file>` -> a file shipped in the genomamba package; anything else is a path."""
    if spec.startswith("bundled:"):
        return str(resources.files("genomamba") / "resources" / "genomes" / spec.removeprefix("bundled:"))
    return spec


def workflow_path(path):
    """Config files named relative to the workflow (configs/...) resolve against it, not the working dir."""
    p = Path(path)
    return str(p if p.is_absolute() or p.exists() else Path(workflow.basedir) / p)


def genomes_with_annotation():
    return [g for g in GENOMES if genome_cfg(g).get("annotation")]


def vcf_jobs():
    return [(g, name) for g in GENOMES for name in (genome_cfg(g).get("vcfs") or {})]


def all_targets():
    targets = [f"{RESULTS}/summary.txt"]
    return targets


def windows_args(wildcards):
    w = genome_cfg(wildcards.genome).get("windows", {})
    args = [
        f"--window-size {w.get('window_size', 1048576)}",
        f"--min-tail {w.get('min_tail', 65536)}",
        f"--max-n-frac {w.get('max_n_frac', 0.5)}",
        f"--split-by {w.get('split_by', 'block')}",
    ]
    if "stride" in w:
        args.append(f"--stride {w['stride']}")
    return " ".join(args)


def summary_metrics(wildcards=None):
    """LABEL=FILE[:keys] arguments for `genomamba summarize`, one per stage output that the config enables."""
    items = {}
    for g in GENOMES:
        items[f"windows {g}"] = (f"{RESULTS}/windows/{g}/qc.json", "kept.total,dropped.total")
    return items
