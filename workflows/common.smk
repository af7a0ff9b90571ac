# Helpers shared by all .smk files (config defaults, paths, input functions). No ML logic here.
import re
import shlex
import sys
from importlib import resources
from pathlib import Path

# validate() has filled every default the schema declares, so sections are read with [], never .get(key, default)
RESULTS = config["results"]
GENOMES = list(config["genomes"])
THREADS = config["resources"]["threads"]
MEM_MB = config["resources"]["mem_mb"]
GPUS = config["resources"]["gpu"]

# the CLI of the environment Snakemake runs in (also inside SLURM jobs, which re-run this interpreter)
GENOMAMBA = f"{sys.executable} -m genomamba"


def section(name):
    return config[name]


def is_enabled(name):
    return section(name)["enabled"]


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


# fine-tuning tasks shipped with genomamba (sequence tables, no annotation needed) and the config each trains with
BUNDLED_TASKS = {"gue_emp_h3": "configs/finetune/demo_emp.yaml"}


def start_checkpoint(genome):
    """What fine-tuning and variant scoring start from: this genome's pretraining, or the bundled default model."""
    return "default" if config["model"] == "default" else f"{RESULTS}/pretrain/{genome}/best"


def start_inputs(genome):
    return [] if config["model"] == "default" else [f"{RESULTS}/pretrain/{genome}/summary.json"]


def task_data(wildcards):
    """A bundled task's folder inside the package, or the task table made from the genome's annotation."""
    if wildcards.task in BUNDLED_TASKS:
        return str(resources.files("genomamba") / "resources" / "tasks" / wildcards.task)
    return f"{RESULTS}/tasks/{wildcards.genome}/{wildcards.task}.tsv"


def task_args(wildcards):
    """--config (and --fasta for annotation tasks, whose tables are intervals on the genome) of a fine-tuning job."""
    if wildcards.task in BUNDLED_TASKS:
        return f"--config {workflow_path(BUNDLED_TASKS[wildcards.task])}"
    fasta = genome_cfg(wildcards.genome)["fasta"]
    return f"--config {workflow_path(section('finetune')['config'])} --fasta {fasta}"


def genomes_with_annotation():
    return [g for g in GENOMES if genome_cfg(g)["annotation"]]


def vcf_jobs():
    return [(g, name) for g in GENOMES for name in genome_cfg(g)["vcfs"]]


def pretrain_overrides():
    """Config overrides for the pretrain rule: the user's, plus the device layout for multi-device runs."""
    pre = section("pretrain")
    extra = list(pre["overrides"])
    if pre["devices"] > 1 or pre["nodes"] > 1:
        extra += [f"trainer.devices={pre['devices']}", f"trainer.num_nodes={pre['nodes']}"]
    return [shlex.quote(item) for item in extra]


def annotation_arg(genome):
    """--annotation for make-task: a path is passed on; a bundled genome name brings its own annotation."""
    annotation = genome_cfg(genome)["annotation"]
    if annotation and (annotation.endswith((".gff", ".gff3", ".gtf", ".gz")) or "/" in annotation):
        return f"--annotation {annotation}"
    return ""


def finetune_jobs():
    if not (is_enabled("finetune") and (is_enabled("pretrain") or config["model"] == "default")):
        return []
    tasks = section("finetune")["tasks"]
    annotated = [(g, t) for g in genomes_with_annotation() for t in tasks if t not in BUNDLED_TASKS]
    return annotated + [(g, t) for g in GENOMES for t in tasks if t in BUNDLED_TASKS]


def vep_jobs():
    if not (is_enabled("vep") and (is_enabled("pretrain") or config["model"] == "default")):
        return []
    return vcf_jobs()


def all_targets():
    plots = [f"{RESULTS}/pretrain/{g}/training.png" for g in GENOMES] if is_enabled("pretrain") else []
    return [f"{RESULTS}/summary.txt", *plots]


def cli_flags(settings):
    """Only the settings the config sets, as CLI flags: the package's dataclasses stay the one source of defaults."""
    return " ".join(f"--{key.replace('_', '-')} {shlex.quote(str(value))}" for key, value in settings.items())


def windows_args(wildcards):
    return cli_flags(genome_cfg(wildcards.genome).get("windows") or {})


def score_vcf_args(wildcards):
    """The ScoreVcfConfig fields the workflow config may set (today: context), only where it sets them."""
    return cli_flags({k: section("vep")[k] for k in ("context",) if k in section("vep")})


def vep_keep_info(wildcards):
    return ",".join(f for f in (section("vep")["label_field"], section("vep")["group_field"]) if f)


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
