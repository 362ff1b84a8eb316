#!/usr/bin/env bash
# Puts promtool (from Debian's prometheus package) into the virtualenv without installing or starting a
# Prometheus server: the package is downloaded and unpacked, and only the one binary is kept.
set -euo pipefail
dest=${1:-.venv/bin}
[ -x "$dest/promtool" ] && exit 0
if command -v promtool >/dev/null 2>&1; then
  ln -sf "$(command -v promtool)" "$dest/promtool"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "promtool not found and apt-get is not available: install Prometheus's promtool to run the metrics lint" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && (apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download prometheus >/dev/null; }))
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
install -m 0755 "$work/root/usr/bin/promtool" "$dest/promtool"
echo "promtool installed into $dest"
