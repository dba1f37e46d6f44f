"""Unit tests of fleetward.crypto."""
