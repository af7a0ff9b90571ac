# genomamba end-to-end workflow: reference -> windows -> pretrain -> tasks -> fine-tune -> evaluate -> VEP -> report.
# Rules are thin: each calls the `genomamba` CLI; the logic lives in the package and is unit-tested there.
import os
import re

from snakemake.utils import min_version, validate

min_version("9.0")


# Resolved against this file, not the working directory, so the workflow runs from anywhere;
# `snakemake --configfile my.yaml` merges on top of these defaults.
configfile: os.path.join(workflow.basedir, "configs/config.yaml")


validate(config, "configs/schemas/config.schema.yaml")


include: "workflows/common.smk"


wildcard_constraints:
    genome="|".join(map(re.escape, GENOMES)),


include: "workflows/genome.smk"
include: "workflows/pretrain.smk"
include: "workflows/finetune.smk"
include: "workflows/vep.smk"
include: "workflows/report.smk"
include: "workflows/inference.smk"


rule all:
    input:
        all_targets(),
        inference_targets(),
    default_target: True
