"""``python -m alignlab.cli``: the same command as ``alignlab``."""

from alignlab.cli import app

app()
