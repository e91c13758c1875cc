//! Quirk profiles: everything that makes one emulated FileZilla differ from another is data,
//! loaded from `servers/filezilla-like/<id>.yaml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Loading or validating a profile failed.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// One emulated server configuration (a matrix column).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    id: String,
    version: String,
    about: String,
    pub(crate) dialect: Dialect,
    pub(crate) banner: Vec<String>,
    pub(crate) tls: TlsSettings,
    pub(crate) control: ControlSettings,
    pub(crate) data: DataSettings,
    timeouts: Timeouts,
    /// Every command the emulated server knows, with its pre-checks. Anything else is unknown.
    pub(crate) commands: BTreeMap<String, Vec<CommandFlag>>,
    pub(crate) feat: Vec<String>,
    pub(crate) replies: Replies,
}

/// Argument parsing details that differ between the two FileZilla code bases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    Fz09,
    Fz1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsSettings {
    pub versions: Vec<TlsVersion>,
    pub stateless_tickets: bool,
    pub tls13_tickets: usize,
    #[serde(default)]
    pub control_alpn: Vec<String>,
    #[serde(default)]
    pub filezilla_alpn: Option<FzAlpn>,
    #[serde(default)]
    pub new_ticket_per_data_command: bool,
}

/// FileZilla 1.x: negotiating `control` on the control connection turns PROT P on at login
/// and makes ALPN `data` mandatory on data connections.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FzAlpn {
    pub control: String,
    pub data: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ControlSettings {
    pub tls_required: bool,
    pub auth_types: Vec<String>,
    pub reject_pipelined_auth: bool,
    #[serde(default)]
    pub prelogin_5xx_limit: Option<u32>,
    #[serde(default)]
    pub illegal_commands: Option<IllegalCommands>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IllegalCommands {
    pub exact: Vec<String>,
    #[serde(default)]
    pub prefixes: Vec<String>,
    #[serde(default)]
    pub suffixes: Vec<String>,
    #[serde(default)]
    pub control_chars: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Prot {
    C,
    P,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProtC {
    Allowed,
    Refused,
}

/// Where a transfer without PROT P (on a TLS control connection) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Enforcement {
    Allowed,
    RefusedAtCommand,
    RefusedAfterPreliminary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PreliminaryTiming {
    /// Passive mode: the 150 waits for the client's data connection.
    AfterAccept,
    /// The 150 goes out as soon as the transfer command is accepted.
    OnCommand,
}

/// What happens when a passive data connection fails before its transfer command arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EarlyFailure {
    /// The failure reply is sent at once, unsolicited, and the data setup is gone.
    ReplyAtOnce,
    /// The data setup is silently dropped.
    Forget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EpsvAll {
    LikeEpsv,
    Restrict,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataSettings {
    pub implicit_default_prot: Prot,
    pub prot_c: ProtC,
    pub unprotected_transfer: Enforcement,
    pub session_resumption: Resumption,
    pub preliminary_timing: PreliminaryTiming,
    pub early_failure: EarlyFailure,
    pub epsv_all: EpsvAll,
    pub ascii_conversion: bool,
    pub appe_restart_offset: bool,
    pub check_data_ip: bool,
    /// The address PASV replies name (FileZilla 0.9 "Custom PASV IP"). Absent: the control
    /// connection's local address. The listener always stays on the local address.
    #[serde(default)]
    pub pasv_address: Option<PasvAddress>,
}

/// FileZilla Server 0.9's "Custom PASV IP" with its "No External IP On Local" switch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasvAddress {
    /// The IPv4 address named in 227 replies.
    pub ip: std::net::Ipv4Addr,
    /// "No External IP On Local": name the local address anyway when the peer is on a
    /// non-routable (loopback or private) network.
    pub no_external_ip_on_local: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Resumption {
    pub required: bool,
    pub must_match_control: bool,
}

/// The server's timers. Public so the harness can shorten them for a run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// No login within this time.
    pub login: Timeout,
    /// No command within this time (logged in).
    pub idle: Timeout,
    /// Transfer command accepted, but no data connection arrived.
    pub data_connect: Timeout,
    /// A data connection (TLS handshake or transfer) made no progress.
    pub transfer_idle: Timeout,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeout {
    pub secs: u64,
    /// Sent in order when the timer fires (`{path}` is the transfer's path).
    pub replies: Vec<String>,
    /// Close the control connection afterwards.
    pub close: bool,
}

impl Timeout {
    pub(crate) fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.secs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CommandFlag {
    /// Needs an argument (`missing_argument`).
    Arg,
    /// Needs a login (`not_logged_in`).
    Login,
    /// Must be the last thing the client sent (`auth_pipelined`, then close).
    Last,
    /// Needs a TLS control connection (`needs_security`).
    Tls,
    /// Needs PASV/EPSV/PORT/EPRT first (`no_data_connection`).
    Data,
    /// Known to FileZilla, not implemented by the emulator (`unimplemented`).
    Unimplemented,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Preliminary {
    pub list: String,
    pub retr: String,
    pub stor: String,
    #[serde(default)]
    pub list_connected: Option<String>,
    #[serde(default)]
    pub retr_connected: Option<String>,
    #[serde(default)]
    pub stor_connected: Option<String>,
    #[serde(default)]
    pub rest_suffix: Option<String>,
}

/// Reply texts. Placeholders in braces are filled in; everything else is literal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Replies {
    // login and general
    pub user_ok: String,
    #[serde(default)]
    pub user_needs_tls: Option<String>,
    #[serde(default)]
    pub user_when_logged_in: Option<String>,
    pub pass_ok: String,
    pub pass_bad: String,
    pub pass_without_user: String,
    pub pass_when_logged_in: String,
    pub not_logged_in: String,
    pub missing_argument: String,
    pub unknown_command: String,
    #[serde(default)]
    pub illegal_command: Option<String>,
    pub unimplemented: String,
    pub quit: String,
    // security
    pub auth_ok: String,
    pub auth_unsupported: String,
    pub auth_already: String,
    pub auth_pipelined: String,
    pub needs_security: String,
    pub pbsz_ok: String,
    #[serde(default)]
    pub pbsz_invalid: Option<String>,
    pub prot_ok: String,
    #[serde(default)]
    pub prot_c_refused: Option<String>,
    pub prot_unsupported: String,
    pub prot_unknown: String,
    pub adat: String,
    pub ccc: String,
    // simple commands
    pub syst: String,
    pub noop: String,
    pub type_ok: String,
    pub type_bad: String,
    pub pwd: String,
    pub cwd_ok: String,
    #[serde(default)]
    pub cwd_empty: Option<String>,
    pub cwd_fail: String,
    pub cdup_ok: String,
    pub cdup_fail: String,
    pub mkd_ok: String,
    pub mkd_exists: String,
    pub mkd_fail: String,
    pub rmd_ok: String,
    pub rmd_not_empty: String,
    pub rmd_fail: String,
    pub dele_ok: String,
    pub dele_fail: String,
    pub size_ok: String,
    pub size_fail: String,
    pub rest_ok: String,
    pub rest_bad: String,
    pub invalid_path: String,
    // data connection setup
    pub pasv_ok: String,
    pub epsv_ok: String,
    #[serde(default)]
    pub epsv_all: Option<String>,
    #[serde(default)]
    pub epsv_all_in_effect: Option<String>,
    #[serde(default)]
    pub epsv_bad_protocol: Option<String>,
    pub port_ok: String,
    pub port_bad: String,
    pub port_refused: String,
    pub eprt_ok: String,
    pub eprt_bad: String,
    pub eprt_bad_protocol: String,
    pub data_setup_failed: String,
    // transfers
    pub no_data_connection: String,
    #[serde(default)]
    pub no_data_connection_epsv_all: Option<String>,
    #[serde(default)]
    pub prot_p_required: Option<String>,
    #[serde(default)]
    pub prot_c_after_preliminary: Option<String>,
    pub preliminary: Preliminary,
    pub transfer_ok: String,
    pub list_not_found: String,
    pub retr_not_found: String,
    pub stor_fail: String,
    pub open_read_failed: String,
    pub open_write_failed: String,
    pub not_resumed: String,
    pub data_tls_failed: String,
    #[serde(default)]
    pub data_alpn_wrong: Option<String>,
    pub data_ip_mismatch: String,
    pub data_connect_failed: String,
    pub transfer_aborted: String,
}

impl Profile {
    /// Load one profile. Errors name `file:line:column`; unknown keys are errors.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Load every `*.yaml` in `dir`, sorted by id. Duplicate ids are an error.
    pub fn load_dir(dir: &Path) -> Result<Vec<Profile>, ProfileError> {
        let io = |source| ProfileError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut profiles = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "yaml") {
                profiles.push((Self::load(&path)?, path));
            }
        }
        profiles.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        for pair in profiles.windows(2) {
            if pair[0].0.id == pair[1].0.id {
                return Err(ProfileError::Invalid {
                    path: pair[1].1.clone(),
                    message: format!(
                        "duplicate profile id `{}` (also in {})",
                        pair[1].0.id,
                        pair[0].1.display()
                    ),
                });
            }
        }
        Ok(profiles.into_iter().map(|(p, _)| p).collect())
    }

    /// Parse profile text; `path` is only used in error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Profile, ProfileError> {
        let profile: Profile = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            ProfileError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: clean_message(&e.to_string(), line, column),
            }
        })?;
        profile
            .validate()
            .map_err(|message| ProfileError::Invalid {
                path: path.to_owned(),
                message,
            })?;
        Ok(profile)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn about(&self) -> &str {
        &self.about
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// Lets a harness shorten the server's timers (the profile keeps the real values).
    pub fn timeouts_mut(&mut self) -> &mut Timeouts {
        &mut self.timeouts
    }

    pub(crate) fn flags(&self, command: &str) -> Option<&[CommandFlag]> {
        self.commands.get(command).map(Vec::as_slice)
    }

    fn validate(&self) -> Result<(), String> {
        if self.id.is_empty() || self.version.is_empty() || self.about.trim().is_empty() {
            return Err("`id`, `version` and `about` must not be empty".into());
        }
        if self.tls.versions.is_empty() {
            return Err("`tls.versions` must name at least one version".into());
        }
        if self.banner.is_empty() {
            return Err("`banner` must have at least one line".into());
        }
        let last = self.banner.len() - 1;
        for (i, line) in self.banner.iter().enumerate() {
            check_reply("banner", line, i == last)?;
        }
        for (i, line) in self.feat.iter().enumerate() {
            if i == 0 || i == self.feat.len() - 1 {
                check_reply("feat", line, i != 0)?;
            }
        }
        for (name, _) in self.commands.iter() {
            if name.is_empty() || name.chars().any(|c| !c.is_ascii_uppercase()) {
                return Err(format!("command `{name}` must be upper-case letters"));
            }
        }
        for t in [
            &self.timeouts.login,
            &self.timeouts.idle,
            &self.timeouts.data_connect,
            &self.timeouts.transfer_idle,
        ] {
            for r in &t.replies {
                check_reply("timeouts", r, true)?;
            }
        }
        let r = &self.replies;
        let p = &r.preliminary;
        let required = [
            &r.user_ok,
            &r.pass_ok,
            &r.pass_bad,
            &r.pass_without_user,
            &r.pass_when_logged_in,
            &r.not_logged_in,
            &r.missing_argument,
            &r.unknown_command,
            &r.unimplemented,
            &r.quit,
            &r.auth_ok,
            &r.auth_unsupported,
            &r.auth_already,
            &r.auth_pipelined,
            &r.needs_security,
            &r.pbsz_ok,
            &r.prot_ok,
            &r.prot_unsupported,
            &r.prot_unknown,
            &r.adat,
            &r.ccc,
            &r.syst,
            &r.noop,
            &r.type_ok,
            &r.type_bad,
            &r.pwd,
            &r.cwd_ok,
            &r.cwd_fail,
            &r.cdup_ok,
            &r.cdup_fail,
            &r.mkd_ok,
            &r.mkd_exists,
            &r.mkd_fail,
            &r.rmd_ok,
            &r.rmd_not_empty,
            &r.rmd_fail,
            &r.dele_ok,
            &r.dele_fail,
            &r.size_ok,
            &r.size_fail,
            &r.rest_ok,
            &r.rest_bad,
            &r.invalid_path,
            &r.pasv_ok,
            &r.epsv_ok,
            &r.port_ok,
            &r.port_bad,
            &r.port_refused,
            &r.eprt_ok,
            &r.eprt_bad,
            &r.eprt_bad_protocol,
            &r.data_setup_failed,
            &r.no_data_connection,
            &p.list,
            &p.retr,
            &p.stor,
            &r.transfer_ok,
            &r.list_not_found,
            &r.retr_not_found,
            &r.stor_fail,
            &r.open_read_failed,
            &r.open_write_failed,
            &r.not_resumed,
            &r.data_tls_failed,
            &r.data_ip_mismatch,
            &r.data_connect_failed,
            &r.transfer_aborted,
        ];
        let optional = [
            &r.user_needs_tls,
            &r.user_when_logged_in,
            &r.illegal_command,
            &r.pbsz_invalid,
            &r.prot_c_refused,
            &r.cwd_empty,
            &r.epsv_all,
            &r.epsv_all_in_effect,
            &r.epsv_bad_protocol,
            &r.no_data_connection_epsv_all,
            &r.prot_p_required,
            &r.prot_c_after_preliminary,
            &r.data_alpn_wrong,
            &p.list_connected,
            &p.retr_connected,
            &p.stor_connected,
        ];
        for reply in required.into_iter().chain(optional.into_iter().flatten()) {
            check_reply("replies", reply, true)?;
        }
        // Knobs that need a text.
        if self.control.tls_required && r.user_needs_tls.is_none() {
            return Err("`control.tls_required` needs `replies.user_needs_tls`".into());
        }
        if self.data.prot_c == ProtC::Refused && r.prot_c_refused.is_none() {
            return Err("`data.prot_c: refused` needs `replies.prot_c_refused`".into());
        }
        match self.data.unprotected_transfer {
            Enforcement::RefusedAtCommand if r.prot_p_required.is_none() => {
                return Err("`refused_at_command` needs `replies.prot_p_required`".into());
            }
            Enforcement::RefusedAfterPreliminary if r.prot_c_after_preliminary.is_none() => {
                return Err(
                    "`refused_after_preliminary` needs `replies.prot_c_after_preliminary`".into(),
                );
            }
            _ => {}
        }
        if self.data.epsv_all == EpsvAll::Restrict
            && (r.epsv_all.is_none() || r.epsv_all_in_effect.is_none())
        {
            return Err("`epsv_all: restrict` needs `epsv_all` and `epsv_all_in_effect`".into());
        }
        if self.control.illegal_commands.is_some() && r.illegal_command.is_none() {
            return Err("`control.illegal_commands` needs `replies.illegal_command`".into());
        }
        if self.tls.filezilla_alpn.is_some() && r.data_alpn_wrong.is_none() {
            return Err("`tls.filezilla_alpn` needs `replies.data_alpn_wrong`".into());
        }
        for needed in ["USER", "PASS", "AUTH", "QUIT"] {
            if !self.commands.contains_key(needed) {
                return Err(format!("`commands` must list {needed}"));
            }
        }
        Ok(())
    }
}

/// A reply line must start with a 3-digit code and a space (or `-` when more lines follow).
fn check_reply(what: &str, text: &str, last: bool) -> Result<(), String> {
    let b = text.as_bytes();
    let ok = b.len() >= 4
        && (b'1'..=b'5').contains(&b[0])
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && (b[3] == b' ' || (!last && b[3] == b'-'))
        && !text.contains(['\r', '\n']);
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: `{text}` is not a valid reply line"))
    }
}

