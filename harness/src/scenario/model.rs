//! The scenario file format: who the client is (its knobs), what it does (steps), and what
//! outcome a conformant server gives. Unknown keys are errors everywhere.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::client::DataKnobs;
use crate::client::data::{DataConnect, DataMode, DataTls, RestOrder};
use crate::client::tls::{TlsVersion, Verify};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub id: String,
    /// The real-world client behaviour this stands for.
    pub about: String,
    /// RFC section or bug report the behaviour comes from.
    pub reference: String,
    #[serde(default)]
    pub client: ClientSpec,
    pub steps: Vec<Step>,
    #[serde(default)]
    pub expect: Expect,
    /// Set by the loader: a scenario, or a client profile replayed as a row.
    #[serde(skip)]
    pub row: RowKind,
}

impl Scenario {
    /// A scenario made in code (probe checks, a run's own housekeeping), not read from a
    /// file: it expects every step to complete.
    pub fn built(id: impl Into<String>, client: ClientSpec, steps: Vec<Step>) -> Scenario {
        Scenario {
            id: id.into(),
            about: String::new(),
            reference: String::new(),
            client,
            steps,
            expect: Expect::Completed,
            row: RowKind::Behaviour,
        }
    }
}

/// What a row of the matrix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// A client behaviour (a file in scenarios/).
    #[default]
    Behaviour,
    /// A whole client's knobs (a file in scenarios/clients/, row `client-<id>`).
    Client,
}

/// How the client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Connect {
    /// Explicit if the endpoint has an explicit port, else implicit.
    #[default]
    Auto,
    /// Clear; any AUTH is a step.
    Plain,
    /// Clear, then `AUTH <client.auth>` right after the banner.
    Explicit,
    /// TLS from the first byte.
    Implicit,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientSpec {
    /// A client profile (`scenarios/clients/<id>.yaml`) whose knobs this spec starts from;
    /// every knob written next to it overrides the profile's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub connect: Connect,
    /// The AUTH mechanism sent for `connect: explicit`: TLS, SSL, TLS-C, TLS-P.
    pub auth: String,
    /// Mechanisms tried in order when the server refuses `auth` (no 234): curl's default
    /// is `auth: SSL` with `auth_fallback: [TLS]`.
    pub auth_fallback: Vec<String>,
    pub tls: TlsSpec,
    pub data: DataSpec,
    pub timeouts: TimeoutSpec,
    /// Longest reply line accepted, in bytes.
    pub max_line: usize,
    /// Largest multi-line reply accepted (`1MiB`): a server that never sends the last line
    /// is a protocol violation at this size, not unbounded memory.
    pub max_reply: Size,
}

