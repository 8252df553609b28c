"""``alignlab testbeds list|show``: the registered testbeds, their configs and variants."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from alignlab.cli._common import console, user_errors

app = typer.Typer(no_args_is_help=True)


@app.command("list")
@user_errors
def list_testbeds() -> None:
    """Every testbed with its variants (run one: a `kind: trial` spec)."""
    from alignlab.protocol.testbeds import TESTBEDS

    table = Table(title="testbeds (alignlab testbeds show NAME: config and variant parameters)")
    for col in ("testbed", "variants", "baseline variant", "description"):
        table.add_column(col)
    for name in TESTBEDS.names():
        testbed = TESTBEDS.create(name)
        table.add_row(name, ", ".join(testbed.variants.names()), testbed.baseline_variant,
                      TESTBEDS.get(name).description)
    console.print(table)


@app.command("show")
@user_errors
def show(name: str = typer.Argument(..., help="A testbed name.")) -> None:
    """The testbed's config schema, each variant's parameter schema and its named cells
    (``search``: where a researcher optimises; ``heldout``: where a finding is confirmed) as JSON."""
    from alignlab.protocol.testbeds import TESTBEDS

    testbed = TESTBEDS.create(name)
    schema = {"testbed": name, "description": TESTBEDS.get(name).description,
              "config": testbed.Config.model_json_schema(),
              "variants": {v: {"description": testbed.variants.get(v).description, "params": testbed.variants.schema(v)}
                           for v in testbed.variants.names()},
              "cells": getattr(testbed, "cells", {})}
    console.print_json(json.dumps(schema))
