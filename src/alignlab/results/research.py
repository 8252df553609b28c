"""``docs/results/research.md``: what the automated researcher's campaigns found, from
their ledgers alone (``alignlab campaign status``), each idea beside the baseline on the
same cells and seeds, and the best idea's confirmation on held-out cells."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from alignlab.results._renderer import RENDERERS, NoRecordsError

SHIPPED = {
    "campaigns/w2s-cpu": "alignlab/research/campaigns/w2s_cpu.yaml",
    "campaigns/w2s-cpu-random": "alignlab/research/campaigns/w2s_cpu_random.yaml",
    "campaigns/elicit-cpu": "alignlab/research/campaigns/elicit_cpu.yaml",
}
"""The campaign folders the document reports, and the shipped campaign each one ran."""


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:+.1f}"


def _interval(est: dict | None) -> str:
    if not est:
        return "—"
    return f"{_pct(est['diff'])} [{_pct(est['lo'])}, {_pct(est['hi'])}]"


def _variant(v: dict) -> str:
    params = dict(v["params"])
    method = params.pop("method", None)
    nested = params.pop("method_params", None) or params.pop("params", None) or {}
    flat = {**nested, **params}
    parts = [f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in flat.items()]
    return f"{method or v['name']}" + (f" ({', '.join(parts)})" if parts else " (default params)")


def _cells(cells: list[dict]) -> str:
    return "; ".join(", ".join(f"{k}={v}" for k, v in c.items()) or "defaults" for c in cells)


def _campaign_section(folder: Path, shipped: str | None) -> list[str]:
    import yaml

    from alignlab.research import Ledger, campaign_status, parse_campaign

    s = campaign_status(folder)
    cells = parse_campaign(yaml.safe_load((folder / "campaign.yaml").read_text()), s["name"]).resolved_cells()
    with Ledger(folder / "ledger.sqlite") as ledger:
        trials = ledger.trials()
    ran = [t["seconds"] for t in trials if t["seconds"] and t["seconds"] > 0.05]  # read-back rows take ~0 s
    ideas = [i for i in s["ideas"] if i["role"] == "idea" and i["estimate"]]
    ideas.sort(key=lambda i: -i["estimate"]["gain"])
    b = s["budget"]
    metric = s["metric"] or "the primary metric"
    lines = [f"## {s['name']}: {s['question']}", ""]
    lines += [f"- Testbed `{s['testbed']}`; campaign {f'`{shipped}`' if shipped else 'file in its folder'}; "
              f"status **{s['status']}** ({s['search_ended'] or 'search not ended'}).",
              f"- Search cells: {_cells(cells.search)}. Held-out cells: {_cells(cells.heldout)}.",
              f"- Proposer `{s['proposer']['name']}` {json.dumps(s['proposer']['params'])}; baseline "
              f"`{_variant(s['baseline'])}`; every idea ran on every search cell × 5 seeds, the same cells and "
              "seeds as the baseline.",
              f"- Spent: {b['trials_used']} of {b['trials']} trials ({s['trials']['search']} search, "
              f"{s['trials']['confirm']} confirmation, {s['trials']['failed']} failed — counted, scored as the "
              f"worst value on their cell and seed); {b['ideas']} ideas; {b['elapsed_s'] / 60:.0f} min.",
              f"- Trials that ran (not read back from earlier records): {len(ran)}, median "
              f"{statistics.median(ran):.1f} s each." if ran else "- No trial ran here: all were read back.",
              f"- Numbers: `{metric}` (the testbed's primary metric) minus the baseline's, in points, with a 95% interval that resamples cells, then "
              "seeds within a cell.", ""]
    if not ideas:
        return lines + ["No idea was searched yet.", ""]
    lines += ["| rank | idea | search: diff vs baseline [95% CI] | failed | finding |", "|---|---|---|---|---|"]
    for k, idea in enumerate(ideas, 1):
        lines.append(f"| {k} | {_variant(idea['variant'])} | {_interval(idea['estimate'])} | "
                     f"{idea['estimate']['n_failed']}/{idea['estimate']['n']} | {idea['finding_status']} |")
    above = sum(i["estimate"]["beats_baseline"] for i in ideas)
    lines += ["", f"{above} of {len(ideas)} ideas beat the baseline on the search cells (interval above 0). "
              "The best of many ideas is selected on these numbers, so its search estimate is biased upwards "
              "(the winner's curse): the held-out confirmation below is the number to trust.", ""]
    best = s["best"]
    if best and best.get("heldout"):
        h = best["heldout"]
        lines += [f"**Confirmation** of the best idea, `{_variant(best['variant'])}`, on held-out cells never scored "
                  f"during the search, with fresh seeds {h['seeds'][0]}–{h['seeds'][-1]}: {_interval(h)} points "
                  f"against the baseline ({h['n']} cell × seed pairs, {h['n_failed']} failed) — "
                  f"**{best['finding_status']}**."]
        if " | not confirmable" in (best.get("finding_text") or ""):
            lines.append(f"*{best['finding_text'].split(' | ', 1)[1]}.*")
        names = {i["id"]: _variant(i["variant"]) for i in s["ideas"]}
        for ref, c in (best.get("comparisons") or {}).items():
            lines.append(f"Against the reference `{names.get(ref, ref)}` on the same held-out cells and seeds: "
                         f"{_interval(c)} points.")
        lines.append("")
    else:
        lines += ["No confirmation yet (the search has not ended, or no idea was searched).", ""]
    return lines


def _proposers_compared(folders: list[Path]) -> list[str]:
    """Campaigns that asked the same question of the same testbed with different
    proposers, side by side: what each found, on the search cells and held out."""
    from alignlab.research import campaign_status

    by_question: dict[tuple[str, str], list[dict]] = {}
    for folder in folders:
        s = campaign_status(folder)
        by_question.setdefault((s["testbed"], s["question"]), []).append(s)
    lines = []
    for (testbed, question), group in by_question.items():
        if len(group) < 2:
            continue
        lines += [f"## Proposers compared: {testbed}", "", f"*{question}*", "",
                  "| campaign | proposer | ideas | trials | best idea | search diff [95% CI] | held out [95% CI] | finding |",
                  "|---|---|---|---|---|---|---|---|"]
        for s in group:
            best = s["best"] or {}
            lines.append(f"| {s['name']} | {s['proposer']['name']} | {s['budget']['ideas']} | "
                         f"{s['budget']['trials_used']} | {_variant(best['variant']) if best else '—'} | "
                         f"{_interval(best.get('estimate'))} | {_interval(best.get('heldout'))} | "
                         f"{best.get('finding_status', '—')} |")
        lines += ["", "The same cells, seeds and baseline; different budgets of ideas are stated in each "
                  "section above.", ""]
    return lines


@RENDERERS.register("research", description="The automated researcher's campaigns: every idea against the "
                                              "baseline on search cells, the best confirmed on held-out cells.")
class ResearchRenderer:
    doc = "research.md"

    def __init__(self, folders: list[str] | None = None):
        """``folders``: campaign folders to report (default: the shipped campaigns' folders,
        ``campaigns/<name>`` under the current directory)."""
        self.folders = folders or list(SHIPPED)

    def render(self, runs_root: str | Path, out_dir: str | Path) -> Path:
        found = [Path(f) for f in self.folders if (Path(f) / "ledger.sqlite").exists()]
        if not found:
            raise NoRecordsError(f"no campaign ledger in {', '.join(self.folders)}; run one first, e.g. "
                                 "`alignlab campaign run w2s_cpu --folder campaigns/w2s-cpu --runs runs`")
        lines = ["# The automated researcher: campaigns, searched and confirmed", "",
                 "*Generated by `alignlab results render research` from campaign ledgers "
                 f"({', '.join(f'`{f}`' for f in map(str, found))}); do not edit by hand.*", "",
                 "A campaign asks one question of one testbed. Its proposer names variants (ideas) from a declared "
                 "space; each idea runs as sealed trials (the variant in a sandboxed worker, scored by an evaluator "
                 "that holds the labels in another process) on every search cell and seed; the ledger, not the "
                 "proposer, computes each idea's difference from the baseline on the same cells and seeds, counting "
                 "every seed and every failure. When the budget is spent, the best idea is run on held-out cells "
                 "that no search trial scored, with fresh seeds: confirmed if its interval there is above 0.", ""]
        missing = [f for f in self.folders if Path(f) not in found]
        for folder in found:
            lines += _campaign_section(folder, SHIPPED.get(str(folder)))
        lines += _proposers_compared(found)
        if missing:
            lines += ["## Not run here", ""] + [f"- `{f}` ({SHIPPED.get(f, 'no shipped campaign')}): no ledger on "
                                                 "this machine." for f in missing] + [""]
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / self.doc
        path.write_text("\n".join(lines))
        return path
