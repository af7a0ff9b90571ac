"""Where inference runs: ``--device auto|cpu|cuda[:N]`` resolved once, and the scan backend made to follow it.

* ``auto`` picks CUDA when torch sees a GPU and logs the choice (with the GPU's name), else the CPU.
* ``cuda`` without a GPU is an input error, never a quiet run on the CPU.
* The scan backend follows the device: an explicit ``--backend`` that cannot run there (``cpu`` on a GPU,
  ``triton`` on the CPU without the interpreter) is refused before any model is loaded; without ``--backend`` the
  checkpoint's own backend is kept when it can run on the device, otherwise ``auto`` is used and the switch logged.
* On CUDA the model autocasts to bf16 itself (``ModelConfig.autocast_bf16``); the scan kernels keep their state
  in fp32, and every output leaves the model as fp32.

Only ``resolve_device`` imports torch (when called), so configs can check a device name (``check_device_name``)
without it; ``genomamba.model.load_for_inference`` loads a checkpoint onto the resolved device.
"""

from __future__ import annotations

import logging
import os
import re

from genomamba.backends import BACKENDS
from genomamba.errors import GenomambaError

log = logging.getLogger(__name__)

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
DEVICE_HELP = "auto (CUDA when present, logged), cpu, cuda or cuda:N"


def check_device_name(name: str) -> None:
    """ValueError unless ``name`` is auto, cpu, cuda or cuda:N (for dataclass ``__post_init__``)."""
    if not DEVICE_PATTERN.fullmatch(name):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")


def resolve_device(name: str) -> str:
    """``auto|cpu|cuda|cuda:N`` -> a concrete torch device string; GenomambaError when CUDA is asked for and absent."""
    import torch

    try:
        check_device_name(name)
    except ValueError as exc:
        raise GenomambaError(str(exc)) from None
    if name == "auto":
        if torch.cuda.is_available():
            log.info("device auto -> cuda (%s)", torch.cuda.get_device_name(0))
            return "cuda"
        log.info("device auto -> cpu (torch sees no CUDA device)")
        return "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GenomambaError(f"--device {name}: torch sees no CUDA device; use --device cpu or auto")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise GenomambaError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return name


def _backend_runs_on(backend: str, device_type: str) -> bool:
    if backend in ("auto", "ref"):
        return True
    if backend == "cpu":
        return device_type == "cpu"
    # triton: CUDA tensors, or CPU tensors under the Triton interpreter (tests)
    return device_type == "cuda" or os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def resolve_backend_for(device: str, backend: str | None, stored: str) -> str:
    """The scan backend for a model on ``device``: the explicit ``backend`` (refused if it cannot run there), else
    the checkpoint's ``stored`` one if it can, else ``auto`` (logged)."""
    device_type = device.partition(":")[0]
    if backend is not None:
        if backend not in BACKENDS:
            raise GenomambaError(f"unknown backend {backend!r}; choose {'|'.join(BACKENDS)}")
        if not _backend_runs_on(backend, device_type):
            raise GenomambaError(
                f"--backend {backend} cannot run on --device {device} (cpu needs the CPU, triton needs CUDA); "
                "leave --backend out to let it follow the device"
            )
        return backend
    if _backend_runs_on(stored, device_type):
        return stored
    log.info("checkpoint backend %r cannot run on %s: using backend auto", stored, device)
    return "auto"
