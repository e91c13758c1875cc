#!/usr/bin/env bash
# ci/build-images.sh: build the server images offline, without an image registry.
#
# Usage: ci/build-images.sh [--force] [--jobs=N] [SERVER...]
#   SERVER   a directory name under servers/ (default: every server whose
#            manifest has a `package:` line or a `cargo:` block)
#   --force  rebuild an image that already exists
#   --jobs=N build N images at a time (default 1)
#
# For each server it makes a Debian root filesystem of the manifest's `suite:`
# (default bookworm) with mmdebstrap, with the manifest's packages and `depends:`
# installed by apt (a `cargo:` server gets its binary from ci/setup-debian.sh's
# build instead), and imports it as ftps-compat/<server>:<suite>, the same tag
# servers/<server>/Dockerfile builds where a registry is reachable. One image per
# server: the packages conflict (Conflicts: ftp-server).
#
#   mmdebstrap --variant=apt --include=<packages> bookworm <tar> <host sources file>
#
# Every image also gets tini as its ENTRYPOINT (PID 1). A server must not run
# as PID 1: vsftpd's standalone listener segfaults (exit 139) when it reaps a
# process it did not fork, which PID 1 does for every orphan.
#
# The mirror argument is this machine's own apt sources file (read at run time,
# never copied into this repository); for another suite, a temporary copy with
# the host's suite name replaced. mmdebstrap leaves a copy of it in the
# rootfs (etc/apt/sources.list.d/); a customize hook deletes it, so the image
# carries no mirror name and has no apt sources. Another hook creates the login
# account (servers/login-user.sh, servers/account.yaml).
#
# Needs: root (mmdebstrap's root mode), mmdebstrap, a Docker engine.
# Environment:
#   FTPS_COMPAT_CACHE         scratch space for the rootfs tarball
#                             (default: $HOME/.cache/ftps-compat)
#   FTPS_COMPAT_APT_SOURCES   apt sources file to use as the mirror argument
#                             (default: /etc/apt/sources.list.d/debian.sources,
#                             else /etc/apt/sources.list)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${FTPS_COMPAT_CACHE:-$HOME/.cache/ftps-compat}
HOST_SUITE=$( (. /etc/os-release && echo "${VERSION_CODENAME:-}") 2>/dev/null || true)
HOST_SUITE=${HOST_SUITE:-bookworm}

say() { printf '[build-images] %s\n' "$*"; }
die() { printf '[build-images] error: %s\n' "$*" >&2; exit 1; }

force=0 jobs=1 wanted=()
for a in "$@"; do
    case "$a" in
        --force) force=1 ;;
        --jobs=*) jobs=${a#--jobs=} ;;
        -h|--help) sed -n '2,36p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $a (try --help)" ;;
        *) wanted+=("$a") ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "run as root (mmdebstrap builds the rootfs in root mode)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (ci/setup-debian.sh installs it)"
command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (docker info failed)"

sources=${FTPS_COMPAT_APT_SOURCES:-}
if [ -z "$sources" ]; then
    for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
        if [ -s "$f" ]; then sources=$f; break; fi
    done
fi
if [ -z "$sources" ] || [ ! -s "$sources" ]; then die "no apt sources file found; set FTPS_COMPAT_APT_SOURCES"; fi
# Host names of the mirrors, only held in memory, to check the image is free of them.
mapfile -t mirror_hosts < <(grep -oE '[a-z][a-z0-9+.-]*://[^/[:space:]]+' "$sources" | sed 's#.*://##; s#.*@##' | sort -u)

now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }
# manifest_list, manifest_packages, manifest_cargo, manifest_suite.
# shellcheck source=ci/manifest.sh
. "$REPO/ci/manifest.sh"

