//! Every quirk in servers/quirks.yaml is shown by a real server: some committed compat
//! snapshot (a real run, whose outcome header `cargo test --test compat` re-derives) names
//! it. The two quirks of vsftpd 3.0.4+ are shown by Debian 13's vsftpd 3.0.5
//! (servers/vsftpd-trixie).

use std::collections::BTreeSet;
use std::path::Path;

use ftps_compat::quirks::Catalog;

#[test]
fn every_quirk_is_shown_by_a_real_server() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog = Catalog::load(&here.join("../servers/quirks.yaml")).expect("catalog");
    let mut named = BTreeSet::new();
    for entry in std::fs::read_dir(here.join("tests/snapshots")).expect("snapshots") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("snapshot");
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("quirks: ")) else {
            continue;
        };
        for quirk in line.split(", ").filter(|q| *q != "-") {
            // `id (variant)`: the id is the first word.
            named.insert(quirk.split(' ').next().unwrap_or(quirk).to_string());
        }
    }
    for quirk in &catalog.quirks {
        assert!(
            named.contains(&quirk.id),
            "no committed snapshot shows quirk {}: add a scenario a server shows it in, \
             or fix its rules",
            quirk.id
        );
    }
    for id in &named {
        assert!(
            catalog.get(id).is_some(),
            "a snapshot names {id}, which is not in the catalog"
        );
    }
}
