#!/usr/bin/env bash
# CI: make a Docker engine and the sandbox image available, idempotently, on Debian.
#   - installs Debian's docker.io (and debootstrap) when missing,
#   - starts dockerd in the background when no engine answers,
#   - builds the sandbox image with docker/build_image.sh unless it is there already.
# Run as root. dockerd's log goes to $DOCKERD_LOG (default /var/log/rsigym-dockerd.log).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log=${DOCKERD_LOG:-/var/log/rsigym-dockerd.log}

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
fi

if ! docker info >/dev/null 2>&1; then
    echo "starting dockerd (log: $log)"
    setsid nohup dockerd >"$log" 2>&1 </dev/null &
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { echo "dockerd did not come up:" >&2; tail -n 20 "$log" >&2; exit 1; }
fi

"$here/build_image.sh"
