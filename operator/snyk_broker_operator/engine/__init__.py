"""The reconcile engine: gather (adapters read) -> decide (pure) -> act (adapters write) -> status (pure) -> patch.

It sits between the Kopf handlers, which only trigger it, and the adapters, which do the I/O.
"""
