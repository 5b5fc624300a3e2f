"""Kopf glue only: gather -> decide -> act -> status, one patch per reconcile."""
