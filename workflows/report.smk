# The end of the DAG: one summary table of every stage's headline metrics (printed by `make demo`), and the
# inputs of `snakemake --report` (declared with report() in the stage rules).


rule summary:
    input:
        lambda wc: [path for path, _ in summary_metrics().values()],
    output:
        txt=f"{RESULTS}/summary.txt",
        json=f"{RESULTS}/summary.json",
    params:
        cli=GENOMAMBA,
        metrics=lambda wc: " ".join(
            f"--metrics '{label}={path}:{keys}'" for label, (path, keys) in summary_metrics().items()
        ),
    log:
        f"{RESULTS}/logs/summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/summary.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "envs/genomamba.yaml"
    shell:
        "{params.cli} summarize {params.metrics} --out {output.txt} > {log} 2>&1"
