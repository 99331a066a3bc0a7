"""Adapters: the only modules that talk to databases, payment gateways and mail servers."""
