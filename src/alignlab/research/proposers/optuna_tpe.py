"""``optuna``: Optuna's tree-structured Parzen estimator (TPE) over the space.

The study is stored in the campaign folder (``optuna.journal``, Optuna's journal file
storage: appends under a file lock), so a resumed session continues the same study and
other processes can share it; ``storage`` names a database instead (an RDB URL such as
``postgresql://…`` or ``sqlite:///…``) for campaigns on several machines that share one
study. Optuna is imported here, when a campaign uses this proposer, never by
``import alignlab``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from alignlab.errors import MissingPackageError
from alignlab.research._proposer import PROPOSERS, Proposal, Told
from alignlab.research._space import Choices, Space


@PROPOSERS.register("optuna")
class OptunaTPE:
    """TPE (Optuna) over the arms and their parameters; maximises the gain told."""

    def __init__(self, seed: int = 0, n_startup_trials: int = 10, storage: str | None = None,
                 study: str | None = None, multivariate: bool = False):
        """``n_startup_trials``: random proposals before TPE models the results;
        ``storage``: an RDB URL (default: a journal file in the campaign folder);
        ``study``: its name (default: the campaign folder's name)."""
        self.seed, self.n_startup_trials, self.storage = seed, n_startup_trials, storage
        self.study, self.multivariate = study, multivariate

    def start(self, space: Space, folder: Path, history: list[Told]) -> None:
        try:
            import optuna
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend
            from optuna.trial import TrialState
        except ImportError:
            raise MissingPackageError("the optuna proposer needs Optuna: pip install 'optuna>=4'") from None

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space_, self.owner_ = space, str(Path(folder).resolve())
        storage = self.storage or JournalStorage(JournalFileBackend(str(Path(folder) / "optuna.journal")))
        sampler = optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=self.n_startup_trials,
                                             multivariate=self.multivariate)
        self.study_ = optuna.create_study(study_name=self.study or Path(folder).name, storage=storage,
                                          sampler=sampler, direction="maximize", load_if_exists=True)
        # Repair what a killed session left: trials this campaign asked for that its ledger never
        # recorded are failed (never told a made-up value); recorded ones it had not told yet are
        # told by the campaign once their trials are in. Other campaigns' trials are not ours.
        asked = {t.proposal.token for t in history}
        told = {t.proposal.token: t.gain for t in history if t.gain is not None}
        for trial in self.study_.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial.user_attrs.get("campaign") != self.owner_:
                continue
            if trial.number not in asked:
                self.study_.tell(trial.number, state=TrialState.FAIL)
            elif trial.number in told:
                self.study_.tell(trial.number, told[trial.number], skip_if_finished=True)

    def ask(self) -> Proposal | None:
        trial = self.study_.ask()
        trial.set_user_attr("campaign", self.owner_)
        arms = self.space_.arms
        arm = trial.suggest_categorical("arm", list(range(len(arms)))) if len(arms) > 1 else 0
        values = {name: self._suggest(trial, arm, name) for name in arms[arm].params}
        return Proposal(self.space_.build(arm, values), token=trial.number)

    def _suggest(self, trial: Any, arm: int, name: str) -> Any:
        domain, key = self.space_.arms[arm].params[name], f"{arm}.{name}"  # one distribution per arm's name
        if isinstance(domain, Choices):  # by index: Optuna's categories must be plain scalars
            return domain.choices[trial.suggest_categorical(key, list(range(len(domain.choices))))]
        if self.space_.integer[arm][name]:
            return trial.suggest_int(key, math.ceil(domain.low), math.floor(domain.high),
                                     step=int(domain.step or 1), log=domain.log)
        return trial.suggest_float(key, domain.low, domain.high, step=domain.step, log=domain.log)

    def tell(self, proposal: Proposal, gain: float) -> None:
        self.study_.tell(proposal.token, gain, skip_if_finished=True)  # told before a restart: once is enough
