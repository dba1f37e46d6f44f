"""Start and stop the brokers under test, each on its own free loopback ports.

Fleetward runs from this checkout; Mosquitto from the machine (a private instance with
its own config, never the service on 1883); amqtt from its own virtual environment
(it pins an older ``websockets`` than Fleetward), created on first use.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from fleetward.crypto import ensure_tls_material

ROOT = Path(__file__).resolve().parent.parent
AMQTT_VERSION = "0.12.1"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    """A broker process and its ports."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    tls_port: int | None
    ca_file: Path | None
    log: Path
    notes: list[str] = field(default_factory=list)

    def rss_kib(self) -> int:
        """Resident memory of the broker process, from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        """Terminate (then kill) the broker."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited early; see {log}:\n{log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on {port}; see {log}")


def _spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    fh = log.open("wb")
    return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)


def start_fleetward(work: Path) -> Running:
    """Fleetward with an anonymous plain and an anonymous TLS listener on loopback."""
    port, tls_port = free_port(), free_port()
    listeners = [
        {"name": "plain", "kind": "tcp", "port": port, "allow_anonymous": True},
        {"name": "tls", "kind": "tls", "port": tls_port, "allow_anonymous": True},
    ]
    env = {
        **os.environ,
        "FLEETWARD_DATA_DIR": str(work / "fleetward"),
        "FLEETWARD_API__PORT": str(free_port()),
        "FLEETWARD_MQTT__LISTENERS": json.dumps(listeners),
        "FLEETWARD_MQTT__MAX_KEEP_ALIVE": "3600",
        "FLEETWARD_LOG__LEVEL": "warning",
    }
    log = work / "fleetward.log"
    exe = Path(sys.executable).with_name("fleetward")
    proc = _spawn([str(exe), "serve"], log, env)
    _wait_port(tls_port, proc, log)
    ca = work / "fleetward" / "tls" / "hub-ca.pem"
    return Running("fleetward", proc, port, tls_port, ca, log)


def start_mosquitto(work: Path) -> Running:
    """A private Mosquitto with a plain and a TLS listener (same certificate as Fleetward)."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port, tls_port = free_port(), free_port()
    tls = ensure_tls_material(work / "mosquitto-tls", ("localhost",), now=dt.datetime.now(dt.UTC))
    # Mosquitto started as root drops to its own user: let it read these throwaway files.
    for path in (work, work / "mosquitto-tls", tls.cert_file, tls.key_file):
        path.chmod(0o755 if path.is_dir() else 0o644)
    conf = work / "mosquitto.conf"
    conf.write_text(
        "persistence false\nlog_dest stderr\nlog_type error\nmax_queued_messages 1000\n"
        f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        f"listener {tls_port} 127.0.0.1\nallow_anonymous true\n"
        f"certfile {tls.cert_file}\nkeyfile {tls.key_file}\n"
    )
    log = work / "mosquitto.log"
    proc = _spawn([exe, "-c", str(conf)], log)
    _wait_port(tls_port, proc, log)
    version = subprocess.run([exe, "-h"], capture_output=True, text=True, check=False).stdout
    return Running("mosquitto", proc, port, tls_port, tls.ca_file, log, [version.splitlines()[0]])


def _amqtt_venv() -> Path:
    venv = ROOT / ".bench" / f"amqtt-{AMQTT_VERSION}"
    exe = venv / "bin" / "amqtt"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", f"amqtt=={AMQTT_VERSION}"], check=True
        )
    return exe


def start_amqtt(work: Path) -> Running:
    """amqtt with a plain and a TLS listener."""
    exe = _amqtt_venv()
    port, tls_port = free_port(), free_port()
    tls = ensure_tls_material(work / "amqtt-tls", ("localhost",), now=dt.datetime.now(dt.UTC))
    conf = work / "amqtt.yaml"
    conf.write_text(
        "listeners:\n"
        f"  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\n    max_connections: 0\n"
        f"  secure:\n    type: tcp\n    bind: 127.0.0.1:{tls_port}\n    ssl: true\n"
        f"    certfile: {tls.cert_file}\n    keyfile: {tls.key_file}\n"
        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
    )
    log = work / "amqtt.log"
    proc = _spawn([str(exe), "-c", str(conf)], log)
    _wait_port(tls_port, proc, log)
    return Running("amqtt", proc, port, tls_port, tls.ca_file, log, [f"amqtt {AMQTT_VERSION}"])
