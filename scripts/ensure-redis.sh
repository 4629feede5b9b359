#!/usr/bin/env bash
# Make sure a Redis server answers on 127.0.0.1:6379 for the test suite.
# Starts one if installed; installs Debian's redis-server when absent and running as root.
set -euo pipefail

answers() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null; }

answers && exit 0
if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        # redis-tools (redis-cli) too: the Redis Cluster tests join their servers with `redis-cli --cluster create`.
        echo "redis-server not found: installing Debian's redis-server and redis-tools" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
    else
        echo "Redis is not running on 127.0.0.1:6379 and redis-server is not installed." >&2
        echo "Install it (e.g. 'sudo apt-get install redis-server') and re-run." >&2
        exit 1
    fi
fi
mkdir -p /tmp/nono-redis
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/nono-redis --logfile /tmp/nono-redis/redis.log
for _ in $(seq 50); do answers && exit 0; sleep 0.1; done
echo "redis-server was started but does not answer on 127.0.0.1:6379 (see /tmp/nono-redis/redis.log)" >&2
exit 1
