"""The built-in proposers, one per module, each registering itself on ``PROPOSERS`` when
the registry is first used (``alignlab.research._proposer``)."""
