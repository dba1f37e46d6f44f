"""``fleetward mqtt …``: helpers for the embedded broker's configuration."""

from __future__ import annotations

import sys

import typer

from fleetward.cli.context import settings_of
from fleetward.crypto import SecretHasher
from fleetward.errors import InvalidInputError

__all__ = ["mqtt_app"]

mqtt_app = typer.Typer(help="The embedded MQTT broker.", no_args_is_help=True)


@mqtt_app.command("hash-password")
def hash_password(ctx: typer.Context) -> None:
    """Read a password (prompt, or one line on stdin) and print its argon2id hash.

    Put the hash in ``[[mqtt.users]] password_hash``; the password itself is never stored.
    """
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 12:
        raise InvalidInputError("password: at least 12 characters")
    sec = settings_of(ctx).security
    hasher = SecretHasher(
        time_cost=sec.argon2_time_cost,
        memory_kib=sec.argon2_memory_kib,
        parallelism=sec.argon2_parallelism,
    )
    typer.echo(hasher.hash(password))
