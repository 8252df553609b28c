"""Self-contained HTML reports: one file, images embedded as base64, no external assets.

``render_report(run_dir)`` writes ``report.html`` for any run. A kind with a layout
(``pipeline``, ``w2s``, ``elicit``, ``audit``, ``sweep``; see ``_sections``) gets its
tables and plots; any other kind gets the generic page: headline numbers, the PNGs in
its folder and the full result. Every page ends with provenance: the config (the spec
that reproduces it), versions, git commit and timings. A failed run renders too, with
its error.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.report._dtype import dtype_of

if TYPE_CHECKING:
    from alignlab.protocol import Registry

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1180px;
     padding:16px 24px;color:#1d2330;background:#fafbfc;line-height:1.4}
h1{font-size:22px;margin:4px 0 2px} h2{font-size:18px;border-bottom:2px solid #dde3ea;padding-bottom:4px;
margin-top:30px} h3{font-size:15px;margin:18px 0 6px} .sub{color:#5b6575;font-size:13px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px;background:#fff}
th,td{border:1px solid #dde3ea;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#eef2f6} td:first-child,th:first-child{text-align:left}
.scorecard{display:grid;grid-template-columns:repeat(auto-fit,minmax(250px,1fr));gap:10px;margin:12px 0}
.card{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:8px 12px}
.card h3{margin:0 0 4px;font-size:13px;color:#5b6575;text-transform:uppercase;letter-spacing:.04em}
.big{font-size:22px;font-weight:600} .ci{color:#5b6575;font-size:12px}
.good{color:#137333} .bad{color:#b3261e} .warn{color:#a05a00}
img{max-width:100%;border:1px solid #dde3ea;background:#fff;margin:6px 0}
pre{background:#fff;border:1px solid #dde3ea;padding:8px;overflow:auto;font-size:12px;max-height:420px}
details{margin:6px 0} .note{font-size:13px;color:#39414e;max-width:900px}
"""


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    body: str


@dataclass(frozen=True)
class Run:
    """What a layout reads: the run's folder, kind, config and (if finished) result."""

    path: Path
    kind: str
    config: dict[str, Any]
    result: dict[str, Any] | None
    env: dict[str, Any]
    error: dict[str, Any] | None

    @property
    def root(self) -> Path:
        return self.path.parent


# --- small builders (escape everything that came from data) ---------------------------

def esc(value: Any) -> str:
    return html.escape(str(value))


