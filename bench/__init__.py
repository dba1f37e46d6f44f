"""Fleetward benchmarks: the same load against Fleetward, Mosquitto and amqtt."""
