# windows -> pretrained checkpoint (OUT/best, OUT/last) + summary.json with bits/base vs k-mer baselines.
# An interrupted job resumes: its Lightning checkpoint (OUT/lightning/last.ckpt) is not a declared output, so
# `--rerun-incomplete` re-runs the rule and the rule continues from that checkpoint instead of starting over.


rule pretrain:
    input:
        tokens=f"{RESULTS}/windows/{{genome}}/tokens.u8",
        manifest=f"{RESULTS}/windows/{{genome}}/windows.parquet",
    output:
        f"{RESULTS}/pretrain/{{genome}}/summary.json",
    params:
        cli=GENOMAMBA,
        config=lambda wc: workflow_path(section("pretrain")["config"]),
        overrides=lambda wc: " ".join(pretrain_overrides()),
        windows=lambda wc: f"{RESULTS}/windows/{wc.genome}",
        out=lambda wc: f"{RESULTS}/pretrain/{wc.genome}",
    log:
        f"{RESULTS}/logs/pretrain/{{genome}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretrain/{{genome}}.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB,
        runtime=24 * 60,
        gpu=GPUS,
        # one task per device: Lightning reads the layout from SLURM and genomamba refuses a mismatch
        tasks_per_node=lambda wc: section("pretrain")["devices"],
        nodes=lambda wc: section("pretrain")["nodes"],
    conda:
        "envs/genomamba.yaml"
    shell:
        "(if [ -f {params.out}/lightning/last.ckpt ]; then resume=--resume; else resume=; fi; "
        "{params.cli} pretrain --config {params.config} --windows {params.windows} --out {params.out} "
        "$resume {params.overrides}) > {log} 2>&1"


rule pretrain_plot:
    input:
        f"{RESULTS}/pretrain/{{genome}}/summary.json",
    output:
        report(
            f"{RESULTS}/pretrain/{{genome}}/training.png",
            category="Pretraining",
            caption="report/pretraining.rst",
        ),
    params:
        cli=GENOMAMBA,
        out=lambda wc: f"{RESULTS}/pretrain/{wc.genome}",
    log:
        f"{RESULTS}/logs/pretrain_plot/{{genome}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretrain_plot/{{genome}}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "envs/genomamba.yaml"
    shell:
        "{params.cli} summarize --plot-pretraining {params.out} --plot-out {output} > {log} 2>&1"
