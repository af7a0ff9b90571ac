# annotation -> labelled task table (or a task bundled with genomamba) -> fine-tuned model -> test-split predictions
# -> metrics (+ k-mer baseline, paired CIs).


rule task_make:
    output:
        f"{RESULTS}/tasks/{{genome}}/{{task}}.tsv",
    params:
        cli=GENOMAMBA,
        fasta=lambda wc: genome_cfg(wc.genome)["fasta"],
        annotation=lambda wc: annotation_arg(wc.genome),
    log:
        f"{RESULTS}/logs/task_make/{{genome}}.{{task}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/task_make/{{genome}}.{{task}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "envs/genomamba.yaml"
    shell:
        "{params.cli} make-task {wildcards.task} --genome {params.fasta} {params.annotation} "
        "--out {output} > {log} 2>&1"


rule finetune:
    input:
        task=task_data,
        pretrained=lambda wc: start_inputs(wc.genome),
    output:
        f"{RESULTS}/finetune/{{genome}}/{{task}}/model/metrics.json",
    params:
        cli=GENOMAMBA,
        task_args=task_args,
        pretrained=lambda wc: start_checkpoint(wc.genome),
        out=lambda wc: f"{RESULTS}/finetune/{wc.genome}/{wc.task}/model",
        overrides=lambda wc: " ".join(shlex.quote(o) for o in section("finetune")["overrides"]),
    log:
        f"{RESULTS}/logs/finetune/{{genome}}.{{task}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/finetune/{{genome}}.{{task}}.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB,
        runtime=4 * 60,
        gpu=GPUS,
    conda:
        "envs/genomamba.yaml"
    shell:
        "{params.cli} finetune {params.task_args} --data {input.task} "
        "--pretrained {params.pretrained} --out {params.out} {params.overrides} > {log} 2>&1"


rule finetune_predict:
    input:
        f"{RESULTS}/finetune/{{genome}}/{{task}}/model/metrics.json",
    output:
        f"{RESULTS}/finetune/{{genome}}/{{task}}/predictions.parquet",
    params:
        cli=GENOMAMBA,
        model=lambda wc: f"{RESULTS}/finetune/{wc.genome}/{wc.task}/model",
    log:
        f"{RESULTS}/logs/finetune_predict/{{genome}}.{{task}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/finetune_predict/{{genome}}.{{task}}.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB,
        runtime=60,
    conda:
        "envs/genomamba.yaml"
    shell:
        "{params.cli} predict --checkpoint {params.model} --split test --out {output} > {log} 2>&1"


rule finetune_evaluate:
    input:
        f"{RESULTS}/finetune/{{genome}}/{{task}}/predictions.parquet",
    output:
        metrics=report(
            f"{RESULTS}/finetune/{{genome}}/{{task}}/eval/metrics.json",
            category="Fine-tuning",
            caption="report/finetune.rst",
        ),
        roc=report(
            f"{RESULTS}/finetune/{{genome}}/{{task}}/eval/roc.png",
            category="Fine-tuning",
            caption="report/finetune.rst",
        ),
        pr=report(
            f"{RESULTS}/finetune/{{genome}}/{{task}}/eval/pr.png",
            category="Fine-tuning",
            caption="report/finetune.rst",
        ),
    params:
        cli=GENOMAMBA,
        out=lambda wc: f"{RESULTS}/finetune/{wc.genome}/{wc.task}/eval",
    log:
        f"{RESULTS}/logs/finetune_evaluate/{{genome}}.{{task}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/finetune_evaluate/{{genome}}.{{task}}.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB,
        runtime=60,
    conda:
        "envs/genomamba.yaml"
    shell:
        "{params.cli} evaluate --predictions {input} --out-dir {params.out} --kmer-baseline > {log} 2>&1"
