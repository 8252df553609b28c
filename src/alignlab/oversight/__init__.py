"""Stage 1 — oversight: AI-assisted evaluation (debate, critique, control protocols).

- ``alignlab.oversight.debate``: debate with a sparse judge (Irving et al. 2018) on 8x8
  digits — judge, game, MCTS and minimax debaters, the experiment and its run records.

Subpackages are imported on use, so ``import alignlab.oversight`` stays light.
"""
