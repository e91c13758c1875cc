#!/usr/bin/env bash
# Transfer speed and memory of ftps-compat's client against curl, side by side, on one
# local vsftpd (explicit-strict, TLS 1.3, session reuse). Prints the ratios.
# Usage: bench/transfer-vs-curl.sh [SIZE_MIB]   (root, after ci/setup-debian.sh; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-256}
bin=target/release/ftps-compat
[ -x "$bin" ] || cargo build --release -q -p ftps-compat
work=$(mktemp -d)
serve_pid=
cleanup() { [ -n "$serve_pid" ] && kill -INT "$serve_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin" serve vsftpd --profile explicit-strict >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 50); do grep -q 'url:' "$work/serve.log" && break; sleep 0.2; done
url=$(sed -n 's/^  url: *//p' "$work/serve.log")
ca=$(sed -n 's/^  CA: *//p' "$work/serve.log")
[ -n "$url" ] || { cat "$work/serve.log"; exit 1; }

cat >"$work/bench.yaml" <<YAML
id: bench
about: upload then download and verify ${size_mib} MiB
reference: bench/transfer-vs-curl.sh
steps:
  - login
  - pbsz: 0
  - prot: P
  - type: I
  - stor: { path: bench.bin, size: ${size_mib}MiB, seed: 9 }
  - retr: { path: bench.bin }
YAML
measure() { /usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null; cat "$work/t"; }
read -r ours_s ours_kib < <(measure "$bin" run --target "${url%/}" --ca "$ca" --scenario "$work/bench.yaml")
head -c $((size_mib << 20)) /dev/urandom >"$work/payload"
read -r up_s up_kib < <(measure curl -sS --ssl-reqd --cacert "$ca" -T "$work/payload" "${url}c.bin")
read -r down_s down_kib < <(measure curl -sS --ssl-reqd --cacert "$ca" -o /dev/null "${url}c.bin")
curl_s=$(echo "$up_s + $down_s" | bc)
curl_kib=$(( up_kib > down_kib ? up_kib : down_kib ))
printf 'size %d MiB, upload + download\n' "$size_mib"
printf 'ftps-compat: %6.2f s  max RSS %6d KiB (includes sha256 verification)\n' "$ours_s" "$ours_kib"
printf 'curl:        %6.2f s  max RSS %6d KiB\n' "$curl_s" "$curl_kib"
printf 'ratio ftps-compat/curl: time %.2f, memory %.2f\n' \
    "$(echo "$ours_s / $curl_s" | bc -l)" "$(echo "$ours_kib / $curl_kib" | bc -l)"
