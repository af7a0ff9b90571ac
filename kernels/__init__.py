"""genomamba_kernels: fused selective-scan kernels (Triton, compiled CPU) and their pure-PyTorch references.

Installed under the import name ``genomamba_kernels`` (the folder is ``kernels/``); imports torch and triton only.
"""
