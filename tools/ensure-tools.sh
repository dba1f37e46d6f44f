#!/usr/bin/env bash
# System tools the test suite drives as a user would (real MQTT command-line clients,
# SoftHSM2 as the PKCS#11 token behind the vault's HSM key provider).
# Installs them from Debian's packages when missing; prints what it did, changes nothing else.
set -euo pipefail
need=()
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need[*]} from Debian's packages"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: missing ${need[*]}; install them (apt-get install ${need[*]}) for the MQTT client and HSM tests" >&2
  fi
fi
