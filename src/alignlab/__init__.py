"""alignlab: an automated alignment lab on real language models, offline.

The import is light on purpose: heavy dependencies (torch, transformers, Ray) load in
the functions that need them, so ``import alignlab`` and ``alignlab --help`` are fast.
"""

__version__ = "0.1.0"
