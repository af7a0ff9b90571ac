# VCF -> zero-shot variant scores (model LLR; the two-sided k-mer baseline beside it) -> AUROC/AUPRC per group.


rule vep_score:
    input:
        vcf=lambda wc: resolve_spec(genome_cfg(wc.genome)["vcfs"][wc.vcf]),
        pretrained=lambda wc: start_inputs(wc.genome),
    output:
        f"{RESULTS}/vep/{{genome}}/{{vcf}}.scores.tsv",
    params:
        cli=GENOMAMBA,
        fasta=lambda wc: genome_cfg(wc.genome)["fasta"],
        checkpoint=lambda wc: start_checkpoint(wc.genome),
        args=score_vcf_args,
        keep=vep_keep_info,
    log:
        f"{RESULTS}/logs/vep_score/{{genome}}.{{vcf}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/vep_score/{{genome}}.{{vcf}}.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB,
        runtime=4 * 60,
    conda:
        "envs/genomamba.yaml"
    shell:
        "{params.cli} score-vcf --vcf {input.vcf} --fasta {params.fasta} --checkpoint {params.checkpoint} "
        "{params.args} --keep-info {params.keep} --no-progress --out {output} > {log} 2>&1"


rule vep_kmer:
    input:
        vcf=lambda wc: resolve_spec(genome_cfg(wc.genome)["vcfs"][wc.vcf]),
    output:
        f"{RESULTS}/vep/{{genome}}/{{vcf}}.kmer.tsv",
    params:
        cli=GENOMAMBA,
        fasta=lambda wc: genome_cfg(wc.genome)["fasta"],
        keep=vep_keep_info,
    log:
        f"{RESULTS}/logs/vep_kmer/{{genome}}.{{vcf}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/vep_kmer/{{genome}}.{{vcf}}.tsv"
    threads: 1
    resources:
        mem_mb=MEM_MB,
        runtime=60,
    conda:
        "envs/genomamba.yaml"
    shell:
        "{params.cli} score-vcf --vcf {input.vcf} --fasta {params.fasta} --kmer-baseline 4 "
        "--keep-info {params.keep} --no-progress --out {output} > {log} 2>&1"


rule vep_evaluate:
    input:
        model=f"{RESULTS}/vep/{{genome}}/{{vcf}}.scores.tsv",
        baseline=f"{RESULTS}/vep/{{genome}}/{{vcf}}.kmer.tsv",
    output:
        metrics=report(
            f"{RESULTS}/vep/{{genome}}/{{vcf}}.eval/vep_metrics.json",
            category="Variant effects",
            caption="report/vep.rst",
        ),
        roc=report(
            f"{RESULTS}/vep/{{genome}}/{{vcf}}.eval/roc.png", category="Variant effects", caption="report/vep.rst"
        ),
        distributions=report(
            f"{RESULTS}/vep/{{genome}}/{{vcf}}.eval/score_distributions.png",
            category="Variant effects",
            caption="report/vep.rst",
        ),
    params:
        cli=GENOMAMBA,
        out=lambda wc: f"{RESULTS}/vep/{wc.genome}/{wc.vcf}.eval",
        name="genomamba_default" if config["model"] == "default" else "genomamba",
        label=lambda wc: section("vep")["label_field"],
        group=lambda wc: section("vep")["group_field"],
        contrasts=lambda wc: " ".join(f"--contrast {shlex.quote(c)}" for c in section("vep")["contrasts"]),
    log:
        f"{RESULTS}/logs/vep_evaluate/{{genome}}.{{vcf}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/vep_evaluate/{{genome}}.{{vcf}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "envs/genomamba.yaml"
    shell:
        "{params.cli} evaluate-vep --scores {params.name}={input.model} --scores kmer4={input.baseline} "
        "--label-field {params.label} --group-field {params.group} {params.contrasts} --out {params.out} > {log} 2>&1"
