"""genomamba: bidirectional Mamba for genomes, from FASTA to variant-effect scores.

Data flows one way and imports follow it:
FASTA -> windows -> tokens -> model -> tasks -> metrics;
``genomamba_kernels`` <- ``genomamba.ops`` <- ``genomamba.model`` <- ``genomamba.tasks`` <- ``genomamba.cli``.
"""

__version__ = "0.1.0"
