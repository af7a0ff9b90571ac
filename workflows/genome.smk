# FASTA -> windows directory (tokens memmap, soft-mask, manifest, QC report) for every configured genome.


rule windows_make:
    output:
        # the CLI writes the whole directory atomically; these are the files later rules depend on
        tokens=f"{RESULTS}/windows/{{genome}}/tokens.u8",
        manifest=f"{RESULTS}/windows/{{genome}}/windows.parquet",
        qc=f"{RESULTS}/windows/{{genome}}/qc.json",
    params:
        cli=GENOMAMBA,
        fasta=lambda wc: genome_cfg(wc.genome)["fasta"],
        out=lambda wc: f"{RESULTS}/windows/{wc.genome}",
        args=windows_args,
    log:
        f"{RESULTS}/logs/windows_make/{{genome}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/windows_make/{{genome}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "envs/genomamba.yaml"
    shell:
        "{params.cli} windows --fasta {params.fasta} --out {params.out} {params.args} > {log} 2>&1"
