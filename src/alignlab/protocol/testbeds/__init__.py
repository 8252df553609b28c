"""The testbed registry. Each module in this package registers one testbed when the
registry is first used, so adding a testbed is adding one file here (or registering one
from a module of your own: ``TESTBEDS.register("name")(MyTestbed)``)."""

from __future__ import annotations

from alignlab.protocol._registry import Registry

TESTBEDS: Registry = Registry("testbed", discover=__name__)
