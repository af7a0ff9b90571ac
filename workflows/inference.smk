# Opt-in inference (config `inference.enabled`): per-base tracks of the pretrained model around annotated genes,
# with a genome-browser figure in the report, and embeddings of the held-out (test) windows.
# GPUs are requested only when the inference device may use one (inference.device not cpu) and resources.gpu > 0.


include: "inference_common.smk"


rule inference_tracks:
    input:
        pretrained=f"{RESULTS}/pretrain/{{genome}}/summary.json",
    output:
        # the CLI writes the whole directory atomically; these are the files the report and later rules read
        record=f"{RESULTS}/inference/{{genome}}/tracks/track.json",
        figure=report(
            f"{RESULTS}/inference/{{genome}}/tracks/browser.png",
            category="Inference",
            caption="report/inference.rst",
        ),
    params:
        cli=GENOMAMBA,
        fasta=lambda wc: genome_cfg(wc.genome)["fasta"],
        checkpoint=lambda wc: f"{RESULTS}/pretrain/{wc.genome}/best",
        out=lambda wc: f"{RESULTS}/inference/{wc.genome}/tracks",
        args=inference_track_args,
        device=lambda wc: section("inference")["device"],
    log:
        f"{RESULTS}/logs/inference_tracks/{{genome}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/inference_tracks/{{genome}}.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB,
        runtime=60,
        gpu=inference_gpus,
    conda:
        "envs/genomamba.yaml"
    shell:
        "{params.cli} track --checkpoint {params.checkpoint} --fasta {params.fasta} {params.args} --figure "
        "--device {params.device} --threads {threads} --out {params.out} > {log} 2>&1"


rule inference_embed:
    input:
        manifest=f"{RESULTS}/windows/{{genome}}/windows.parquet",
        pretrained=f"{RESULTS}/pretrain/{{genome}}/summary.json",
    output:
        f"{RESULTS}/inference/{{genome}}/embeddings.test.parquet",
    params:
        cli=GENOMAMBA,
        windows=lambda wc: f"{RESULTS}/windows/{wc.genome}",
        checkpoint=lambda wc: f"{RESULTS}/pretrain/{wc.genome}/best",
        device=lambda wc: section("inference")["device"],
    log:
        f"{RESULTS}/logs/inference_embed/{{genome}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/inference_embed/{{genome}}.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB,
        runtime=60,
        gpu=inference_gpus,
    conda:
        "envs/genomamba.yaml"
    shell:
        "{params.cli} embed --windows {params.windows} --split test --checkpoint {params.checkpoint} "
        "--device {params.device} --threads {threads} --out {output} > {log} 2>&1"
