#!/bin/sh
# run.sh - start moatd in the foreground with the embedded default config.
set -eu
O=${1:-build/release}
cd "$(dirname "$0")/.."
mkdir -p var
chmod 755 var
exec "$O/moatd" -d -c etc/moat.conf
