"""Test and benchmark support shipped in the package: the synthetic ledger writer (``synth``)
and deterministic clocks (``clocks``).

Tests, benchmarks and demos may use it; the core and storage never import it (an import-linter
contract in pyproject.toml enforces that).
"""
