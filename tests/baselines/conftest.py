"""The baselines are fitted on the same synthetic labelled tables as the fine-tuning tests."""

from tests.finetune.conftest import motif_dir, random_seq, write_csv  # noqa: F401  (fixture and helpers re-exported)
