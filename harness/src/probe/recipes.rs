//! What each popular client must be told to work with the probed server. The option names
//! are the clients' own (each client's documentation and source); which ones a server
//! needs comes from the probe's findings. Secrets stay out: the password is read from
//! the `FTP_PASSWORD` environment variable.

use serde::Serialize;

use super::{ProbeReport, Question, Verdict};
use crate::runner::ConnectMode;

/// How far a client gets with the settings shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Support {
    /// Its own options suffice.
    Settings,
    /// It needs code of the caller's (a subclass, a handler).
    Code,
    /// It cannot work with this server.
    No,
}

impl Support {
    /// `works with these settings`, as the text and HTML reports head a recipe.
    pub fn meaning(self) -> &'static str {
        match self {
            Support::Settings => "works with these settings",
            Support::Code => "works with this code of yours",
            Support::No => "cannot work with this server",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Recipe {
    pub client: &'static str,
    pub support: Support,
    /// A command, a settings block, or code: ready to paste.
    pub text: String,
    /// Why each setting is there, and what to watch for.
    pub notes: Vec<String>,
}

/// How a recipe makes its client trust the server's certificate.
enum Trusted {
    /// The system's roots verify it: nothing to say.
    System,
    /// The CA file the probe was given verifies it.
    CaFile(String),
    /// It did not verify: the user must find its CA (shown as `CA.pem`).
    Unverified,
}

impl Trusted {
    /// The CA file to name, if any.
    fn ca(&self) -> Option<&str> {
        match self {
            Trusted::System => None,
            Trusted::CaFile(path) => Some(path),
            Trusted::Unverified => Some("CA.pem"),
        }
    }
}

/// The server's needs, read off the findings once for every recipe.
struct Needs {
    mode: ConnectMode,
    host: String,
    port: u16,
    user: String,
    /// How the client comes to trust the certificate.
    trust: Trusted,
    /// Data connections must resume the control session.
    reuse: bool,
    /// Hold TLS to 1.2: the server accepts 1.3, but later data connections fail on it.
    tls12_only: bool,
    /// The server accepts TLS 1.3 and requires reuse on it: clients that cannot resume
    /// TLS 1.3 sessions must stay on 1.2.
    reuse_on_tls13: bool,
    /// PASV fails but EPSV works.
    epsv_only: bool,
    /// PASV names another address than the server's.
    pasv_elsewhere: bool,
    /// The certificate's SHA-256 fingerprint, for clients that pin it.
    fingerprint: Option<String>,
    /// Uploads must end with close_notify: yes, no, or not probed (None).
    close_notify: Option<bool>,
    tls13: bool,
    /// EPSV fails but PASV works.
    pasv_only: bool,
}

impl Needs {
    fn of(report: &ProbeReport, user: &str, host: &str, ca: Option<&str>) -> Option<Needs> {
        let reached = report.reached.as_ref()?;
        let yes = |q| report.verdict(q) == Verdict::Yes;
        let no = |q| report.verdict(q) == Verdict::No;
        let reuse = yes(Question::ReuseRequiredTls12) || yes(Question::ReuseRequiredTls13);
        let tls13_trouble = yes(Question::Tls13Accepted) && no(Question::LaterDataConnectionsWork);
        Some(Needs {
            mode: reached.mode,
            host: host.to_string(),
            port: reached.port,
            user: user.to_string(),
            trust: match (no(Question::CertificateVerifies), ca) {
                (true, _) => Trusted::Unverified,
                (false, Some(path)) => Trusted::CaFile(path.to_string()),
                (false, None) => Trusted::System,
            },
            reuse,
            tls12_only: yes(Question::Tls12Accepted) && tls13_trouble,
            reuse_on_tls13: yes(Question::ReuseRequiredTls13),
            epsv_only: no(Question::Pasv) && yes(Question::Epsv),
            pasv_elsewhere: yes(Question::PasvNamesOtherHost),
            fingerprint: report.certificate.as_ref().map(|c| c.sha256.clone()),
            close_notify: match report.verdict(Question::UploadNeedsCloseNotify) {
                Verdict::Yes => Some(true),
                Verdict::No => Some(false),
                Verdict::Unknown => None,
            },
            tls13: yes(Question::Tls13Accepted),
            pasv_only: no(Question::Epsv) && yes(Question::Pasv),
        })
    }

    fn implicit(&self) -> bool {
        self.mode == ConnectMode::Implicit
    }
}

/// One recipe per client, in the order the README lists them; empty when the server
/// was not reached.
/// `ca` is the CA file the probe was given.
pub fn all(report: &ProbeReport, user: &str, host: &str, ca: Option<&str>) -> Vec<Recipe> {
    let Some(needs) = Needs::of(report, user, host, ca) else {
        return Vec::new();
    };
    vec![
        curl(&needs),
        lftp(&needs),
        ftplib(&needs),
        fluentftp(&needs),
        commons_net(&needs),
        jlaffaye(&needs),
        winscp(&needs),
    ]
}

fn curl(n: &Needs) -> Recipe {
    let mut options = Vec::new();
    let mut notes = Vec::new();
    let url = if n.implicit() {
        notes.push("ftps:// is implicit FTPS in curl; it sends PBSZ 0 and PROT P itself".into());
        format!("ftps://{}:{}/", n.host, n.port)
    } else {
        options.push("--ssl-reqd".to_string());
        notes.push(
            "curl has no ftpes://: ftp:// with --ssl-reqd is explicit FTPS; it sends PBSZ 0 \
             and PROT P itself"
                .into(),
        );
        format!("ftp://{}:{}/", n.host, n.port)
    };
    if let Some(ca) = n.trust.ca() {
        options.push(format!("--cacert {ca}"));
    }
    if let Trusted::Unverified = n.trust {
        notes.push(
            "the certificate did not verify: name its CA with --cacert (or -k to skip \
             verification; curl 8.21.0 with -k does not resume sessions)"
                .into(),
        );
    }
    // curl before 8.11 can close a TLS 1.3 upload before its close_notify is read (the
    // server's session tickets are still unread): a server that needs it then says 426.
    let upload_on_tls12 = n.tls13 && n.close_notify == Some(true);
    if n.tls12_only || upload_on_tls12 {
        options.push("--tls-max 1.2".into());
    }
    if n.tls12_only {
        notes.push("TLS 1.3 fails on this server's data connections: hold curl to 1.2".into());
    }
    if upload_on_tls12 {
        notes.push(
            "uploads must end with close_notify here, and curl before 8.11 does not always \
             deliver it on TLS 1.3 (the upload ends in 426): hold it to 1.2, or use curl 8.11 \
             or later"
                .into(),
        );
    }
    if n.tls13 && n.close_notify.is_none() {
        notes.push(
            "uploads were not probed (--write-dir): if they end in 426 with curl before 8.11, \
             add --tls-max 1.2"
                .into(),
        );
    }
    if n.pasv_only {
        options.push("--disable-epsv".into());
        notes.push("EPSV fails here; curl tries EPSV first".into());
    }
    if n.reuse {
        notes.push(
            "the server requires TLS session reuse: curl resumes by default; do not pass \
             --no-sessionid"
                .into(),
        );
    }
    if n.pasv_elsewhere {
        notes.push(
            "PASV names another address: curl 7.74 and later ignore it (--ftp-skip-pasv-ip, \
             the default); do not pass --no-ftp-skip-pasv-ip"
                .into(),
        );
    }
    let base = format!("curl {} -u \"{}:$FTP_PASSWORD\"", options.join(" "), n.user);
    let text = [
        format!("{base} {url}"),
        format!("{base} -T local.bin {url}remote.bin"),
        format!("{base} -o copy.bin {url}remote.bin"),
    ]
    .join("\n");
    Recipe {
        client: "curl",
        support: Support::Settings,
        text,
        notes,
    }
}

fn lftp(n: &Needs) -> Recipe {
    let mut settings = vec!["set ftp:ssl-force yes".to_string()];
    let mut notes = vec![
        "lftp sends PBSZ 0 and PROT P after the login, and resumes sessions on data \
         connections (ftp:ssl-copy-sid, on by default)"
            .to_string(),
    ];
    if let Some(ca) = n.trust.ca() {
        settings.push(format!("set ssl:ca-file {ca}"));
    }
    if let Trusted::Unverified = n.trust {
        notes.push(
            "the certificate did not verify: name its CA (or set ssl:verify-certificate no)".into(),
        );
    }
    if n.tls12_only {
        settings.push("set ssl:priority \"NORMAL:-VERS-TLS1.3\"".into());
        notes.push(
            "TLS 1.3 fails here: a GnuTLS build drops it with ssl:priority; an OpenSSL build \
             of lftp cannot"
                .into(),
        );
    }
    if n.epsv_only {
        settings.push("set ftp:prefer-epsv yes".into());
        notes.push("PASV fails here; lftp uses PASV unless told to prefer EPSV".into());
    }
    if n.pasv_elsewhere {
        settings.push("set ftp:ignore-pasv-address yes".into());
        notes.push("PASV names another address: connect to the server's own instead".into());
    }
    let scheme = if n.implicit() { "ftps" } else { "ftp" };
    settings.push(format!(
        "open -u {} --env-password {scheme}://{}:{}",
        n.user, n.host, n.port
    ));
    notes.push(
        "lftp scripts expand no variables: --env-password reads $LFTP_PASSWORD, so run \
         LFTP_PASSWORD=\"$FTP_PASSWORD\" lftp -f this-file"
            .into(),
    );
    settings.push("put local.bin -o remote.bin".into());
    settings.push("get remote.bin -o copy.bin".into());
    Recipe {
        client: "lftp",
        support: Support::Settings,
        text: settings.join("\n"),
        notes,
    }
}

/// Python's ftplib, with the subclasses a server may need (our own words).
fn ftplib(n: &Needs) -> Recipe {
    let mut code = vec!["import ftplib, os, socket, ssl".to_string(), String::new()];
    let mut notes = vec![
        "ftplib protects the data connection only after prot_p() (PBSZ 0, PROT P)".to_string(),
    ];
    let mut bases = vec!["ftplib.FTP_TLS"];
    if n.reuse {
        code.extend(
            [
                "class ReusingFTP_TLS(ftplib.FTP_TLS):",
                "    \"\"\"Each data connection resumes the control connection's TLS session.\"\"\"",
                "",
                "    def ntransfercmd(self, cmd, rest=None):",
                "        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)",
                "        if self._prot_p:",
                "            conn = self.context.wrap_socket(",
                "                conn, server_hostname=self.host, session=self.sock.session)",
                "        return conn, size",
                "",
            ]
            .map(String::from),
        );
        bases = vec!["ReusingFTP_TLS"];
        notes.push(
            "the server requires TLS session reuse, which stock ftplib does not do: the \
             subclass hands the control session to each data connection"
                .into(),
        );
    }
    if n.implicit() {
        code.extend(
            [
                &format!("class ImplicitFTP_TLS({}):", bases[0]) as &str,
                "    \"\"\"TLS from the first byte: wrap the socket before the banner.\"\"\"",
                "",
                "    def connect(self, host, port, timeout=30):",
                "        self.host, self.port, self.timeout = host, port, timeout",
                "        raw = socket.create_connection((host, port), timeout)",
                "        self.af = raw.family",
                "        self.sock = self.context.wrap_socket(raw, server_hostname=host)",
                "        self.file = self.sock.makefile(\"r\", encoding=self.encoding)",
                "        self.welcome = self.getresp()",
                "        return self.welcome",
                "",
            ]
            .map(String::from),
        );
        bases = vec!["ImplicitFTP_TLS"];
        notes.push(
            "the standard library has no implicit FTPS: the subclass starts TLS before the \
             banner, and login() then sends no AUTH"
                .into(),
        );
    }
    match n.trust.ca() {
        Some(ca) => code.push(format!(
            "context = ssl.create_default_context(cafile={ca:?})"
        )),
        None => code.push("context = ssl.create_default_context()".into()),
    }
    if let Trusted::Unverified = n.trust {
        notes.push("the certificate did not verify: name its CA in the context".into());
    }
    notes.push("FTP_TLS without a context verifies nothing: pass one, as here".into());
    if n.tls12_only {
        code.push(
            "context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2".into(),
        );
        notes.push("TLS 1.3 fails on this server's data connections: hold it to 1.2".into());
    }
    if n.epsv_only {
        notes.push(
            "PASV fails here, and ftplib on IPv4 only speaks PASV: connect over IPv6 (EPSV), \
             or use another client"
                .into(),
        );
    }
    code.extend([
        format!("ftp = {}(context=context)", bases[0]),
        format!("ftp.connect({:?}, {}, timeout=30)", n.host, n.port),
        format!("ftp.login({:?}, os.environ[\"FTP_PASSWORD\"])", n.user),
        "ftp.prot_p()".into(),
        "with open(\"local.bin\", \"rb\") as f:".into(),
        "    ftp.storbinary(\"STOR remote.bin\", f)".into(),
        "with open(\"copy.bin\", \"wb\") as f:".into(),
        "    ftp.retrbinary(\"RETR remote.bin\", f.write)".into(),
        "ftp.quit()".into(),
    ]);
    Recipe {
        client: "Python ftplib",
        support: if n.epsv_only {
            Support::No
        } else if n.reuse || n.implicit() {
            Support::Code
        } else {
            Support::Settings
        },
        text: code.join("\n"),
        notes,
    }
}

fn fluentftp(n: &Needs) -> Recipe {
    let mode = if n.implicit() { "Implicit" } else { "Explicit" };
    let mut lines = vec![
        format!(
            "var client = new FtpClient(\"{}\", \"{}\", Environment.GetEnvironmentVariable(\"FTP_PASSWORD\"), {});",
            n.host, n.user, n.port
        ),
        format!("client.Config.EncryptionMode = FtpEncryptionMode.{mode};"),
        "client.Config.DataConnectionEncryption = true;".into(),
    ];
    let mut notes = vec!["FluentFTP sends PBSZ 0 and PROT P itself after the login".to_string()];
    if n.tls12_only || n.reuse_on_tls13 {
        lines.push("client.Config.SslProtocols = SslProtocols.Tls12;".into());
        notes.push(
            "hold TLS to 1.2: FluentFTP cannot resume TLS 1.3 sessions on data connections \
             (its maintainers' advice)"
                .into(),
        );
    }
    if n.reuse {
        notes.push(
            "the server requires TLS session reuse: .NET's SslStream resumes on Windows; on \
             Linux use the FluentFTP.GnuTLS package (Config.CustomStream = \
             typeof(GnuTlsStream)), explicit mode only"
                .into(),
        );
    }
    if let Some(ca) = n.trust.ca() {
        lines.push(
            "client.ValidateCertificate += (c, e) => e.Accept = e.PolicyErrors == SslPolicyErrors.None;"
                .into(),
        );
        notes.push(format!(
            "the certificate is signed by the CA in {ca}: add it to the machine's trusted \
             roots, or check e.Chain against it in ValidateCertificate"
        ));
    }
    if n.pasv_elsewhere {
        lines.push("client.Config.DataConnectionType = FtpDataConnectionType.PASVEX;".into());
        notes.push("PASV names another address: PASVEX connects to the server's own".into());
    }
    if n.pasv_only {
        lines.push("client.Config.DataConnectionType = FtpDataConnectionType.PASV;".into());
    }
    if n.epsv_only {
        lines.push("client.Config.DataConnectionType = FtpDataConnectionType.EPSV;".into());
    }
    lines.extend([
        "client.Connect();".to_string(),
        "client.UploadFile(\"local.bin\", \"remote.bin\");".into(),
        "client.DownloadFile(\"copy.bin\", \"remote.bin\");".into(),
    ]);
    Recipe {
        client: "FluentFTP",
        support: if n.implicit() && n.reuse {
            notes.push(
                "implicit FTPS with session reuse: .NET's SslStream may resume on Windows; the \
                 GnuTLS stream, the fix elsewhere, supports explicit mode only"
                    .into(),
            );
            Support::No
        } else if n.trust.ca().is_some() {
            Support::Code
        } else {
            Support::Settings
        },
        text: lines.join("\n"),
        notes,
    }
}

fn commons_net(n: &Needs) -> Recipe {
    let mut lines = vec![format!(
        "FTPSClient ftp = new FTPSClient({});",
        if n.implicit() { "true" } else { "false" }
    )];
    let mut notes = vec![
        "Commons Net sends no PROT by itself (its default is PROT C): call execPBSZ(0) and \
         execPROT(\"P\") after the login"
            .to_string(),
        "its default is active mode: call enterLocalPassiveMode()".to_string(),
    ];
    if n.tls12_only || n.reuse_on_tls13 {
        lines.push("ftp.setEnabledProtocols(new String[] {\"TLSv1.2\"});".into());
    }
    if let Some(ca) = n.trust.ca() {
        lines.push(
            "ftp.setTrustManager(TrustManagerUtils.getDefaultTrustManager(keyStoreWithYourCa));"
                .into(),
        );
        notes.push(format!("trust the CA in {ca} through a key store"));
    }
    lines.extend([
        format!("ftp.connect(\"{}\", {});", n.host, n.port),
        format!(
            "ftp.login(\"{}\", System.getenv(\"FTP_PASSWORD\"));",
            n.user
        ),
        "ftp.execPBSZ(0);".into(),
        "ftp.execPROT(\"P\");".into(),
        "ftp.enterLocalPassiveMode();".into(),
        "ftp.setFileType(FTP.BINARY_FILE_TYPE);".into(),
        "ftp.storeFile(\"remote.bin\", new FileInputStream(\"local.bin\"));".into(),
        "ftp.retrieveFile(\"remote.bin\", new FileOutputStream(\"copy.bin\"));".into(),
    ]);
    if n.pasv_only {
        notes.push("EPSV fails here: leave setUseEPSVwithIPv4 off (the default)".into());
    }
    if n.epsv_only {
        lines.push("ftp.setUseEPSVwithIPv4(true);".into());
    }
    let support = if n.reuse {
        lines.insert(
            1,
            "// plus the session-reuse workaround in the notes: without it, transfers are refused"
                .into(),
        );
        notes.push(
            "the server requires TLS session reuse, which JSSE gives no API for: the known \
             workaround overrides _prepareDataSocket_ and copies the control session into the \
             JDK's session cache by reflection (TLS 1.2 only, needs --add-opens); without it, \
             data transfers are refused"
                .into(),
        );
        Support::Code
    } else {
        Support::Settings
    };
    Recipe {
        client: "Apache Commons Net",
        support,
        text: lines.join("\n"),
        notes,
    }
}

fn jlaffaye(n: &Needs) -> Recipe {
    let mut conf = vec![format!("    ServerName: \"{}\",", n.host)];
    let mut notes = vec![
        "jlaffaye/ftp sends PBSZ 0 and PROT P in Login() whenever a TLS config is set".to_string(),
    ];
    if n.reuse {
        conf.push(
            "    ClientSessionCache: tls.NewLRUClientSessionCache(8), // one per connection".into(),
        );
        notes.push(
            "the server requires TLS session reuse: give each connection its own session \
             cache, and set ServerName (the cache is keyed by it)"
                .into(),
        );
    }
    if n.tls12_only {
        conf.push("    MaxVersion: tls.VersionTLS12,".into());
    }
    if let Some(ca) = n.trust.ca() {
        conf.push("    RootCAs: pool, // x509.NewCertPool() with AppendCertsFromPEM".into());
        notes.push(format!("put the CA in {ca} into RootCAs"));
    }
    let dial = if n.implicit() {
        "ftp.DialWithTLS(conf)"
    } else {
        "ftp.DialWithExplicitTLS(conf)"
    };
    let mut options = vec![dial.to_string()];
    if n.pasv_only {
        options.push("ftp.DialWithDisabledEPSV(true)".into());
    }
    let mut lines = vec!["conf := &tls.Config{".to_string()];
    lines.extend(conf);
    lines.push("}".into());
    lines.push(format!(
        "c, err := ftp.Dial(\"{}:{}\", {})",
        n.host,
        n.port,
        options.join(", ")
    ));
    lines.push(format!(
        "err = c.Login(\"{}\", os.Getenv(\"FTP_PASSWORD\"))",
        n.user
    ));
    lines.push("local, err := os.Open(\"local.bin\")".into());
    lines.push("err = c.Stor(\"remote.bin\", local)".into());
    lines.push(
        "r, err := c.Retr(\"remote.bin\") // io.Copy it into copy.bin, then r.Close()".into(),
    );
    if n.pasv_elsewhere {
        notes.push(
            "PASV names another address, which jlaffaye/ftp ignores only when it looks bogus: \
             the EPSV it tries first avoids it"
                .into(),
        );
    }
    Recipe {
        client: "Go jlaffaye/ftp",
        support: Support::Settings,
        text: lines.join("\n"),
        notes,
    }
}

fn winscp(n: &Needs) -> Recipe {
    let scheme = if n.implicit() { "ftps" } else { "ftpes" };
    let mut open = format!("open {scheme}://{}@{}:{}/", n.user, n.host, n.port);
    let mut notes = vec![
        "WinSCP sends PBSZ 0 and PROT P itself, and resumes TLS sessions by default".to_string(),
        "give the password with -password or at the prompt".to_string(),
    ];
    if let Some(ca) = n.trust.ca() {
        let pin = n.fingerprint.as_deref().unwrap_or("<SHA-256 fingerprint>");
        open.push_str(&format!(" -certificate=\"{pin}\""));
        notes.push(format!(
            "the CA in {ca} is not in the Windows store: -certificate pins this server's \
             certificate by its SHA-256 fingerprint (or trust the CA in the store instead)"
        ));
    }
    let mut raw = Vec::new();
    if n.tls12_only {
        raw.push("MaxTlsVersion=12");
    }
    if n.pasv_elsewhere {
        raw.push("FtpForcePasvIp2=0");
        notes.push("PASV names another address: FtpForcePasvIp2=0 uses the server's own".into());
    }
    if !raw.is_empty() {
        open.push_str(&format!(" -rawsettings {}", raw.join(" ")));
    }
    let lines = [
        open,
        "put local.bin remote.bin".into(),
        "get remote.bin copy.bin".into(),
        "exit".into(),
    ];
    if n.epsv_only {
        notes.push("PASV fails here, and WinSCP on IPv4 only speaks PASV".into());
    }
    Recipe {
        client: "WinSCP",
        support: if n.epsv_only {
            Support::No
        } else {
            Support::Settings
        },
        text: lines.join("\n"),
        notes,
    }
}
