"""Fine-tuning: padding-invariant predictions, the CLI round trip (finetune -> predict -> evaluate), pretrained
initialisation, frozen backbone, regression, and one-line errors. Micro model on the reference scan backend."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from genomamba.alphabet import PAD, encode
from genomamba.cli import main
from genomamba.finetune.config import load_finetune_config
from genomamba.finetune.datasets import load_labeled
from genomamba.finetune.evaluate import evaluate_with_baseline
from genomamba.finetune.module import build_network
from genomamba.finetune.predict import predict_tokens
from genomamba.finetune.run import finetune
from genomamba.model import GenomambaForSequence, GenomambaModel, HeadConfig, ModelConfig
from genomamba.model.batching import pad_batch

from .conftest import random_seq, write_csv


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run ``genomamba ARGS`` in this process (the same code path as the console script, without paying the
    interpreter + torch start-up per call); stderr is captured."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(args))
    return subprocess.CompletedProcess(args, code, "", err.getvalue())


def test_pad_batch():
    ids = pad_batch([encode("ACG"), encode("T")])
    assert ids.tolist() == [[0, 1, 2], [3, PAD, PAD]]


@pytest.mark.parametrize("pooling", ["mean", "center"])
@pytest.mark.parametrize("strands", ["forward", "both"])
@pytest.mark.parametrize("fusion", ["layer", "head"])
def test_prediction_does_not_depend_on_padding(pooling, strands, fusion):
    torch.manual_seed(0)
    model = GenomambaModel(ModelConfig(d_model=8, n_layer=2, d_state=4, fusion=fusion, backend="ref"))
    net = GenomambaForSequence(model, HeadConfig(n_outputs=3, pooling=pooling, strands=strands)).eval()
    rng = np.random.default_rng(0)
    short = encode(random_seq(rng, 17))
    others = [encode(random_seq(rng, n)) for n in (40, 23)]
    with torch.no_grad():
        alone = net(pad_batch([short]))[0]
        padded = net(pad_batch([short, *others]))[0]  # 23 pads after the short sequence
        scores = predict_tokens(net, "multiclass", [others[0], short, others[1]], batch_size=3)
    assert torch.allclose(alone, padded, atol=1e-5), (alone, padded)
    assert np.allclose(scores[1], torch.softmax(alone, 0).numpy(), atol=1e-5)


@pytest.fixture
def motif_config(tmp_path, micro_model) -> Path:
    path = tmp_path / "ft.yaml"
    path.write_text(
        f"model_config: {micro_model}\n"
        "optim: {lr: 0.01, warmup_steps: 2}\n"
        "train: {batch_size: 16, max_epochs: 2, patience: 2, class_weights: balanced}\n"
        "kmer: {k_values: [2, 3]}\n"
    )
    return path


def test_finetune_predict_evaluate_round_trip(motif_dir, motif_config, tmp_path):
    out = tmp_path / "ft"
    proc = cli("finetune", "--config", str(motif_config), "--data", str(motif_dir), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.json", "metrics.tsv", "finetune.yaml"):
        assert (out / name).is_file(), name
    record = json.loads((out / "metrics.json").read_text())
    models = {(r["model"], r["split"]) for r in record["results"]}
    assert models == {("finetuned", "val"), ("finetuned", "test"), ("kmer-baseline", "val"), ("kmer-baseline", "test")}
    assert record["task"] == "binary" and str(motif_dir) in record["dataset"]

    preds = tmp_path / "p.parquet"
    proc = cli("predict", "--checkpoint", str(out), "--split", "test", "--out", str(preds))
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = pl.read_parquet(preds)
    assert table.columns == ["id", "split", "label", "score", "pred"] and table.height == 24
    assert table["score"].is_between(0, 1).all()
    # predict reproduces the fine-tune run's own test metric
    test_auroc = [r for r in record["results"] if r["model"] == "finetuned" and r["split"] == "test"][0]
    proc = cli("evaluate", "--predictions", str(preds), "--out-dir", str(tmp_path / "ev"), "--kmer-baseline")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ev = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    mine = [r for r in ev["results"] if r["model"] == "finetuned"][0]
    assert abs(mine["metrics"]["auroc"] - test_auroc["metrics"]["auroc"]) < 1e-6
    assert ev["checkpoint"] == str(out) and "kmer-baseline" in {r["model"] for r in ev["results"]}
    assert (tmp_path / "ev" / "roc.png").is_file() and (tmp_path / "ev" / "pr.png").is_file()
    assert "\tauroc\t" in (tmp_path / "ev" / "metrics.tsv").read_text()

    # new unlabeled input, TSV output
    new = tmp_path / "new.csv"
    new.write_text("sequence\nACGTACGTACGTGATTACAGATTACA\nTTTTTTTTTTTTTTTTTTTT\n")
    proc = cli("predict", "--checkpoint", str(out), "--input", str(new), "--out", str(tmp_path / "new.tsv"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = (tmp_path / "new.tsv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].split("\t")[:3] == ["id", "split", "label"]


def test_pretrained_init_and_frozen_backbone(motif_dir, micro_model, tmp_path):
    torch.manual_seed(1)
    lm = GenomambaModel(ModelConfig(d_model=8, n_layer=1, d_state=4, fusion="layer", backend="ref"))
    lm.save_pretrained(tmp_path / "lm")
    cfg = load_finetune_config(
        None,
        [
            f"data.path={motif_dir}",
            f"pretrained={tmp_path / 'lm'}",
            "optim.freeze_backbone=true",
            "train.max_epochs=1",
            "train.batch_size=32",
        ],
    )
    data = load_labeled(cfg.data)
    result = finetune(cfg, data)
    before = lm.state_dict()
    after = result.net.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # pretrained weights loaded and kept frozen
    scratch = build_network(load_finetune_config(None, [f"pretrained={tmp_path / 'lm'}", "from_scratch=true"]), data)
    assert scratch.model.config.d_model == 8  # same architecture ...
    assert not torch.equal(scratch.model.state_dict()["backbone.embedding.weight"], before["backbone.embedding.weight"])


def test_regression_finetune(tmp_path, micro_model):
    rng = np.random.default_rng(0)
    rows = [
        (random_seq(rng, 30, gc := rng.uniform(0.2, 0.8)), round(gc, 3), ("train", "dev", "test")[i % 3])
        for i in range(60)
    ]
    write_csv(tmp_path / "r.csv", rows, header=("sequence", "label", "split"))
    cfg = load_finetune_config(
        None, [f"data.path={tmp_path / 'r.csv'}", f"model_config={micro_model}", "train.max_epochs=2", "optim.lr=0.01"]
    )
    data = load_labeled(cfg.data)
    result = finetune(cfg, data)
    record = evaluate_with_baseline(cfg, data, result)
    assert record["task"] == "regression" and record["primary_metric"] == "spearman"
    test = [r for r in record["results"] if r["model"] == "finetuned" and r["split"] == "test"][0]["metrics"]
    assert set(test) >= {"spearman", "pearson", "r2"}
    preds = predict_tokens(
        result.net, "regression", data.splits["test"].tokens, 8, result.target_mean, result.target_std
    )
    assert preds.shape == (20,) and np.isfinite(preds).all()


def test_cli_errors_are_one_line(tmp_path, motif_config):
    only_train = tmp_path / "only"
    only_train.mkdir()
    write_csv(only_train / "train.csv", [("ACGT", 0), ("ACGA", 1)])
    proc = cli("finetune", "--config", str(motif_config), "--data", str(only_train), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "split 'val' is empty" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("genomamba finetune: ")
    assert not (tmp_path / "o").exists()  # nothing half-written
    proc = cli(
        "finetune",
        "--config",
        str(motif_config),
        "--data",
        str(only_train),
        "--out",
        str(tmp_path / "o"),
        "train.nonsense=1",
    )
    assert proc.returncode == 2 and "unknown key(s) train.nonsense" in proc.stderr
    proc = cli("predict", "--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "p.tsv"))
    assert proc.returncode == 2 and proc.stderr.startswith("genomamba predict: ")
    # the output name is checked before the checkpoint is even looked at
    proc = cli("predict", "--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "p.csv"))
    assert proc.returncode == 2 and f"{tmp_path / 'p.csv'}: unknown table extension" in proc.stderr
    proc = cli(
        "predict", "--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "p.tsv"), "--batch-size", "0"
    )
    assert proc.returncode == 2 and "--batch-size must be >= 1" in proc.stderr


@pytest.mark.parametrize(
    "override, problem",
    [
        ("train.batch_size=0", "train.batch_size must be >= 1, got 0"),
        ("train.max_steps=0", "train.max_steps must be >= 1"),
        ("train.max_time_minutes=0", "train.max_time_minutes must be > 0"),
        ("train.class_weights=[1.0, 0.0]", "train.class_weights must be > 0"),
        ("head.dropout=1.0", "head.dropout must be in [0, 1)"),
        ("optim.lr=0", "learning rates must be > 0"),
        ("kmer.max_iter=0", "max_iter must be >= 1"),
        ("data.flank=-1", "flank must be >= 0"),
        ("data.classes=[a]", "at least 2 distinct classes"),
        ("data.resplit_fractions=[0.0, 0.5, 0.5]", "train > 0"),
        ("model.d_model=8", "either pretrained or model overrides"),
    ],
)
def test_config_ranges_are_one_line_errors(override, problem):
    from genomamba.errors import GenomambaError

    with pytest.raises(GenomambaError) as err:
        load_finetune_config(None, ["pretrained=somewhere", override])
    assert problem in err.value.problem and "\n" not in err.value.render()


def test_scratch_architecture_is_checked_at_load():
    from genomamba.errors import GenomambaError

    with pytest.raises(GenomambaError, match="unknown key\\(s\\) model.d_modle"):
        load_finetune_config(None, ["model.d_modle=8"])
    assert load_finetune_config(None, ["model.d_model=8"]).scratch_model().d_model == 8


# a failure while writing the table, or while writing its JSON (which old code wrote after renaming the table)
@pytest.mark.parametrize("failing", ["genomamba.finetune.tables.write_table", "genomamba.finetune.predict.to_dict"])
def test_predict_write_failure_keeps_the_previous_table_and_json(tmp_path, monkeypatch, failing):
    from genomamba.finetune.config import PredictConfig
    from genomamba.finetune.predict import predict

    torch.manual_seed(0)
    lm = GenomambaModel(ModelConfig(d_model=8, n_layer=1, d_state=4, fusion="layer", backend="ref"))
    net = GenomambaForSequence(lm, HeadConfig(kind="sequence", n_outputs=1)).eval()
    meta = {"task": "binary", "classes": ["0", "1"], "target_mean": 0.0, "target_std": 1.0}
    meta["config"] = {"data": {"path": str(tmp_path / "train.csv")}}
    net.save_pretrained(tmp_path / "ckpt", extra={"finetune": meta})
    (tmp_path / "new.csv").write_text("sequence\nACGTACGTACGTGATTACA\nTTTTTTTTTTTTTTT\n")
    out = tmp_path / "p.tsv"
    cfg = PredictConfig(checkpoint=str(tmp_path / "ckpt"), out=str(out), input=str(tmp_path / "new.csv"))
    assert predict(cfg)["rows"] == 2
    before = out.read_bytes(), (tmp_path / "p.tsv.json").read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(failing, disk_full)
    (tmp_path / "new.csv").write_text("sequence\nGGGGGGGGGGGGGGGGGG\n")
    with pytest.raises(OSError, match="No space left"):
        predict(cfg)
    assert (out.read_bytes(), (tmp_path / "p.tsv.json").read_bytes()) == before  # the previous pair, untouched
    assert sorted(p.name for p in tmp_path.glob(".p.tsv*")) == []  # and no temporary left