/// serde-saphyr's first line, without the `error: line L column C:` it starts with
/// (our error type prints the location itself).
fn clean_message(s: &str, line: u64, column: u64) -> String {
    let first = s.lines().next().unwrap_or_default().trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let location = format!("line {line} column {column}: ");
    first.strip_prefix(&location).unwrap_or(first).to_owned()
}

/// Fill `{name}` placeholders. Unknown names stay as they are.
pub(crate) fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match vars.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiles_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../servers/filezilla-like")
    }

    #[test]
    fn shipped_profiles_load_sorted() {
        let profiles = Profile::load_dir(&profiles_dir()).expect("profiles load");
        let ids: Vec<_> = profiles.iter().map(|p| p.id()).collect();
        assert_eq!(
            ids,
            [
                "fz-0.9",
                "fz-0.9-custom-pasv-ip",
                "fz-0.9-noforce",
                "fz-0.9.33",
                "fz-1.x"
            ]
        );
        for p in &profiles {
            assert!(!p.about().is_empty());
        }
        let v: Vec<_> = profiles.iter().map(|p| p.version()).collect();
        assert_eq!(v, ["0.9.60", "0.9.60", "0.9.60", "0.9.33", "1.9.4"]);
    }

    #[test]
    fn unknown_key_is_rejected_with_line_and_column() {
        let good = std::fs::read_to_string(profiles_dir().join("fz-0.9.yaml")).unwrap();
        // An unknown key nested in `data`, on a known line.
        let bad = good.replacen("data:\n", "data:\n  force_everything: true\n", 1);
        let line = bad
            .lines()
            .position(|l| l.contains("force_everything"))
            .unwrap() as u64
            + 1;
        let err = Profile::parse(Path::new("x/fz-bad.yaml"), &bad).unwrap_err();
        match &err {
            ProfileError::Parse {
                line: l,
                column,
                message,
                ..
            } => {
                assert_eq!(*l, line, "{err}");
                assert_eq!(*column, 3, "{err}");
                assert!(message.contains("force_everything"), "{err}");
            }
            other => panic!("expected a parse error, got {other}"),
        }
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("x/fz-bad.yaml:{line}:3: ")),
            "{shown}"
        );
    }

    #[test]
    fn wrong_type_names_location() {
        let good = std::fs::read_to_string(profiles_dir().join("fz-1.x.yaml")).unwrap();
        let bad = good.replacen("tls13_tickets: ", "tls13_tickets: many # ", 1);
        let err = Profile::parse(Path::new("p.yaml"), &bad).unwrap_err();
        assert!(
            matches!(err, ProfileError::Parse { line, .. } if line > 0),
            "{err}"
        );
    }

    #[test]
    fn bad_reply_text_is_invalid() {
        let good = std::fs::read_to_string(profiles_dir().join("fz-0.9.yaml")).unwrap();
        let bad = good.replacen("syst: \"215 ", "syst: \"2x5 ", 1);
        let err = Profile::parse(Path::new("p.yaml"), &bad).unwrap_err();
        assert!(matches!(err, ProfileError::Invalid { .. }), "{err}");
    }

    #[test]
    fn render_fills_known_placeholders_only() {
        assert_eq!(
            render("226 \"{path}\" {x} {", &[("path", "/a")]),
            "226 \"/a\" {x} {"
        );
    }
}
