"""Debate with a sparse judge: Irving, Christiano & Amodei (2018), on 8x8 digits.

    from alignlab.oversight.debate import DebateConfig, record_debate
    record = record_debate(DebateConfig(k=4, images=300, rollouts=1000))

The parts are reusable on their own: a judge (``SparseJudge``, ``OracleJudge``), the game
(``DebateBatch``, ``play``), and debaters (``MCTS``, ``Minimax``, ``RandomPolicy``).
"""

from alignlab.oversight.debate._data import DigitsSplit, load_split
from alignlab.oversight.debate._experiment import (
    DebateConfig,
    JudgeConfig,
    record_debate,
    run_debate,
    run_sweep,
)
from alignlab.oversight.debate._game import (
    ADAPTIVE,
    DebateBatch,
    Policy,
    RandomPolicy,
    Transcript,
    legal_moves,
    margin,
    play,
)
from alignlab.oversight.debate._judge import (
    PAD,
    BoundJudge,
    OracleJudge,
    SparseJudge,
    observe,
    sample_pixels,
)
from alignlab.oversight.debate._mcts import MCTS
from alignlab.oversight.debate._minimax import Minimax, minimax_values

from alignlab.oversight.debate._plots import plot_accuracy_vs_k, render_game
from alignlab.oversight.debate._report import (
    figure_series,
    load_debate_runs,
    main_series,
    paper_table,
    results_table,
)

__all__ = [
    "figure_series",
    "load_debate_runs",
    "main_series",
    "paper_table",
    "plot_accuracy_vs_k",
    "render_game",
    "results_table",
    "ADAPTIVE", "MCTS", "PAD", "BoundJudge", "DebateBatch", "DebateConfig", "DigitsSplit",
    "JudgeConfig", "Minimax", "OracleJudge", "Policy", "RandomPolicy", "SparseJudge",
    "Transcript", "legal_moves", "load_split", "margin", "minimax_values", "observe", "play",
    "record_debate", "run_debate", "run_sweep", "sample_pixels",
]
