"""The ``fleetward`` command."""
