"""Bidirectional, reverse-complement-aware Mamba DNA model and its checkpoint format.

from genomamba.model import GenomambaModel, ModelConfig, nucleotide_log_probs
model = GenomambaModel(ModelConfig(d_model=64, n_layer=2, fusion="head"))
logits = model(input_ids)                  # (B, L, vocab_size)
logp = nucleotide_log_probs(model, ids)    # (B, L, 4) for A, C, G, T
model.save_pretrained("ckpt"); GenomambaModel.from_pretrained("ckpt", backend="cpu")
"""

from genomamba.model import heads
from genomamba.model.checkpoint import FORMAT_NAME, FORMAT_VERSION
from genomamba.model.config import ModelConfig
from genomamba.model.heads import GenomambaForSequence, HeadConfig, load_for_inference, load_pretrained
from genomamba.model.model import GenomambaModel, nucleotide_log_probs
from genomamba.model.rc import rc_hidden, rc_ids, rc_logits

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "GenomambaForSequence",
    "GenomambaModel",
    "HeadConfig",
    "ModelConfig",
    "heads",
    "load_for_inference",
    "load_pretrained",
    "nucleotide_log_probs",
    "rc_hidden",
    "rc_ids",
    "rc_logits",
]
