"""Fleetward: a security-first IoT hub."""

__version__ = "0.1.0"
__all__ = ["__version__"]
