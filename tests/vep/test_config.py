"""ScoreVcfConfig is the one home of the scoring defaults and bounds: the tiling, the CLI and YAML all follow it."""

from __future__ import annotations

import pytest

from genomamba.config import load_config
from genomamba.errors import GenomambaError
from genomamba.vep import EvaluateVepConfig, ScoreVcfConfig
from genomamba.vep.alleles import make_tiling
from genomamba.vep.config import AUTO_BATCH_BASES, MIN_CONTEXT

from .conftest import run_cli


def test_context_bound_is_shared_by_config_and_tiling():
    ScoreVcfConfig(context=MIN_CONTEXT)
    make_tiling(1000, MIN_CONTEXT)
    with pytest.raises(ValueError, match=f">= {MIN_CONTEXT}"):
        ScoreVcfConfig(context=MIN_CONTEXT - 1)
    with pytest.raises(ValueError, match=f">= {MIN_CONTEXT}"):
        make_tiling(1000, MIN_CONTEXT - 1)


def test_auto_batch_size_follows_context():
    assert ScoreVcfConfig(context=1024).effective_batch_size == AUTO_BATCH_BASES // 1024
    assert ScoreVcfConfig(context=AUTO_BATCH_BASES * 2).effective_batch_size == 1
    assert ScoreVcfConfig(batch_size=3).effective_batch_size == 3


def test_yaml_overrides_and_typed_flags(tmp_path):
    path = tmp_path / "vep.yaml"
    path.write_text("context: 512\nstrands: forward\nkeep_info: [DP]\n")
    cfg = load_config(ScoreVcfConfig, path, ["batch_size=7"], flags={"context": 256, "per_variant": True})
    got = (cfg.context, cfg.strands, cfg.keep_info, cfg.batch_size, cfg.per_variant)
    assert got == (256, "forward", ["DP"], 7, True)
    with pytest.raises(GenomambaError, match=f"context must be >= {MIN_CONTEXT}"):
        load_config(ScoreVcfConfig, None, flags={"context": MIN_CONTEXT // 2})


def test_evaluate_config_checks_contrasts():
    assert EvaluateVepConfig(group_field="CSQ", contrasts=["a:b"]).contrast_pairs == [("a", "b")]
    with pytest.raises(ValueError, match="POS_GROUP:NEG_GROUP"):
        EvaluateVepConfig(group_field="CSQ", contrasts=["ab"])
    with pytest.raises(ValueError, match="group_field"):
        EvaluateVepConfig(contrasts=["a:b"])


def test_evaluate_cli_bootstrap_has_an_upper_bound(tmp_path, capsys):
    from genomamba.cli import main
    from genomamba.vep.config import MAX_BOOTSTRAP

    EvaluateVepConfig(bootstrap=MAX_BOOTSTRAP)
    out = tmp_path / "ev"
    args = ["evaluate-vep", "--scores", str(tmp_path / "s.tsv"), "--out", str(out)]
    assert main([*args, "--bootstrap", str(MAX_BOOTSTRAP + 1)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--bootstrap must be in 0..{MAX_BOOTSTRAP:,}" in err, err
    assert list(tmp_path.iterdir()) == []


def test_cli_help_reads_defaults_from_the_dataclass():
    d = ScoreVcfConfig()
    text = " ".join(run_cli("score-vcf", "--help").stdout.split())
    assert f"(default {d.context})" in text and f"(default {d.ref_check})" in text
    text = " ".join(run_cli("evaluate-vep", "--help").stdout.split())
    assert f"(default {EvaluateVepConfig().bootstrap})" in text
