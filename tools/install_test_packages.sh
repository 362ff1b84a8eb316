#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the console's browser tests, from Debian's packages, plus a CJK font
# so Chinese text in screenshots is drawn, not boxes. Nothing is downloaded outside the package registry.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi wqy; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The browser tests need: apt-get install chromium chromium-driver fonts-wqy-microhei (as root)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null 2>&1 || {
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null
}
echo "chromium $(chromium --version 2>/dev/null | awk '{print $2}') and chromedriver installed"
