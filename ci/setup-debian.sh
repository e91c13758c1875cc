#!/usr/bin/env bash
# ci/setup-debian.sh: prepare a Debian 12 (bookworm) machine to run ftps-compat.
#
# Run as root. Idempotent: a second run only checks. Called by .ci/run and by the
# README's set-up. What it does, printing each step:
#   1. apt-installs the tools: curl, lftp, openssl, mmdebstrap, chromium, ...
#   2. creates the login account of servers/account.yaml (servers/login-user.sh)
#   3. unpacks the Debian packages named by every servers/*/manifest.yaml
#      (`package:`) into $FTPS_COMPAT_CACHE/pkgroot/<server>, never into /,
#      and builds the servers that come from a crate (`cargo:`) into the same place.
#      Servers of another Debian release (`suite:`) are left to the images.
#      The three servers conflict with each other (Conflicts: ftp-server), so
#      they cannot all be installed; unpacked, they sit side by side.
#   4. apt-installs the shared libraries those unpacked binaries need (read from
#      the packages' Depends, plus each manifest's `depends:`) and checks with ldd
#      that nothing is missing
#   5. apt-installs vsftpd itself (the foundation tests use /usr/sbin/vsftpd)
#      unless another ftp-server package is installed; its service is not
#      started and not enabled (Debian's stock config listens on all interfaces)
#
# Environment:
#   FTPS_COMPAT_CACHE   cache directory (default: $HOME/.cache/ftps-compat)
#   FTPS_COMPAT_NO_APT_VSFTPD=1   skip step 5
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${FTPS_COMPAT_CACHE:-$HOME/.cache/ftps-compat}
PKGROOT=$CACHE/pkgroot
export DEBIAN_FRONTEND=noninteractive

say() { printf '[setup-debian] %s\n' "$*"; }
die() { printf '[setup-debian] error: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
    -h|--help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) die "unknown argument '$1' (try --help)" ;;
esac

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and creates an account)"
# shellcheck disable=SC1091
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] ||
    say "warning: this is ${PRETTY_NAME:-an unknown system}, not Debian 12 (bookworm); continuing"

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }

