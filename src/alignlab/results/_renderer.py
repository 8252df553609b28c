"""Renderers of the results documents, and the campaigns whose runs they report.

A campaign is a spec file shipped in the package (``alignlab/campaigns/<name>.yaml``,
one or more specs as YAML documents): every run a results document reports.
``alignlab results render NAME --run`` runs what of it has no record yet, through the
same runtime path as ``alignlab run``; a renderer then builds the document from the
run records alone. A campaign cell without a record is shown as missing and counted,
never left out silently.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from alignlab.errors import DataError, UnknownNameError
from alignlab.protocol import Registry


class NoRecordsError(DataError):
    """A runs folder without a single record of the campaign a document reports."""


@runtime_checkable
class Renderer(Protocol):
    """Builds one results document (markdown, figures beside it) from run records."""

    def render(self, runs_root: str | Path, out_dir: str | Path) -> Path:
        """Write the document into ``out_dir``; returns the markdown's path."""
        ...


RENDERERS: Registry[Renderer] = Registry("results renderer", discover="alignlab.results")
"""The results documents by name (``alignlab results list``); each built-in renders the
shipped campaign of its own name."""


def campaign_path(name: str) -> Path:
    """The shipped campaign file ``name`` (an unknown name lists the shipped ones)."""
    folder = resources.files("alignlab") / "campaigns"
    path = folder / f"{name}.yaml"
    if not path.is_file():
        shipped = sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
        raise UnknownNameError(f"unknown campaign {name!r}; shipped: {', '.join(shipped) or 'none'}")
    return Path(str(path))


def campaign_specs(name_or_path: str | Path) -> list:
    """The specs of a shipped campaign (by name) or of any spec file (by path)."""
    from alignlab.runtime import load_specs

    path = Path(name_or_path)
    return load_specs(path if path.suffix in (".yaml", ".yml") else campaign_path(str(name_or_path)))


class CampaignRenderer:
    """The built-in renderers' common part: their campaign, its cells (the configs of its
    runs), and the error for a runs folder holding none of their records."""

    name: ClassVar[str]
    """The renderer's name, and the shipped campaign it reports by default."""
    doc: ClassVar[str]
    """The markdown file written in ``out_dir``."""

    def __init__(self, campaign: str | None = None):
        """``campaign``: a spec file (or shipped campaign name) to report instead of the
        renderer's own, e.g. a smaller grid."""
        self.campaign = campaign

    def specs(self) -> list:
        return campaign_specs(self.campaign or self.name)

    def configs(self, kind: str) -> list[Any]:
        """The validated config of every run of the campaign of ``kind``, in its order."""
        return [config for spec in self.specs() if spec.kind == kind for _, config in spec.configs()]

    def campaign_label(self) -> str:
        """How a document names its campaign: the same on every machine when shipped."""
        return self.campaign if self.campaign else f"alignlab/campaigns/{self.name}.yaml"

    def command(self) -> str:
        """The command that runs the campaign's missing runs and renders the document."""
        how = f" --campaign {self.campaign}" if self.campaign else ""
        return f"alignlab results render {self.name}{how} --run"

    def no_records(self, runs_root: str | Path) -> NoRecordsError:
        return NoRecordsError(f"no record of the {self.name} campaign's runs in {runs_root}: "
                              f"`{self.command()}` produces them")



class TrialRenderer(CampaignRenderer):
    """A document over a campaign of protocol trials of one testbed (the renderer's name):
    its trials grouped by ``variant_label`` and handed to ``lines(rows, missing)``."""

    @staticmethod
    def variant_label(ref: dict) -> str:
        """A row's name: the variant and its params."""
        params = ref.get("params") or {}
        return ref["name"] + (f" ({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})" if params else "")

    def lines(self, rows: dict[str, list], missing: str) -> list[str]:
        raise NotImplementedError

    def render(self, runs_root: str | Path, out_dir: str | Path) -> Path:
        """Each row a list of (config, record or None) in campaign order; ``missing`` the
        line counting the trials with no record. No record at all: ``no_records``."""
        from collections import defaultdict

        index = Records("trial", runs_root)
        found = [(c, index.find(c)) for c in self.configs("trial") if c.testbed == self.name]
        if not any(r is not None for _, r in found):
            raise self.no_records(runs_root)
        rows: dict[str, list] = defaultdict(list)
        for config, record in found:
            rows[self.variant_label(config.variant.model_dump())].append((config, record))
        missing = missing_note(sum(r is None for _, r in found), len(found))
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / self.doc
        path.write_text("\n".join(self.lines(dict(rows), missing)) + "\n")
        return path


def missing_note(missing: int, total: int, what: str = "runs") -> str:
    """The line a document carries about cells of its campaign that have no record."""
    if not missing:
        return f"Every one of the campaign's {total} {what} has a record."
    return (f"**{missing} of the campaign's {total} {what} have no record** (not run yet, or failed): they are "
            "shown as missing, not left out.")


def display_path(path: Path) -> str:
    """``path`` relative to the working directory where it lies under it (a document
    names its sources the same way on every machine), else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class Records:
    """The finished records of one kind under a runs folder, to look campaign cells up in.

    ``find(config)`` is the run of exactly that config (its content-addressed folder),
    else the newest record written before some of the config's fields existed, with every
    field it has equal to the config's and every field it lacks at its default in the
    config: the same experiment, in a folder hashed without those fields."""

    def __init__(self, kind: str, runs_root: str | Path):
        self.kind, self.root = kind, Path(runs_root)
        self._records: list | None = None

    def _all(self) -> list:
        from alignlab.runtime import get_spec_entry
        from alignlab.store import load_run

        if self._records is None:
            derived = get_spec_entry(self.kind).derived
            self._records = []
            for path in sorted(self.root.glob(f"{self.kind}-*"), key=lambda p: (p.stat().st_mtime, p.name)):
                if (path / "result.json").exists():
                    record = load_run(path)
                    if record.kind == self.kind:
                        config = {k: v for k, v in record.config.items() if k not in derived}
                        self._records.append((config, record))
        return self._records

    def find(self, config):
        """The record of ``config`` (a validated config model), or None."""
        from alignlab.store import find_run

        data = config.model_dump(mode="json")
        exact = find_run(self.kind, data, self.root)
        if exact is not None:
            return exact
        defaults = type(config)().model_dump(mode="json")
        older = [r for c, r in self._all() if _same_run(c, data, defaults)]
        return older[-1] if older else None


def _same_run(recorded: dict, config: dict, defaults: dict) -> bool:
    """``recorded`` (an older record's config) describes ``config``: equal on every key it
    has (nested configs compared the same way), the keys it lacks at their defaults."""
    if set(recorded) - set(config):
        return False
    for key, value in config.items():
        if key not in recorded:
            if value != defaults.get(key):
                return False
        elif isinstance(value, dict) and isinstance(recorded[key], dict) and isinstance(defaults.get(key), dict):
            if not _same_run(recorded[key], value, defaults[key]):
                return False
        elif recorded[key] != value:
            return False
    return True
