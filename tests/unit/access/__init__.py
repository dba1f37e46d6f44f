"""Unit tests of the access layer."""
