"""Benchmarks of ELMS against a running system (`python -m bench`); figures in
docs/performance.md."""
