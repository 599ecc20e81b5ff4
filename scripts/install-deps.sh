#!/usr/bin/env bash
# Installs, from Debian's archive only, everything ccroute needs to build, run its demo, its
# tests and its reports (gnuplot draws the report charts, xmllint checks them). Idempotent:
# when every package is already there it returns without touching apt.
set -euo pipefail

packages=(
  build-essential dpkg-dev pkg-config
  postgresql-15 postgresql-server-dev-15 postgresql-contrib postgresql-15-pgaudit libpq-dev
  libkrb5-dev   # gssapi.h, which the server's libpq-be.h (the authentication hook's Port) includes
  liblua5.4-dev libargon2-dev liboath-dev
  kamailio kamailio-extra-modules kamailio-postgres-modules
  sip-tester iproute2 procps
  gnuplot-nox libxml2-utils
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# A package's own service must not start: tests run their own servers on free ports, and a
# packaged Kamailio or PostgreSQL would only hold 5060 / 5432 for nothing.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; added_policy=1
fi
trap '[ $added_policy -eq 1 ] && rm -f "$policy"' EXIT

echo "install-deps: installing ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
