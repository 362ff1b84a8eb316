#!/usr/bin/env bash
# The Debian packages some tests drive: headless Chromium and its WebDriver (the console's browser tests) with a CJK
# font so Chinese text in screenshots is drawn, and amqp-tools (a partner department with no Python at all).
# Nothing is downloaded outside the package registry.
set -euo pipefail
packages=(chromium chromium-driver fonts-wqy-microhei amqp-tools)
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
fc-list 2>/dev/null | grep -qi wqy || missing+=(fonts-wqy-microhei)
command -v amqp-publish >/dev/null 2>&1 || missing+=(amqp-tools)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Some tests need Debian packages: apt-get install ${packages[*]} (as root)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
}
echo "installed: ${missing[*]}"
