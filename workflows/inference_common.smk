# Helpers of workflows/inference.smk (config -> CLI arguments, targets, GPU requests). No ML logic here.


def inference_gpus(wildcards=None):
    return GPUS if section("inference")["device"] != "cpu" else 0


def inference_track_args(wildcards):
    """--annotation and --genes for `genomamba track` (the flank around genes is the command's own default)."""
    genes = section("inference")["genes"]
    genes = str(genes) if isinstance(genes, int) else ",".join(genes)
    return f"--annotation {shlex.quote(genome_cfg(wildcards.genome)['annotation'])} --genes {shlex.quote(genes)}"


def inference_targets():
    if not (is_enabled("inference") and is_enabled("pretrain")):
        return []
    out = [f"{RESULTS}/inference/{g}/tracks/browser.png" for g in genomes_with_annotation()]
    if section("inference")["embed"]:
        out += [f"{RESULTS}/inference/{g}/embeddings.test.parquet" for g in GENOMES]
    return out
