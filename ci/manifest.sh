# ci/manifest.sh: read servers/<name>/manifest.yaml from shell (sourced by
# ci/setup-debian.sh and ci/build-images.sh). The manifests keep `package:`,
# `depends:` and `suite:` on one line each and the `cargo:` block one key per
# line (servers/README.md), so sed is enough and no YAML tool is needed yet.

# A top-level one-line list or scalar (`key: a` or `key: [a, b]`), as words.
manifest_list() { sed -n "s/^$2:[[:space:]]*//p" "$1" | sed 's/#.*//; s/[][,"]/ /g' | xargs; }
# The Debian packages of `package:`.
manifest_packages() { manifest_list "$1" package; }
# A key of the `cargo:` block (`crate`, `version`, `features`), as words.
manifest_cargo() {
    sed -n '/^cargo:/,/^[^[:space:]#]/p' "$1" | sed -n "s/^[[:space:]]\{1,\}$2:[[:space:]]*//p" |
        sed 's/#.*//; s/[][,"]/ /g' | xargs
}
# The Debian release (`suite:`, default bookworm).
manifest_suite() {
    local s
    s=$(manifest_list "$1" suite)
    echo "${s:-bookworm}"
}
