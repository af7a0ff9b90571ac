"""The scan backend names, on the ground floor: configs, flags and ``genomamba.ops`` read this one list, and the
CLI can offer it in ``--help`` without importing torch. What each backend does is documented in
``genomamba.ops.scan``."""

from typing import Literal, get_args

Backend = Literal["auto", "triton", "cpu", "ref"]
BACKENDS: tuple[str, ...] = get_args(Backend)
