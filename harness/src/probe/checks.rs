//! The probe's questions, each asked by a small scenario of its own. Every scenario only
//! logs in, lists, and sends harmless commands: nothing on the server changes.

use std::time::Duration;

use serde::Serialize;

use crate::client::data::{DataMode, DataTls};
use crate::client::tls::{TlsVersion, Verify};
use crate::runner::ConnectMode;
use crate::scenario::{Arg, ClientSpec, Connect, Download, Dur, Scenario, Size, Step, Upload};

/// What the probe asks. Each is answered yes, no or unknown, with the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Question {
    Reached,
    CertificateVerifies,
    LoginWorks,
    Tls12Accepted,
    Tls13Accepted,
    AuthTls,
    AuthSsl,
    AuthTlsC,
    AuthTlsP,
    ProtPRequired,
    ClearDataAllowed,
    ProtectedByDefault,
    ReuseRequiredTls12,
    ReuseRequiredTls13,
    LaterDataConnectionsWork,
    Pasv,
    Epsv,
    EpsvAll,
    Port,
    Eprt,
    PasvNamesOtherHost,
    Ccc,
    Rest,
    UploadWorks,
    UploadNeedsCloseNotify,
    AsciiByDefault,
    WriteFolderRemoved,
    DownloadWorks,
}

impl Question {
    pub fn text(self) -> &'static str {
        match self {
            Question::Reached => "Does the server answer FTPS at this URL?",
            Question::CertificateVerifies => "Does the certificate verify?",
            Question::LoginWorks => "Does the login work over TLS?",
            Question::Tls12Accepted => "Is TLS 1.2 accepted?",
            Question::Tls13Accepted => "Is TLS 1.3 accepted?",
            Question::AuthTls => "Is AUTH TLS accepted?",
            Question::AuthSsl => "Is AUTH SSL accepted?",
            Question::AuthTlsC => "Is AUTH TLS-C accepted?",
            Question::AuthTlsP => "Is AUTH TLS-P accepted?",
            Question::ProtPRequired => "Are PBSZ and PROT P required?",
            Question::ClearDataAllowed => "Is clear data allowed after PROT C?",
            Question::ProtectedByDefault => "Is data protected without PROT (implicit)?",
            Question::ReuseRequiredTls12 => "Is TLS session reuse required on TLS 1.2?",
            Question::ReuseRequiredTls13 => "Is TLS session reuse required on TLS 1.3?",
            Question::LaterDataConnectionsWork => {
                "Do later data connections keep working (6 in a row)?"
            }
            Question::Pasv => "Does PASV work?",
            Question::Epsv => "Does EPSV work?",
            Question::EpsvAll => "Does EPSV ALL work?",
            Question::Port => "Does PORT (active) work?",
            Question::Eprt => "Does EPRT (active) work?",
            Question::PasvNamesOtherHost => "Does PASV name another address than the server's?",
            Question::Ccc => "Is CCC accepted?",
            Question::Rest => "Is REST accepted?",
            Question::UploadWorks => "Does an upload work (and read back the same)?",
            Question::UploadNeedsCloseNotify => "Must an upload end with TLS close_notify?",
            Question::AsciiByDefault => {
                "Does a session start in ASCII mode (bytes changed without TYPE I)?"
            }
            Question::WriteFolderRemoved => "Was the probe's upload folder removed?",
            Question::DownloadWorks => "Does a download of the --read file work?",
        }
    }
}

/// The knobs every probe scenario shares.
#[derive(Debug, Clone, Copy)]
pub struct Base {
    pub mode: ConnectMode,
    pub verify: Verify,
    /// Reply and data timeout of each check.
    pub wait: Duration,
}

impl Base {
    fn client(&self) -> ClientSpec {
        let mut client = ClientSpec {
            connect: match self.mode {
                ConnectMode::Implicit => Connect::Implicit,
                ConnectMode::Explicit => Connect::Explicit,
                ConnectMode::Plain => Connect::Plain,
            },
            ..ClientSpec::default()
        };
        client.tls.verify = self.verify;
        client.timeouts.connect = Dur(self.wait);
        client.timeouts.reply = Dur(self.wait);
        client.timeouts.data = Dur(self.wait);
        client.timeouts.step = Dur(self.wait * 2);
        client
    }

    fn scenario(&self, id: &str, client: ClientSpec, steps: Vec<Step>) -> Scenario {
        Scenario::built(format!("probe-{id}"), client, steps)
    }

    /// Login, protection as most clients set it, binary type.
    fn protected_login(&self) -> Vec<Step> {
        vec![
            Step::Login,
            Step::Pbsz(Arg("0".into())),
            Step::Prot("P".into()),
            Step::Type("I".into()),
        ]
    }

    /// Connect and log in; nothing else.
    pub fn login(&self) -> Scenario {
        self.scenario("login", self.client(), vec![Step::Login, Step::Noop])
    }

