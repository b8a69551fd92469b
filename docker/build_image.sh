#!/usr/bin/env bash
# Build the rsigym sandbox image without any image registry, for CI and offline machines:
#   1. a Debian bookworm root from debootstrap (its python3 is 3.11, matching cp311 wheels),
#      imported with `docker import` as the base image;
#   2. the wheels of docker/requirements.txt, fetched through this machine's pip configuration
#      (its find-links and indexes) into a build context;
#   3. docker/Dockerfile on that base, installing from those wheels only.
# The image is tagged rsigym-sandbox:<hash of the build inputs> and rsigym-sandbox:latest;
# when that tag exists already nothing is rebuilt (REBUILD=1 forces a build).
#
# Needs root (debootstrap), a running Docker engine, and pip. Environment:
#   DEBIAN_MIRROR  Debian mirror for debootstrap (default: the first non-security one in apt's sources)
#   PYTHON         interpreter whose pip fetches the wheels (default: python3)
#   IMAGE_NAME     image repository name (default: rsigym-sandbox)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=${IMAGE_NAME:-rsigym-sandbox}
python=${PYTHON:-python3}
suite=bookworm

apt_mirror() {
    # URIs of the machine's apt sources, deb822 and one-line formats; security archives excluded.
    { grep -hsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources | sed -E 's/^\s*URIs:\s*//' | tr ' ' '\n'
      grep -hsE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | grep -oE '(https?|file)://\S+'
    } | grep -v -- '-security' | head -n1 || true  # no match is not an error here
}

build_base() {  # the Debian root, imported as image "$1"; its text is part of the base's tag
    local mirror=${DEBIAN_MIRROR:-$(apt_mirror)}
    [ -n "$mirror" ] || { echo "no Debian mirror found in apt's sources; set DEBIAN_MIRROR" >&2; exit 1; }
    echo "debootstrap $suite from $mirror"
    debootstrap --variant=minbase --include=python3,python3-venv "$suite" "$work/root" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
    # Package caches, indexes, docs and translations: not needed to run anything.
    rm -rf "$work"/root/var/cache/apt/* "$work"/root/var/lib/apt/lists/* "$work"/root/usr/share/doc \
        "$work"/root/usr/share/man "$work"/root/usr/share/locale "$work"/root/usr/share/info
    tar -C "$work/root" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' - "$1" >/dev/null
    rm -rf "$work/root"
}

fetch_wheels() {  # the wheels of requirements.txt for CPython 3.11 on x86_64 glibc 2.36 (bookworm), into "$1"
    local platforms=(--platform manylinux2014_x86_64)
    for minor in $(seq 17 36); do platforms+=(--platform "manylinux_2_${minor}_x86_64"); done
    "$python" -m pip download --dest "$1" --only-binary=:all: \
        --python-version 3.11 --implementation cp --abi cp311 "${platforms[@]}" \
        -r "$here/requirements.txt" >"$work/pip.log" 2>&1 || { tail -n 30 "$work/pip.log" >&2; exit 1; }
    if compgen -G "$1/nvidia_*" >/dev/null; then
        echo "pip picked a CUDA torch build: give this machine's pip a CPU torch wheel (find-links or index)" >&2
        exit 1
    fi
}

# Tags name what shapes an image: the base recipe; plus, for the image, its files and wheels recipe.
digest() { sha256sum | cut -c1-12; }
base="rsigym-debian:$suite-$(declare -f build_base | digest)"
tag="$name:$({ cat "$here/Dockerfile" "$here/requirements.txt"; declare -f build_base fetch_wheels; } | digest)"

if [ -z "${REBUILD:-}" ] && docker image inspect "$tag" >/dev/null 2>&1; then
    docker tag "$tag" "$name:latest"
    echo "reusing $tag (tagged $name:latest)"
    exit 0
fi

work=$(mktemp -d /tmp/rsigym-image-build.XXXXXX)
trap 'rm -rf "$work"' EXIT

docker image inspect "$base" >/dev/null 2>&1 || build_base "$base"
echo "base image $base ready (${SECONDS}s)"
mkdir -p "$work/context"
cp "$here/Dockerfile" "$here/requirements.txt" "$work/context/"
fetch_wheels "$work/context/wheels"
echo "wheels fetched: $(du -sh "$work/context/wheels" | cut -f1) (${SECONDS}s)"

docker build --build-arg BASE_IMAGE="$base" -t "$tag" "$work/context"
docker image prune --force --filter label=rsigym.stage=build >/dev/null  # the build stage, GBs of wheels
docker tag "$tag" "$name:latest"
# Earlier builds under other tags are stale now: free their gigabytes.
stale=$(docker images "$name" --format '{{.Repository}}:{{.Tag}}' | grep -vxF -e "$tag" -e "$name:latest" || true)
[ -z "$stale" ] || docker rmi $stale >/dev/null || echo "could not remove stale images: $stale" >&2
echo "built $tag (tagged $name:latest) in ${SECONDS}s"
