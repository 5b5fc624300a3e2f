"""Test support shared by the integration tiers: the local cluster handle and polling helpers."""
