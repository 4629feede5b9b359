#!/usr/bin/env bash
# Make sure the command-line tools the test suite checks files with are installed:
# - promtool (Debian's `prometheus`) validates and unit-tests deploy/prometheus/alerts.yml;
# - systemd-analyze (Debian's `systemd`) verifies deploy/nono.service;
# - chromium and chromedriver open /docs (Swagger UI) in a real browser.
# Installs what is missing when running as root with apt-get (like ensure-redis.sh); otherwise says how.
set -euo pipefail

missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's ${missing[*]} (tools the tests check deploy files and /docs with)" >&2
    # Without recommends: the node exporter, web assets and desktop extras are not needed. policy-rc.d: a package
    # that ships a service (prometheus) must not start it here.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "missing tools: ${missing[*]}: install them (e.g. 'sudo apt-get install ${missing[*]}') and re-run." >&2
    exit 1
fi
