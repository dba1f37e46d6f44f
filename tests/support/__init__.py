"""Shared test helpers: real databases, a live hub over TLS, free ports."""
