"""What a fine-tuned head's "prediction" is, in one place (tracks, ISM and supervised variant scores share it).

From the checkpoint's fine-tuning metadata (``extra.finetune``; the head config where that is missing):

* binary (one output): P(positive) = sigmoid(output 0);
* multi-class: P(class k) = softmax(outputs)[k];
* regression: target k in its own units, output * target_std + target_mean.
"""

from __future__ import annotations

from dataclasses import dataclass

from genomamba.errors import GenomambaError


@dataclass(frozen=True)
class HeadReadout:
    task: str  # binary | multiclass | regression
    index: int  # class / target read out
    mean: float = 0.0
    std: float = 1.0
    label: str = ""  # how the value is described in provenance

    @classmethod
    def of(cls, wrapper, index: int | None = None, path=None) -> HeadReadout:
        """The readout of fine-tuned ``wrapper`` (a ``GenomambaForSequence``); ``index`` None = the last output."""
        meta = getattr(wrapper, "extra", {}).get("finetune") or {}
        n_out = wrapper.head_config.n_outputs
        task = meta.get("task") or wrapper.head_config.task
        if task == "classification":  # a head config without fine-tuning metadata
            task = "binary" if n_out == 1 else "multiclass"
        k = n_out - 1 if index is None else index
        if not 0 <= k < n_out:
            raise GenomambaError(f"--head-output {k} is outside the head's {n_out} outputs", path)
        classes = meta.get("classes") or wrapper.head_config.labels
        if task == "regression":
            label = f"target {k} (regression, target units)"
            mean, std = float(meta.get("target_mean") or 0.0), float(meta.get("target_std") or 1.0)
            return cls(task, k, mean, std, label)
        if task == "binary":
            name = classes[-1] if classes else "positive"
            return cls(task, k, label=f"P(class {name!r})")
        name = classes[k] if classes and k < len(classes) else str(k)
        return cls(task, k, label=f"P(class {name!r})")

    def __call__(self, out):
        """Head outputs (..., n_outputs) tensor -> the read-out value (...), fp32."""
        import torch

        out = out.float()
        if self.task == "binary":
            return torch.sigmoid(out[..., self.index])
        if self.task == "regression":
            return out[..., self.index] * self.std + self.mean
        return torch.softmax(out, dim=-1)[..., self.index]