    /// Banner, SYST and FEAT, before AUTH (explicit) and after the login.
    pub fn identity(&self) -> Scenario {
        let mut client = self.client();
        let mut steps = Vec::new();
        if self.mode == ConnectMode::Explicit {
            client.connect = Connect::Plain;
            steps.push(Step::Probe("FEAT".into()));
            steps.push(Step::Auth("TLS".into()));
        }
        steps.extend([
            Step::Login,
            Step::Probe("SYST".into()),
            Step::Probe("FEAT".into()),
        ]);
        self.scenario("identity", client, steps)
    }

    /// A protected listing with one TLS version only.
    pub fn tls_version(&self, version: TlsVersion) -> Scenario {
        let mut client = self.client();
        client.tls.min = version;
        client.tls.max = version;
        let mut steps = self.protected_login();
        steps.push(Step::List);
        self.scenario("tls-version", client, steps)
    }

    /// `AUTH <mechanism>` and its handshake, on a clear connection (explicit only).
    pub fn auth(&self, mechanism: &str) -> Scenario {
        let mut client = self.client();
        client.connect = Connect::Plain;
        self.scenario(
            "auth",
            client,
            vec![Step::Auth(mechanism.into()), Step::Login],
        )
    }

    /// A listing with neither PBSZ nor PROT; the client's data TLS as `data_tls`.
    pub fn no_prot(&self, data_tls: DataTls) -> Scenario {
        let mut client = self.client();
        client.data.tls = data_tls;
        self.scenario(
            "no-prot",
            client,
            vec![Step::Login, Step::Type("I".into()), Step::List],
        )
    }

    /// `PROT C`, then a clear listing.
    pub fn prot_c(&self) -> Scenario {
        let mut client = self.client();
        client.data.tls = DataTls::Off;
        self.scenario(
            "prot-c",
            client,
            vec![
                Step::Login,
                Step::Pbsz(Arg("0".into())),
                Step::Prot("C".into()),
                Step::Type("I".into()),
                Step::List,
            ],
        )
    }

    /// Protected listings whose data connections never resume the control session.
    pub fn no_reuse(&self, version: TlsVersion) -> Scenario {
        let mut client = self.client();
        client.tls.min = version;
        client.tls.max = version;
        client.tls.resume = false;
        let mut steps = self.protected_login();
        steps.push(Step::List);
        self.scenario("no-reuse", client, steps)
    }

    /// Six protected listings in a row, resuming the session each time.
    pub fn sequence(&self) -> Scenario {
        let mut steps = self.protected_login();
        steps.extend(std::iter::repeat_n(Step::List, 6));
        self.scenario("sequence", self.client(), steps)
    }

    /// A protected listing over one data-connection mode.
    pub fn data_mode(&self, mode: DataMode) -> Scenario {
        let mut steps = self.protected_login();
        steps.push(Step::DataMode(mode));
        steps.push(Step::List);
        self.scenario("data-mode", self.client(), steps)
    }

    /// `EPSV ALL`, then a protected listing over EPSV.
    pub fn epsv_all(&self) -> Scenario {
        let mut steps = self.protected_login();
        steps.push(Step::DataMode(DataMode::Epsv));
        steps.push(Step::EpsvAll);
        steps.push(Step::List);
        self.scenario("epsv-all", self.client(), steps)
    }

    /// `CCC` after protection is set, then a command in the clear.
    pub fn ccc(&self) -> Scenario {
        let mut steps = self.protected_login();
        steps.push(Step::Ccc);
        steps.push(Step::Noop);
        self.scenario("ccc", self.client(), steps)
    }

    /// `REST 0`, then `REST` is taken back by a harmless command.
    pub fn rest(&self) -> Scenario {
        let mut steps = self.protected_login();
        steps.push(Step::Raw("REST 0".into()));
        self.scenario("rest", self.client(), steps)
    }

    /// A protected upload into `folder`, ending with or without close_notify, then its
    /// download, checked against what was sent.
    pub fn upload(&self, folder: &str, file: &str, close_notify: bool) -> Scenario {
        let mut client = self.client();
        client.data.close_notify = close_notify;
        let mut steps = self.protected_login();
        steps.push(Step::Cwd(folder.into()));
        steps.push(Step::Stor(Upload {
            path: file.into(),
            size: Size(256 << 10),
            seed: 7,
            rest: None,
        }));
        steps.push(Step::Retr(Download {
            path: file.into(),
            rest: None,
            verify: true,
        }));
        self.scenario("upload", client, steps)
    }

    /// The same upload and download without TYPE I: the session's default type.
    pub fn default_type(&self, folder: &str, file: &str) -> Scenario {
        let steps = vec![
            Step::Login,
            Step::Pbsz(Arg("0".into())),
            Step::Prot("P".into()),
            Step::Cwd(folder.into()),
            Step::Stor(Upload {
                path: file.into(),
                size: Size(64 << 10),
                seed: 8,
                rest: None,
            }),
            Step::Retr(Download {
                path: file.into(),
                rest: None,
                verify: true,
            }),
        ];
        self.scenario("default-type", self.client(), steps)
    }

    /// A protected binary download of a file the user named.
    pub fn read(&self, path: &str) -> Scenario {
        let mut steps = self.protected_login();
        steps.push(Step::Retr(Download {
            path: path.into(),
            rest: None,
            verify: false,
        }));
        self.scenario("read", self.client(), steps)
    }
}
