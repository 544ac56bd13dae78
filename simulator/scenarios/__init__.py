"""Scenario files shipped with Vitals (``default.yaml``: the demo's incidents)."""
