"""Adapters: the only code that performs I/O (the Snyk API over httpx, Kubernetes over its client)."""