if [ ${#wanted[@]} -eq 0 ]; then
    for m in "$REPO"/servers/*/manifest.yaml; do
        if [ -n "$(manifest_packages "$m")" ] || [ -n "$(manifest_cargo "$m" crate)" ]; then
            wanted+=("$(basename "$(dirname "$m")")")
        fi
    done
fi
[ ${#wanted[@]} -gt 0 ] || die "no servers to build"
case "$jobs" in '' | *[!0-9]* | 0) die "--jobs=N takes a positive number, not '$jobs'" ;; esac
# Several images at once: mmdebstrap mostly waits for downloads. Each server is built by
# its own run of this script; any failure fails the whole.
if [ "$jobs" -gt 1 ] && [ ${#wanted[@]} -gt 1 ]; then
    say "building ${#wanted[*]} images, $jobs at a time: ${wanted[*]}"
    extra=()
    [ "$force" -eq 0 ] || extra+=(--force)
    printf '%s\n' "${wanted[@]}" | xargs -P "$jobs" -I{} "${BASH_SOURCE[0]}" "${extra[@]}" {}
    exit
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ftps-compat-images.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$CACHE"

summary=()
for s in "${wanted[@]}"; do
    m=$REPO/servers/$s/manifest.yaml
    [ -f "$m" ] || die "no $m"
    SUITE=$(manifest_suite "$m")
    pkgs=$(manifest_packages "$m")
    crate=$(manifest_cargo "$m" crate)
    [ -n "$pkgs" ] || [ -n "$crate" ] || die "$m has neither a package: line nor a cargo: block"
    # What dpkg-query reports as the image's versions: the server's packages, else the
    # runtime packages of a server built from a crate.
    deps=$(manifest_list "$m" depends)
    query=${pkgs:-${deps:-tini}}
    # passwd: login-user.sh needs groupadd/useradd, which trixie's minimal set lacks.
    include=$(echo "$pkgs $deps passwd tini" | xargs | tr ' ' ',')
    tag=ftps-compat/$s:$SUITE
    if [ "$force" -eq 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
        say "$tag exists, skipped (--force rebuilds)"
        summary+=("$tag: exists, skipped")
        continue
    fi
    # Another release than the host's: the host's sources with the suite changed.
    suite_sources=$sources
    if [ "$SUITE" != "$HOST_SUITE" ]; then
        suite_sources=$work/$SUITE.sources
        sed "s/\b$HOST_SUITE\b/$SUITE/g" "$sources" >"$suite_sources"
    fi
    # A server built from a crate: its binary, from ci/setup-debian.sh's build.
    binary_hook=() crate_version=
    if [ -n "$crate" ]; then
        bin=$CACHE/pkgroot/$s/bin/$crate
        [ -x "$bin" ] || die "$s: no $bin (ci/setup-debian.sh builds it)"
        binary_hook=(--customize-hook="copy-in $bin /usr/bin")
        crate_version=" $crate=$(manifest_cargo "$m" version) (crates.io)"
    fi
    tar=$work/$s.tar
    old_id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
    log=$work/$s.mmdebstrap.log
    say "$s: mmdebstrap --variant=apt --include=$include $SUITE (mirror argument: the host's apt sources file)"
    start=$(now_ms)
    # Hooks run on this host with "$1" = the rootfs directory (single quotes intended).
    # shellcheck disable=SC2016
    if ! mmdebstrap --variant=apt --include="$include" \
        --customize-hook="copy-in $REPO/servers/login-user.sh $REPO/servers/account.yaml /tmp" \
        --customize-hook='chroot "$1" sh /tmp/login-user.sh /tmp/account.yaml' \
        --customize-hook='rm -f "$1/tmp/login-user.sh" "$1/tmp/account.yaml"' \
        "${binary_hook[@]}" \
        --customize-hook="chroot \"\$1\" dpkg-query -W -f='\${Package}=\${Version} ' $query > $work/$s.versions" \
        --customize-hook='rm -f "$1/etc/apt/sources.list"; find "$1/etc/apt/sources.list.d" -mindepth 1 -delete' \
        "$SUITE" "$tar" "$suite_sources" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "$s: mmdebstrap failed (last lines above)"
    fi
    built=$(now_ms)
    versions=$(sed 's/ $//' "$work/$s.versions")$crate_version
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENTRYPOINT ["/usr/bin/tini", "--"]' \
        --change 'CMD ["/bin/sh"]' \
        --change "LABEL org.opencontainers.image.title=$tag" \
        --change "LABEL io.ftps-compat.packages=\"$versions\"" \
        --message "ftps-compat: mmdebstrap $SUITE + $versions" \
        "$tar" "$tag" >/dev/null
    rm -f "$tar"
    end=$(now_ms)
    # --force: drop the image this one replaces, unless something still uses it.
    if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
        docker image rm "$old_id" >/dev/null 2>&1 || true
    fi
    # No mirror host name may remain in the image's configuration or state.
    if [ ${#mirror_hosts[@]} -gt 0 ]; then
        args=()
        for h in "${mirror_hosts[@]}"; do args+=(-e "$h"); done
        rc=0
        found=$(docker run --rm --network none --entrypoint grep "$tag" -rlsF "${args[@]}" /etc /var) || rc=$?
        if [ "$rc" -eq 0 ]; then
            docker image rm "$tag" >/dev/null
            die "$s: the image still names a mirror in: $(echo "$found" | xargs) (image removed)"
        elif [ "$rc" -ne 1 ]; then
            say "$s: warning: could not check the image for mirror names (grep exit $rc)"
        fi
    fi
    say "$s: built $tag in $(secs $((end - start)))s (mmdebstrap $(secs $((built - start)))s, import $(secs $((end - built)))s): $versions"
    summary+=("$tag: built in $(secs $((end - start)))s ($versions)")
done

say "done:"
for l in "${summary[@]}"; do say "  $l"; done
