#!/usr/bin/env bash
# Prepares the Kamailio source tree of exactly the installed Debian package version, configured
# with Debian's own flags, so that a module built against it passes Kamailio's version and
# compile-flags check. Prints the tree's path. Idempotent: a prepared tree is reused.
set -euo pipefail

cache=${CCROUTE_CACHE:-/var/cache/ccroute}
version=$(dpkg-query -W -f='${Version}' kamailio)
upstream=${version#*:}; upstream=${upstream%-*}
tree="$cache/kamailio-$version/kamailio-$upstream"
stamp="$tree/.ccroute-configured"

if [ -f "$stamp" ]; then echo "$tree"; exit 0; fi

add_deb_src() {
  grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/ && return 1
  local out=/etc/apt/sources.list.d/ccroute-deb-src
  if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    # deb822: copy the stanzas of Debian's own archive, with deb-src as their type.
    awk 'BEGIN{RS=""; ORS="\n\n"} /URIs:[^\n]*debian/ {sub(/Types: deb/, "Types: deb-src"); print}' \
      /etc/apt/sources.list.d/*.sources > "$out.sources"
  fi
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb \(.*debian.*\)/deb-src \1/p' /etc/apt/sources.list > "$out.list"
  fi
  return 0
}

if [ "$(id -u)" -ne 0 ] && [ ! -w "$cache" ]; then
  echo "kamailio-source: $cache is not writable; run as root once" >&2; exit 1
fi
mkdir -p "$cache/kamailio-$version"
if [ ! -d "$tree" ]; then
  if add_deb_src; then apt-get update -qq; fi
  ( cd "$cache/kamailio-$version" && apt-get source -qq "kamailio=$version" >/dev/null 2>&1 ) || {
    # A first try can fail on an old package list; refresh it once and retry with the message shown.
    apt-get update -qq
    ( cd "$cache/kamailio-$version" && apt-get source -qq "kamailio=$version" )
  }
fi

# The same "make cfg" as debian/rules, so C_DEFS match the flags of Debian's binary.
cppflags=$(dpkg-buildflags --get CPPFLAGS)
cflags=$(dpkg-buildflags --get CFLAGS)
ldflags=$(dpkg-buildflags --get LDFLAGS)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
make -s -C "$tree" cfg prefix=/usr cfg_target=/etc/kamailio/ FLAVOUR=kamailio \
  LIBDIR="lib/$multiarch" CC_EXTRA_OPTS="$cppflags $cflags -DVERSION_NODATE" \
  LD_EXTRA_OPTS="$ldflags" group_include=kstandard >/dev/null
touch "$stamp"
echo "$tree"
