"""Composition root: builds every service from the settings, starts and stops them.

Nothing below this module reads configuration or the environment; each service gets
exactly the values it needs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import os
import ssl
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from fleetward.access import ApiKeyService
from fleetward.access.assembly import AccessServices, TokenSettings, build_access
from fleetward.access.static_policy import MqttUser, StaticPolicy
from fleetward.api import ApiContext, create_app
from fleetward.audit import AuditLog, SqlAuditStore, open_audit_keyring
from fleetward.broker import Broker, BrokerLimits, ListenerInfo, start_listener
from fleetward.broker.listeners import Listening
from fleetward.broker.persistence import BrokerStore
from fleetward.broker.stats import run_stats
from fleetward.clock import Clock, SystemClock
from fleetward.config import ListenerSettings, Settings
from fleetward.crypto import (
    HubCa,
    SecretHasher,
    TlsMaterial,
    ensure_tls_material,
    load_hub_ca,
    server_context,
)
from fleetward.data_services import DataServices
from fleetward.errors import ConfigError, FleetwardError
from fleetward.events import EventBus
from fleetward.hub_services import HubServices
from fleetward.presence import PresenceMonitor, build_monitor
from fleetward.registry import RegistryService, Store
from fleetward.vault import Vault

__all__ = ["Hub", "Prepared", "settle_heap"]

log = logging.getLogger("fleetward.hub")


@dataclass(frozen=True, slots=True)
class Prepared:
    """What first-start preparation produced."""

    tls: TlsMaterial | None
    operator_token: str | None


class Hub:
    """The whole hub, wired from one :class:`Settings`."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.store = Store(settings.database_url, echo=settings.database.echo)
        sec = settings.security
        self.hasher = SecretHasher(
            time_cost=sec.argon2_time_cost,
            memory_kib=sec.argon2_memory_kib,
            parallelism=sec.argon2_parallelism,
        )
        self.api_keys = ApiKeyService(
            self.store,
            self.hasher,
            self.clock,
            max_ttl=dt.timedelta(days=sec.api_key_max_ttl_days),
            cache_ttl=dt.timedelta(seconds=sec.api_key_cache_seconds),
        )
        self.registry = RegistryService(self.store, self.clock)
        self.events = EventBus()
        self.broker: Broker | None = None
        self._mqtt_servers: list[Listening] = []
        self._stats_task: asyncio.Task[None] | None = None
        self._audit: AuditLog | None = None
        self._access: AccessServices | None = None
        self._services: HubServices | None = None
        self._mtls_contexts: list[ssl.SSLContext] = []
        self.presence: PresenceMonitor | None = None
        self.data = DataServices(settings, self.store, self.registry, self.clock)
        if settings.presence.enabled:
            self.presence = build_monitor(settings.presence, self.store, self.registry, self.clock)

    def prepare(self, *, bootstrap: bool = True, mint_kek: bool = True) -> Prepared:
        """Create the data directory, migrate, make TLS material, mint the first operator key.

        ``mint_kek=False`` (the CLI): the vault opens on first use and never creates a KEK.
        """
        data_dir = self.settings.data_dir
        os.umask(0o077)  # the database, keys and WAL files are for the hub's user alone
        try:
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(data_dir, 0o700)
        except OSError as e:
            raise ConfigError(f"data_dir: cannot create {data_dir}: {e.strerror}") from e
        self.store.migrate()
        self.data.mint_kek = mint_kek
        if mint_kek:
            self.data.vault()  # refuses a key file inside data_dir, or the wrong KEK
        tls = self.tls_material() if self.settings.api.tls else None
        token = self.api_keys.bootstrap_operator() if bootstrap else None
        return Prepared(tls=tls, operator_token=token)

    @property
    def vault(self) -> Vault:
        """The at-rest vault (``self.data`` builds it; see :class:`DataServices`)."""
        return self.data.vault()

    def tls_material(self) -> TlsMaterial:
        """The server certificate, generated under ``data_dir/tls`` unless configured."""
        t = self.settings.tls
        try:
            return ensure_tls_material(
                self.settings.data_dir / "tls",
                t.server_names,
                now=self.clock.now(),
                cert_file=t.cert_file,
                key_file=t.key_file,
            )
        except (OSError, ValueError) as e:
            raise ConfigError(f"tls: cannot prepare certificates: {e}") from e

    def audit_log(self) -> AuditLog:
        """The hash-chained audit log (opened on first use; flushed by :meth:`close`)."""
        if self._audit is None:
            ring = open_audit_keyring(self.settings.data_dir, self.clock.now())
            audit = AuditLog(SqlAuditStore(self.store.engine), ring, self.clock)
            audit.open()
            self._audit = audit
        return self._audit

    def access(self) -> AccessServices:
        """Device identity, tokens, policy and revocation (built on first use)."""
        if self._access is None:
            sec = self.settings.security
            static = StaticPolicy(
                [
                    MqttUser(u.name, u.password_hash, u.publish, u.subscribe)
                    for u in self.settings.mqtt.users
                ],
                self.hasher,
            )
            self._access = build_access(
                store=self.store,
                registry=self.registry,
                hasher=self.hasher,
                clock=self.clock,
                data_dir=self.settings.data_dir,
                static=static,
                audit=self.audit_log().record,
                hub_ca=self._hub_ca(),
                tokens=TokenSettings(
                    issuer=sec.token_issuer,
                    ttl=dt.timedelta(seconds=sec.token_ttl_seconds),
                    max_lifetime=dt.timedelta(seconds=sec.token_max_lifetime_seconds),
                    leeway=dt.timedelta(seconds=sec.token_leeway_seconds),
                    connect_rate=sec.connect_rate,
                    connect_burst=sec.connect_burst,
                    flap_threshold=sec.flap_threshold,
                    flap_window=sec.flap_window_seconds,
                    flap_ban=sec.flap_ban_seconds,
                ),
                trust_maker=self._trust_maker,
            )
            self.data.bind(self._access)
        return self._access

    def _hub_ca(self) -> HubCa | None:
        """The hub CA that signs device certificates (None with an operator's own cert)."""
        try:
            return load_hub_ca(self.settings.data_dir / "tls")
        except ConfigError as e:
            log.warning("device certificates cannot be issued: %s", e.detail)
            return None

    def _trust_maker(self, pem: bytes) -> None:
        """A newly registered maker CA: mTLS listeners accept its bootstrap certificates."""
        for context in self._mtls_contexts:
            context.load_verify_locations(cadata=pem.decode())

    def api_app(self) -> FastAPI:
        """The REST application bound to this hub's services."""
        ctx = ApiContext(
            registry=self.registry,
            api_keys=self.api_keys,
            store=self.store,
            access=self.access(),
            audit=self.audit_log(),
            max_page_size=self.settings.api.max_page_size,
            max_body_bytes=self.settings.api.max_body_bytes,
            presence=self.presence,
            history=self.data.history(),
            owner_data=self.data.owner_data(self.access()),
            keydir=self.data.keydir(),
        )
        return create_app(ctx)

    def api_server(self, tls: TlsMaterial | None) -> uvicorn.Server:
        """A uvicorn server for the REST API (TLS 1.2+ when ``tls`` is given)."""
        api = self.settings.api
        context = server_context(tls.cert_file, tls.key_file) if tls is not None else None
        config = uvicorn.Config(
            self.api_app(),
            host=api.host,
            port=api.port,
            log_config=None,
            access_log=False,
            server_header=False,
            lifespan="off",
            backlog=2048,
            timeout_keep_alive=30,
            ssl_context_factory=(lambda _cfg, _default: context) if context is not None else None,
        )
        return uvicorn.Server(config)

    async def start_broker(self, tls: TlsMaterial | None) -> Broker | None:
        """Create the embedded broker and bind its listeners (none if disabled)."""
        mqtt = self.settings.mqtt
        if not mqtt.enabled:
            return None
        access = self.access()
        limits = BrokerLimits(
            max_packet_size=mqtt.max_packet_size,
            max_topic_levels=mqtt.max_topic_levels,
            receive_maximum=mqtt.receive_maximum,
            max_inflight=mqtt.max_inflight,
            max_queued_messages=mqtt.max_queued_messages,
            max_session_expiry=mqtt.max_session_expiry,
            max_keep_alive=mqtt.max_keep_alive,
            topic_alias_maximum=mqtt.topic_alias_maximum,
            write_buffer_high_water=mqtt.write_buffer_high_water,
        )
        store = (
            BrokerStore(self.settings.data_dir / "broker.db", fsync=mqtt.durable_fsync)
            if mqtt.persistence
            else None
        )
        broker = Broker(limits, access.hub, access.hub, self.events, self.clock, store)
        self.audit_log().subscribe_to(self.events)
        restored = broker.restore()
        if restored:
            log.info("restored %d persistent MQTT sessions", restored)
        keys = (self.data.keydir(), self.registry)
        self._services = HubServices(broker, access, self.audit_log(), keys)
        self._services.start()
        if self.presence is not None:  # before the listeners: no CONNECT goes unseen
            await self.presence.start(self.events, broker)
        self.data.start(broker)
        needs_tls = any(lst.kind in ("tls", "wss") for lst in mqtt.listeners)
        if needs_tls and tls is None:
            tls = self.tls_material()
        for lst in mqtt.listeners:
            context = self._listener_context(lst, tls)
            info = ListenerInfo(
                lst.name,
                lst.kind,
                lst.host,
                lst.port,
                lst.allow_anonymous,
                lst.force_anonymous_on_public_address,
            )
            self._mqtt_servers.append(await start_listener(broker, info, context))
        if mqtt.stats_interval:
            self._stats_task = asyncio.get_running_loop().create_task(
                run_stats(broker, mqtt.stats_interval), name="broker-stats"
            )
        self.broker = broker
        return broker

    def _listener_context(
        self, lst: ListenerSettings, tls: TlsMaterial | None
    ) -> ssl.SSLContext | None:
        """The TLS context of one listener (per listener: mTLS settings differ)."""
        if tls is None or lst.kind not in ("tls", "wss"):
            return None
        client_ca = None
        if lst.client_certificates != "none":
            client_ca = lst.client_ca_file or tls.ca_file
            if client_ca is None and lst.client_certificates == "optional":
                log.warning(
                    "mqtt.listeners.%s: no hub CA (an operator certificate is in use): "
                    "device certificates are not asked for",
                    lst.name,
                )
            elif client_ca is None:
                raise ConfigError(
                    f"mqtt.listeners.{lst.name}: client_certificates needs client_ca_file "
                    "(the hub CA is not in use with an operator-supplied certificate)"
                )
        try:
            context = server_context(
                tls.cert_file,
                tls.key_file,
                client_ca=client_ca,
                require_client_cert=lst.client_certificates == "required",
            )
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"mqtt.listeners.{lst.name}: unusable TLS material: {e}") from e
        if client_ca is not None:
            # Maker CAs let bootstrap certificates through the handshake; HubAccess then
            # accepts them only to enrol (ADR 0007), never as a device identity.
            for pems in self.access().hub.state.makers.values():
                for pem in pems:
                    context.load_verify_locations(cadata=pem.decode())
            self._mtls_contexts.append(context)
        return context

    async def stop_broker(self) -> None:
        """Close the listeners and every client connection."""
        if self.presence is not None:
            await self.presence.stop()
        if self._stats_task is not None:
            self._stats_task.cancel()
            self._stats_task = None
        if self._services is not None:
            await self._services.stop()
            self._services = None
        for server in self._mqtt_servers:
            server.close()
        if self.broker is not None:
            self.broker.shutdown()
        for server in self._mqtt_servers:
            await server.wait_closed()
        self._mqtt_servers.clear()
        await self.data.stop(self.broker)
        if self.broker is not None:
            self.broker.journal.close()

    async def serve(self, tls: TlsMaterial | None) -> None:
        """Run every listener until cancelled or signalled."""
        server = self.api_server(tls)
        try:
            await self.start_broker(tls)
            settle_heap()
            await server.serve()
        finally:
            await self.stop_broker()
            await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Store what the audit log still holds, then release resources."""
        if self._audit is not None:
            try:
                self._audit.close()
            except FleetwardError:
                log.exception("the audit log could not store its last entries")
            self._audit = None
        self.data.close()
        self.store.close()


def settle_heap() -> None:
    """Take what the started hub holds out of the cyclic collector's full scans.

    At 10,000 devices the loaded state and the code make up a large part of the tracked
    objects, and a full collection walks every one while the loop waits (ADR 0007 has
    the measurement). They live as long as the process, so they are collected once and
    frozen; what comes later (sessions, messages) is still collected as usual.
    """
    gc.collect()
    gc.freeze()


def run_forever(hub: Hub, tls: TlsMaterial | None) -> None:
    """Run the hub on the configured event loop (uvloop only when asked and installed)."""
    runner: Any = asyncio.run
    if hub.settings.event_loop == "uvloop":
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            log.warning("event_loop = uvloop, but uvloop is not installed: using asyncio")
    runner(hub.serve(tls))
