# Helpers shared by all .smk files (config defaults, paths, input functions). No ML logic here.
import re
import shlex
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


def pretrain_overrides():
    """Config overrides for the pretrain rule: the user's, plus the device layout for multi-device runs."""
    pre = section("pretrain")
    extra = list(pre.get("overrides", []))
    if pre.get("devices", 1) > 1 or pre.get("nodes", 1) > 1:
        extra += [f"trainer.devices={pre.get('devices', 1)}", f"trainer.num_nodes={pre.get('nodes', 1)}"]
    return [shlex.quote(item) for item in extra]


def annotation_arg(genome):
    """--annotation for make-task: a path is passed on; a bundled genome name brings its own annotation."""
    annotation = genome_cfg(genome).get("annotation")
    if annotation and (annotation.endswith((".gff", ".gff3", ".gtf", ".gz")) or "/" in annotation):
        return f"--annotation {annotation}"
    return ""


def finetune_jobs():
    if not (is_enabled("finetune") and is_enabled("pretrain")):
        return []
    return [(g, t) for g in genomes_with_annotation() for t in section("finetune").get("tasks", ["promoters"])]


def vep_jobs():
    if not (is_enabled("vep") and is_enabled("pretrain")):
        return []
    return vcf_jobs()


def all_targets():
    return [f"{RESULTS}/summary.txt"]


def windows_args(wildcards):
    """Only the window settings the config sets: WindowsConfig stays the single source of defaults."""
    w = genome_cfg(wildcards.genome).get("windows", {}) or {}
    return " ".join(f"--{key.replace('_', '-')} {value}" for key, value in w.items())


def summary_metrics(wildcards=None):
    """LABEL -> (json, keys) for `genomamba summarize`: the headline numbers of every enabled stage."""
    items = {}
    for g in GENOMES:
        items[f"windows {g}"] = (f"{RESULTS}/windows/{g}/qc.json", "")
        if is_enabled("pretrain"):
            items[f"pretrain {g}"] = (f"{RESULTS}/pretrain/{g}/summary.json", "")
    for g, t in finetune_jobs():
        items[f"finetune {g} {t}"] = (f"{RESULTS}/finetune/{g}/{t}/eval/metrics.json", "")
    for g, v in vep_jobs():
        items[f"vep {g} {v}"] = (f"{RESULTS}/vep/{g}/{v}.eval/vep_metrics.json", "")
    return items
