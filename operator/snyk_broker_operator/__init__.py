"""snyk-broker-operator: Snyk Broker tokens as Kubernetes custom resources.

Layers, top to bottom (enforced by the import-linter contracts in pyproject.toml; drawn in docs/development.md):
``cli``/``__main__`` -> ``runner`` (composition root) | ``rotate`` -> ``handlers`` (Kopf glue) -> ``engine``
(gather, act, write, through ports) -> ``adapters.snyk`` | ``adapters.kube`` (all I/O) -> ``reconcile`` (pure
decisions) -> ``models`` (the API types, source of the CRD schema). ``metrics`` is the operator's Prometheus
registry. ``simulator`` is a stand-in for the Snyk API and shares no code with the operator.
"""

__version__ = "0.1.0"
