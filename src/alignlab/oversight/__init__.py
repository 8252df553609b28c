"""Stage 1 — oversight: AI-assisted evaluation (debate, critique, control protocols)."""