impl Default for ClientSpec {
    fn default() -> Self {
        ClientSpec {
            profile: None,
            connect: Connect::Auto,
            auth: "TLS".into(),
            auth_fallback: Vec::new(),
            tls: TlsSpec::default(),
            data: DataSpec::default(),
            timeouts: TimeoutSpec::default(),
            max_line: 8192,
            max_reply: Size(1 << 20),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSpec {
    pub min: TlsVersion,
    pub max: TlsVersion,
    /// Resume the control channel's TLS session on data connections.
    pub resume: bool,
    pub verify: Verify,
    /// ALPN protocols offered; empty sends no ALPN extension.
    pub alpn: Vec<String>,
    /// Send SNI (only ever for a DNS name).
    pub sni: bool,
    /// Name to verify (and send as SNI); defaults to the endpoint's name.
    pub server_name: Option<String>,
    /// Present the run's client certificate.
    pub client_cert: bool,
}

impl Default for TlsSpec {
    fn default() -> Self {
        TlsSpec {
            min: TlsVersion::Tls12,
            max: TlsVersion::Tls13,
            resume: true,
            verify: Verify::Ca,
            alpn: Vec::new(),
            sni: true,
            server_name: None,
            client_cert: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSpec {
    pub mode: DataMode,
    pub connect: DataConnect,
    pub tls: DataTls,
    pub close_notify: bool,
    pub drain: bool,
    pub obey_pasv_address: bool,
    /// Where REST goes for `rest:` transfers: `before_command` (RFC 959) or `before_setup`.
    pub rest: RestOrder,
}

impl Default for DataSpec {
    fn default() -> Self {
        let knobs = DataKnobs::default();
        DataSpec {
            mode: knobs.mode,
            connect: knobs.connect,
            tls: knobs.tls,
            close_notify: knobs.close_notify,
            drain: knobs.drain,
            obey_pasv_address: knobs.obey_pasv_address,
            rest: RestOrder::BeforeCommand,
        }
    }
}

/// The client's data knobs; `rest` is the runner's business.
impl From<&DataSpec> for DataKnobs {
    fn from(spec: &DataSpec) -> Self {
        DataKnobs {
            mode: spec.mode,
            connect: spec.connect,
            tls: spec.tls,
            close_notify: spec.close_notify,
            drain: spec.drain,
            obey_pasv_address: spec.obey_pasv_address,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutSpec {
    pub connect: Dur,
    pub reply: Dur,
    pub data: Dur,
    /// The most one step may take, whatever the server sends: data that trickles in just
    /// fast enough to never trip `data` ends here.
    pub step: Dur,
}

impl Default for TimeoutSpec {
    fn default() -> Self {
        TimeoutSpec {
            connect: Dur(Duration::from_secs(5)),
            reply: Dur(Duration::from_secs(10)),
            data: Dur(Duration::from_secs(10)),
            step: Dur(Duration::from_secs(60)),
        }
    }
}

/// One thing the client does. Written `- login` or `- stor: {path: a.bin, size: 1MiB}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// USER + PASS with the endpoint's credentials.
    Login,
    /// USER + PASS with other credentials (wrong password, anonymous...).
    LoginAs(Credentials),
    /// `AUTH <mechanism>`, then the TLS handshake on a 234.
    Auth(String),
    Pbsz(Arg),
    /// `PROT <level>`, sent as written (`p`, `S`...).
    Prot(String),
    /// `CCC`; on a 2xx the client drops TLS from the control channel.
    Ccc,
    Type(String),
    /// Switches the data connection mode for the following transfers.
    DataMode(DataMode),
    /// Switches whether the client speaks TLS on following data connections.
    DataTls(DataTls),
    EpsvAll,
    List,
    Nlst,
    Mlsd,
    Stor(Upload),
    Appe(Upload),
    Retr(Download),
    Size(String),
    Dele(String),
    Mkd(String),
    Rmd(String),
    Cwd(String),
    Pwd,
    Feat,
    Syst,
    Noop,
    Quit,
    /// Any command; a 4xx/5xx reply fails the step.
    Raw(String),
    /// Any command; any reply is recorded and the scenario goes on.
    Probe(String),
    /// Commands written in one packet before reading the replies (one reply per command).
    Pipeline(Vec<String>),
}

impl Step {
    /// A short label for the transcript's step lines.
    pub fn label(&self) -> String {
        match self {
            Step::Login => "login".into(),
            Step::LoginAs(c) => format!("login as {}", c.user),
            Step::Auth(m) => format!("auth {m}"),
            Step::Pbsz(a) => format!("pbsz {a}"),
            Step::Prot(l) => format!("prot {l}"),
            Step::Ccc => "ccc".into(),
            Step::Type(t) => format!("type {t}"),
            Step::DataMode(m) => format!("data_mode {}", lower(m)),
            Step::DataTls(t) => format!("data_tls {}", lower(t)),
            Step::EpsvAll => "epsv_all".into(),
            Step::List => "list".into(),
            Step::Nlst => "nlst".into(),
            Step::Mlsd => "mlsd".into(),
            Step::Stor(u) => format!("stor {}", u.describe()),
            Step::Appe(u) => format!("appe {}", u.describe()),
            Step::Retr(d) => match d.rest {
                Some(rest) => format!("retr {} from {rest}", d.path),
                None => format!("retr {}", d.path),
            },
            Step::Size(p) => format!("size {p}"),
            Step::Dele(p) => format!("dele {p}"),
            Step::Mkd(p) => format!("mkd {p}"),
            Step::Rmd(p) => format!("rmd {p}"),
            Step::Cwd(p) => format!("cwd {p}"),
            Step::Pwd => "pwd".into(),
            Step::Feat => "feat".into(),
            Step::Syst => "syst".into(),
            Step::Noop => "noop".into(),
            Step::Quit => "quit".into(),
            Step::Raw(c) => format!("raw {c}"),
            Step::Probe(c) => format!("probe {c}"),
            Step::Pipeline(cs) => format!("pipeline {}", cs.join(" + ")),
        }
    }
}

fn lower(value: &impl fmt::Debug) -> String {
    format!("{value:?}").to_lowercase()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    pub path: String,
    pub size: Size,
    /// Payload seed: the same seed and size always give the same bytes.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Send `REST <n>` first and upload the payload from byte n.
    #[serde(default)]
    pub rest: Option<u64>,
}

impl Upload {
    fn describe(&self) -> String {
        match self.rest {
            Some(rest) => format!("{} ({} from {rest})", self.path, self.size),
            None => format!("{} ({})", self.path, self.size),
        }
    }
}

fn default_seed() -> u64 {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Download {
    pub path: String,
    #[serde(default)]
    pub rest: Option<u64>,
    /// Compare with what this scenario uploaded to that path (sha256).
    #[serde(default = "yes")]
    pub verify: bool,
}

fn yes() -> bool {
    true
}

/// A command argument written as a number or a string (`pbsz: 0`).
#[derive(Debug, Clone, Serialize)]
pub struct Arg(pub String);

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Arg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Arg;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Arg, E> {
                Ok(Arg(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Arg, E> {
                Ok(Arg(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Arg, E> {
                Ok(Arg(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A byte count: `1048576`, `64KiB`, `10MiB`, `1GiB`, `0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        for (unit, name) in UNITS {
            if self.0 >= unit && self.0.is_multiple_of(unit) {
                return write!(f, "{} {name}", self.0 / unit);
            }
        }
        write!(f, "{} bytes", self.0)
    }
}

impl Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Arg(text) = Arg::deserialize(d)?;
        parse_size(&text).map(Size).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid size {text:?}: expected bytes or a number with KiB, MiB or GiB"
            ))
        })
    }
}

fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let multiplier = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

/// A duration: `10s`, `500ms`, `2m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", self.0.as_millis()))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Arg(text) = Arg::deserialize(d)?;
        parse_duration(&text).map(Dur).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?}: expected a number with ms, s or m (e.g. 10s), \
                 at most 24 hours"
            ))
        })
    }
}

/// The longest duration a scenario may name.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.checked_mul(60)?),
        _ => return None,
    };
    // Longer waits are mistakes, and deadlines far out overflow the clock.
    (duration <= LONGEST_WAIT).then_some(duration)
}

/// The outcome a conformant server gives.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expect {
    /// Every step completes.
    #[default]
    Completed,
    /// Step `step` gets reply `code` (and its text contains `text`, if given).
    Reply {
        code: u16,
        #[serde(default)]
        step: Option<usize>,
        #[serde(default)]
        text: Option<String>,
    },
    Timeout {
        #[serde(default)]
        step: Option<usize>,
    },
    /// A TLS handshake or record fails.
    Tls {
        #[serde(default)]
        step: Option<usize>,
    },
    Closed {
        #[serde(default)]
        step: Option<usize>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("1MiB"), Some(1 << 20));
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("10MB"), None);
        assert_eq!(Size(1 << 20).to_string(), "1 MiB");
        assert_eq!(Size(1000).to_string(), "1000 bytes");
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("1440m"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1441m"), None);
        assert_eq!(parse_duration("9223372036854775808s"), None);
        assert_eq!(parse_duration("18446744073709551615s"), None);
    }
}