apt_install() { # apt_install PKG... : installs the missing ones, says which
    local missing=() p
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    if [ ${#missing[@]} -eq 0 ]; then
        say "already installed: $*"
        return
    fi
    say "apt-get install ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# manifest_list, manifest_packages, manifest_cargo, manifest_suite.
# shellcheck source=ci/manifest.sh
. "$REPO/ci/manifest.sh"

# --- 0. package lists -------------------------------------------------------
say "apt-get update"
apt-get update -qq

# --- 1. tools ---------------------------------------------------------------
# fonts-liberation: chromium without recommends has no fonts for the HTML report.
# python3: the throw-away server of harness/tests/baselines.rs.
apt_install ca-certificates curl lftp openssl mmdebstrap chromium fonts-liberation \
    passwd libpam-modules libpam-runtime python3

# --- 2. login account ---------------------------------------------------------
sh "$REPO/servers/login-user.sh" "$REPO/servers/account.yaml" | sed 's/^/[setup-debian] /'

# --- 3. unpack the servers ----------------------------------------------------
# Servers of another Debian release (`suite: trixie`) need that release's libraries:
# they run in the container backend only, and nothing is unpacked for them here.
servers=() crates=() all_server_pkgs=() run_deps=()
for m in "$REPO"/servers/*/manifest.yaml; do
    [ -e "$m" ] || continue
    name=$(basename "$(dirname "$m")")
    suite=$(manifest_suite "$m")
    if [ "$suite" != "${VERSION_CODENAME:-bookworm}" ]; then
        say "$name: Debian $suite build, container backend only (ci/build-images.sh $name)"
        continue
    fi
    read -r -a deps <<<"$(manifest_list "$m" depends)"
    run_deps+=("${deps[@]}")
    if [ -n "$(manifest_cargo "$m" crate)" ]; then
        crates+=("$name")
        continue
    fi
    pk=$(manifest_packages "$m")
    [ -n "$pk" ] || continue
    servers+=("$name")
    read -r -a arr <<<"$pk"
    all_server_pkgs+=("${arr[@]}")
done
[ ${#servers[@]} -gt 0 ] || die "no servers/*/manifest.yaml with a package: line under $REPO"
mkdir -p "$PKGROOT"

lib_deps=()
for s in "${servers[@]}"; do
    read -r -a pkgs <<<"$(manifest_packages "$REPO/servers/$s/manifest.yaml")"
    dest=$PKGROOT/$s
    want=$(for p in "${pkgs[@]}"; do
        v=$(apt-cache policy "$p" | awk '/Candidate:/ {print $2}')
        if [ -z "$v" ] || [ "$v" = "(none)" ]; then die "$s: no installable version of package $p"; fi
        echo "$p=$v"
    done)
    if [ -f "$dest/.ftps-compat-packages" ] && [ "$(cat "$dest/.ftps-compat-packages")" = "$want" ]; then
        say "$s: $dest is up to date ($(echo "$want" | xargs))"
    else
        tmp=$(mktemp -d)
        # apt downloads as the _apt user; let it write there.
        getent passwd _apt >/dev/null && chown _apt "$tmp"
        (cd "$tmp" && apt-get download -qq "${pkgs[@]}" >/dev/null)
        rm -rf "$dest.new"
        mkdir -p "$dest.new"
        for deb in "$tmp"/*.deb; do
            # Not `dpkg -x`: tar must keep directory symlinks (merged /usr).
            dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$dest.new"
            dpkg-deb -f "$deb" Depends Pre-Depends >>"$dest.new/.ftps-compat-control"
        done
        echo "$want" >"$dest.new/.ftps-compat-packages"
        rm -rf "$tmp" "$dest"
        mv "$dest.new" "$dest"
        say "$s: unpacked $(echo "$want" | xargs) into $dest"
    fi
    # Shared libraries the unpacked files need: the lib* packages of Depends
    # (first alternative, version dropped), minus the server packages themselves.
    while read -r d; do
        case " ${all_server_pkgs[*]} " in *" $d "*) continue ;; esac
        lib_deps+=("$d")
    done < <(sed 's/^[A-Za-z-]*:[[:space:]]*//' "$dest/.ftps-compat-control" | tr ',' '\n' |
        sed 's/|.*//; s/(.*)//; s/:any//; s/[[:space:]]//g' | grep '^lib' | sort -u)
done

# --- 4. runtime libraries -----------------------------------------------------
# The lib* Depends of the unpacked packages, and each manifest's `depends:` (libraries a
# server loads that do not conflict with anything, such as python3-openssl).
mapfile -t lib_deps < <(printf '%s\n' "${lib_deps[@]}" "${run_deps[@]}" | sed '/^$/d' | sort -u)
apt_install "${lib_deps[@]}"

libs_missing=0
for s in "${servers[@]}"; do
    while IFS= read -r f; do
        if ldd "$f" 2>/dev/null | grep -q 'not found'; then
            say "$s: missing libraries for ${f#"$PKGROOT"/}:"
            ldd "$f" | grep 'not found' | sed 's/^/    /'
            libs_missing=1
        fi
    done < <(find "$PKGROOT/$s" -type f \( -path '*/sbin/*' -o -path '*/bin/*' -o -name '*.so' \) \
        -exec sh -c 'head -c4 "$1" | grep -q ELF' _ {} \; -print)
done
[ "$libs_missing" -eq 0 ] || die "some unpacked binaries miss libraries (see above)"
say "ldd: every unpacked binary and module finds its libraries"

# --- 4b. servers built from crates ---------------------------------------------
# A manifest's `cargo:` block: `cargo install --locked` into $PKGROOT/<server>, so the
# binary sits at <pkgroot>/bin/<name> like an unpacked package's.
for s in "${crates[@]}"; do
    m=$REPO/servers/$s/manifest.yaml
    crate=$(manifest_cargo "$m" crate)
    version=$(manifest_cargo "$m" version)
    features=$(manifest_cargo "$m" features)
    [ -n "$version" ] || die "$s: the cargo: block has no version (pin one)"
    want="$crate=$version features=[${features}]"
    dest=$PKGROOT/$s
    if [ -f "$dest/.ftps-compat-packages" ] && [ "$(cat "$dest/.ftps-compat-packages")" = "$want" ]; then
        say "$s: $dest is up to date ($want)"
        continue
    fi
    command -v cargo >/dev/null || die "$s: cargo is needed to build $crate $version (install Rust, or skip this server)"
    args=(install --locked --quiet "$crate" --version "=$version" --root "$dest.new")
    if [ -n "$features" ]; then args+=(--no-default-features --features "${features// /,}"); fi
    say "$s: cargo ${args[*]} (a few minutes)"
    rm -rf "$dest.new"
    # Without the crate's fat LTO and single codegen unit (unftp: 14 CPU-minutes, about a
    # third of that without): the same code, less optimized.
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        cargo "${args[@]}" || die "$s: cargo install $crate $version failed"
    rm -f "$dest.new/.crates.toml" "$dest.new/.crates2.json"
    echo "$want" >"$dest.new/.ftps-compat-packages"
    rm -rf "$dest"
    mv "$dest.new" "$dest"
    say "$s: built $want into $dest"
done

# --- 5. vsftpd from apt -----------------------------------------------------
if [ "${FTPS_COMPAT_NO_APT_VSFTPD:-}" = 1 ]; then
    say "vsftpd via apt: skipped (FTPS_COMPAT_NO_APT_VSFTPD=1)"
elif installed vsftpd; then
    say "already installed: vsftpd ($(dpkg-query -W -f='${Version}' vsftpd))"
else
    other=$( (dpkg-query -W -f='${Package} ${db:Status-Status}\n' proftpd-core pure-ftpd 2>/dev/null || true) |
        awk '$2 == "installed" {print $1}' | xargs)
    if [ -n "$other" ]; then
        say "vsftpd via apt: skipped, $other is installed and apt would remove it (Conflicts: ftp-server)"
    else
        # Keep the package's service from starting during the install: Debian's
        # stock vsftpd.conf listens on port 21 of every interface.
        guard=
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
            guard=1
        fi
        say "apt-get install vsftpd (service start suppressed)"
        apt-get install -y -qq --no-install-recommends vsftpd >/dev/null || { [ -z "$guard" ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
        [ -z "$guard" ] || rm -f /usr/sbin/policy-rc.d
        if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
            systemctl disable --now vsftpd.service >/dev/null 2>&1 || true
            say "vsftpd.service disabled (ftps-compat starts its own instances)"
        fi
    fi
fi

# --- summary ----------------------------------------------------------------
say "done. Unpacked servers (Debian package versions):"
for s in "${servers[@]}" "${crates[@]}"; do
    say "  $s: $PKGROOT/$s  [$(tr '\n' ' ' <"$PKGROOT/$s/.ftps-compat-packages" | sed 's/ $//')]"
done