def est(e: Any, digits: int = 3) -> str:
    """An estimate as 'value [lo, hi] n=N' (or 'undefined'); a bare number as itself."""
    if isinstance(e, (int, float)) and not isinstance(e, bool):
        return f"{e:.{digits}f}"
    if not isinstance(e, dict) or e.get("value") is None:
        return "<span class='warn'>undefined</span>"
    ci = ""
    if "lo" in e or "hi" in e:
        from alignlab.stats import interval_text

        ci = f" <span class='ci'>{interval_text(e, digits)}"
        ci += f" n={e['n']}</span>" if e.get("n") is not None else "</span>"
    return f"{e['value']:.{digits}f}{ci}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], raw: bool = True) -> str:
    """An HTML table; cells are trusted HTML when ``raw`` (built with esc/est)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def img_file(path: Path, alt: str = "") -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"<img alt='{esc(alt or Path(path).name)}' src='data:image/png;base64,{data}'>"


def img_figure(fig, alt: str) -> str:
    """A matplotlib figure as an embedded PNG (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return f"<img alt='{esc(alt)}' src='data:image/png;base64,{base64.b64encode(buf.getvalue()).decode('ascii')}'>"


def card(title: str, big: str, detail: str = "") -> str:
    return f"<div class='card'><h3>{esc(title)}</h3><div class='big'>{big}</div><div class='ci'>{detail}</div></div>"


def pre_json(value: Any, limit: int = 60_000) -> str:
    text = json.dumps(value, indent=1, default=str)
    if len(text) > limit:
        text = text[:limit] + f"\n... ({len(text) - limit} more characters in result.json)"
    return f"<pre>{esc(text)}</pre>"


# --- reading runs ----------------------------------------------------------------------

def read_run(path: Path, result: dict | None = None, config: dict | None = None) -> Run:
    import yaml

    path = Path(path)
    from alignlab.store import record_kind

    cfg = dict(config) if config is not None else (yaml.safe_load((path / "config.yaml").read_text()) or {})
    kind, cfg = record_kind(path, cfg)  # a sweep's config.yaml names its runs' kind, not its own

    def read(name):
        try:
            return json.loads((path / name).read_text())
        except (OSError, ValueError):
            return None

    return Run(path, kind, cfg, result if result is not None else read("result.json"), read("env.json") or {},
               read("error.json"))


def load_sub(root: Path, run_id: str | None) -> Run | None:
    """A stage's run by id (None if absent or unfinished)."""
    if not run_id or not (root / run_id / "result.json").exists():
        return None
    return read_run(root / run_id)


# --- the page --------------------------------------------------------------------------

def _provenance(run: Run) -> Section:
    import yaml

    env = run.env or {}
    git = env.get("git", {})
    timing = env.get("run", {})
    rows = [["run", esc(run.path.name)], ["kind", esc(run.kind)],
            ["git commit", esc(f"{git.get('commit')} (dirty: {git.get('dirty')})")],
            ["python / platform", esc(f"{env.get('python')} / {env.get('platform')}")],
            ["device", esc(env.get("device", "")) + (f" ({env.get('torch_threads')} threads)"
                                                     if env.get("torch_threads") else "")],
            ["compute dtype", esc(dtype_of(env))]]
    rows += [[esc(name), esc(v)] for name, v in (env.get("packages") or {}).items()]
    if timing:
        rows.append(["wall time", esc(f"{timing.get('seconds', 0):.1f} s on the {timing.get('executor')} executor")])
    if run.result and isinstance(run.result.get("timings"), dict):
        rows += [[f"stage time: {esc(k)}", f"{v:.1f} s"] for k, v in run.result["timings"].items()
                 if isinstance(v, (int, float))]
    for key in ("model_digests", "task_fingerprint", "model_digest"):
        if key in env:
            rows.append([esc(key), esc(env[key])])
    spec = yaml.safe_dump({"kind": run.kind, **run.config}, sort_keys=False)
    body = (table(["", ""], rows) + "<h3>Spec (run it again with <code>alignlab run spec.yaml</code>)</h3>"
            f"<pre>{esc(spec)}</pre>")
    return Section("provenance", "Provenance", body)


def _generic(run: Run) -> list[Section]:
    from alignlab.store import headline

    sections = []
    if run.result is not None:
        rows = [[esc(k), est(v) if isinstance(v, dict) else esc(v)] for k, v in headline(run.result).items()]
        body = table(["metric", "value (95% CI)"], rows) if rows else "<p>No headline numbers.</p>"
        sections.append(Section("summary", "Summary", body))
    images = sorted(run.path.glob("*.png"))
    if images:
        sections.append(Section("figures", "Figures", "".join(img_file(p) for p in images)))
    if run.result is not None:
        sections.append(Section("result", "Result", f"<details><summary>result.json</summary>"
                                                    f"{pre_json(run.result)}</details>"))
    return sections


def _error_section(run: Run) -> Section:
    err = run.error or {}
    tail = "\n".join(err.get("traceback_tail") or [])
    return Section("error", "This run did not finish",
                   f"<p class='bad'>{esc(err.get('reason', 'no result.json: interrupted or still running'))}</p>"
                   + (f"<pre>{esc(tail)}</pre>" if tail else ""))


def layouts() -> Registry[tuple[str, list[Section]]]:
    """The layouts by run kind (``_sections`` registers them; it imports this module)."""
    from alignlab.report import _sections

    return _sections.LAYOUTS


def render_html(run: Run) -> str:
    """The page for ``run``: (scorecard, sections) from its kind's layout, or generic."""
    scorecard, sections = "", []
    if run.result is None:
        sections = [_error_section(run)]
    elif run.kind in layouts():
        scorecard, sections = layouts()[run.kind](run)
    else:
        sections = _generic(run)
    sections.append(_provenance(run))
    nav = " · ".join(f"<a href='#{s.id}'>{esc(s.title)}</a>" for s in sections)
    body = "".join(f"<section id='{s.id}'><h2>{esc(s.title)}</h2>{s.body}</section>" for s in sections)
    when = (run.env.get("run") or {}).get("started")
    import time

    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(when)) if when else ""
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>alignlab · {esc(run.path.name)}"
            f"</title><style>{_CSS}</style></head><body><header><h1>alignlab · {esc(run.kind)} report</h1>"
            f"<div class='sub'>{esc(run.path.name)} {esc(stamp)} — {nav}</div></header>{scorecard}{body}"
            "</body></html>")


def render_report(run_dir: str | Path, out: str | Path | None = None, *, result: dict | None = None,
                  config: dict | None = None) -> Path:
    """Write the run's report (default ``<run_dir>/report.html``); returns its path.
    ``result``/``config`` render a run that is not on disk yet (a partial pipeline)."""
    from alignlab.store import atomic_write_text

    run = read_run(Path(run_dir), result, config)
    out = Path(out) if out else run.path / "report.html"
    atomic_write_text(out, render_html(run))
    out.chmod(0o644)  # a temp file's 0600 would hide it from a web server or a colleague
    return out
