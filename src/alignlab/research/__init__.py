"""The automated researcher: campaigns over any testbed (``_campaign``), the variant
space they search (``_space``), proposers (``proposers/``, one file each, in the
``PROPOSERS`` registry), the loop that runs ideas as sealed trials and confirms the best
on held-out cells (``_run``), paired estimates against the baseline (``_estimate``) and
the findings ledger (``_ledger``, SQLite in the campaign folder); the evaluator service
that holds the labels (``_service``; over HTTP: ``_http``), its client (``_client``) and a trial through it
(``_remote``: ``run_remote_trial``).

    from alignlab.research import load_campaign, run_campaign
    summary = run_campaign(load_campaign("campaign.yaml"), folder="campaigns/demo")
"""

from alignlab._lazy import lazy_exports

# Resolved on first use (PEP 562): ``import alignlab.research`` imports neither optuna nor torch.
_WHERE = {
    "Budget": "_campaign", "Campaign": "_campaign", "CampaignError": "_campaign", "load_campaign": "_campaign",
    "parse_campaign": "_campaign", "example_campaign": "_campaign",
    "Space": "_space",
    "PROPOSERS": "_proposer", "Proposal": "_proposer", "Proposer": "_proposer", "Told": "_proposer",
    "Ledger": "_ledger", "LedgerError": "_ledger",
    "IdeaEstimate": "_estimate", "paired_estimate": "_estimate",
    "campaign_status": "_run", "resume_campaign": "_run", "run_campaign": "_run", "stop_campaign": "_run",
    "ProposalRefused": "_run", "default_folder": "_run",
    # the evaluator service (fastapi, uvicorn and httpx load only when these are used)
    "Evaluator": "_service", "probe_items": "_service", "create_app": "_http", "serve_evaluator": "_http",
    "admin_token": "_http", "default_state": "_http", "server_url": "_http",
    "EvaluatorClient": "_client", "OpenedProblem": "_client", "Scored": "_client", "EvaluatorError": "_client",
    "EvaluatorDown": "_client", "EvaluatorAuthError": "_client", "BudgetExhausted": "_client",
    "ProblemGone": "_client", "ProbeRefused": "_client", "EvaluatorConflict": "_client",
    "RemoteTrial": "_remote", "remote_trial": "_remote", "run_remote_trial": "_remote",
}

__getattr__ = lazy_exports(__name__, globals(), _WHERE)

__all__ = sorted(_WHERE)
