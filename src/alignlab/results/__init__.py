"""Results documents (``docs/results/*.md``), each rendered from run records by a
registered renderer, and the campaigns — spec files shipped in ``alignlab/campaigns/`` —
whose runs they report.

    from alignlab.results import RENDERERS, campaign_specs
    from alignlab.runtime import run_specs

    run_specs(campaign_specs("w2s"))                      # what has no record yet
    RENDERERS.create("w2s").render("runs", "docs/results")

The CLI is ``alignlab results list`` and ``alignlab results render NAME [--run]``. A
renderer reads records only (never a stage's private modules); a campaign cell without
a record is shown as missing and counted. Renderers are discovered from this package:
one module per document.
"""

from alignlab.results._renderer import (
    RENDERERS,
    CampaignRenderer,
    NoRecordsError,
    Renderer,
    campaign_path,
    campaign_specs,
)

__all__ = ["RENDERERS", "CampaignRenderer", "NoRecordsError", "Renderer", "campaign_path", "campaign_specs"]
