"""Ports: what the services need from the outside world, as typing.Protocol interfaces with
their data classes and errors. Adapters (portal/adapters) implement them; only
portal/bootstrap.py picks and builds the adapters."""
