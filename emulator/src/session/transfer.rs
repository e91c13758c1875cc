//! Data connection setup (PASV, EPSV, PORT, EPRT) and the transfer commands.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use super::{CLOSE_TIMEOUT, DataSetup, Kind, Session, Source};
use crate::data::{self, DataChannel, TransferError};
use crate::fs::{self, ListFormat};
use crate::profile::{Dialect, Enforcement, EpsvAll, PreliminaryTiming, Prot, render};

impl Session {
    // ----- data connection setup -----

    /// A new data setup replaces the previous one (FileZilla resets its transfer state).
    fn reset_data(&mut self) {
        self.data = None;
        if self.profile().dialect == Dialect::Fz09 {
            self.rest = 0;
        }
        if self.control_tls13 && self.profile().tls.new_ticket_per_data_command {
            self.log.line(
                "note: FileZilla 1.x sends a fresh TLS 1.3 ticket on the control connection here; rustls 0.23 cannot",
            );
        }
    }

    async fn epsv_all_refuses(&mut self, cmd: &str) -> Option<io::Result<()>> {
        if !self.epsv_all {
            return None;
        }
        let text = self.profile().replies.epsv_all_in_effect.clone()?;
        Some(self.reply(render(&text, &[("cmd", cmd)])).await)
    }

    pub(super) async fn cmd_pasv(&mut self, extended: bool, arg: &str) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let r = &sh.profile.replies;
        if !extended && let Some(done) = self.epsv_all_refuses("PASV").await {
            return done;
        }
        if extended && sh.profile.data.epsv_all == EpsvAll::Restrict {
            if arg.eq_ignore_ascii_case("ALL") {
                self.epsv_all = true;
                let text = r.epsv_all.clone().unwrap_or_default();
                return self.reply(text).await;
            }
            match arg {
                "" | "1" => {}
                "2" => {
                    self.reset_data();
                    return self.reply(r.data_setup_failed.clone()).await;
                }
                _ => {
                    if let Some(t) = &r.epsv_bad_protocol {
                        return self.reply(t.clone()).await;
                    }
                }
            }
        }
        self.reset_data();
        let ip = self.local.ip();
        match DataChannel::passive(self.data_ctx(), ip).await {
            Ok((ch, port)) => {
                self.data = Some(DataSetup::Passive(ch));
                let text = if extended {
                    render(&r.epsv_ok, &[("port", &port.to_string())])
                } else {
                    let h = match (ip, &sh.profile.data.pasv_address) {
                        // FileZilla 0.9 names the custom PASV IP unless "No External IP
                        // On Local" is on and the peer is local (ControlSocket.cpp:2638-2680).
                        (_, Some(custom))
                            if !(custom.no_external_ip_on_local
                                && peer_is_local(self.peer.ip())) =>
                        {
                            custom.ip.octets()
                        }
                        (IpAddr::V4(v4), _) => v4.octets(),
                        (IpAddr::V6(_), _) => Ipv4Addr::LOCALHOST.octets(),
                    };
                    let pasv = format!(
                        "{},{},{},{},{},{}",
                        h[0],
                        h[1],
                        h[2],
                        h[3],
                        port / 256,
                        port % 256
                    );
                    render(&r.pasv_ok, &[("pasv", &pasv)])
                };
                self.reply(text).await
            }
            Err(e) => {
                self.log.line(format!("passive listener failed: {e}"));
                self.reply(r.data_setup_failed.clone()).await
            }
        }
    }

    pub(super) async fn cmd_port(&mut self, extended: bool, arg: &str) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let r = &sh.profile.replies;
        let name = if extended { "EPRT" } else { "PORT" };
        if let Some(done) = self.epsv_all_refuses(name).await {
            return done;
        }
        let arg = arg.trim();
        let target = if extended {
            match parse_eprt(arg) {
                Ok(a) => a,
                Err(EprtError::Protocol) => return self.reply(r.eprt_bad_protocol.clone()).await,
                Err(EprtError::Syntax) => return self.reply(r.eprt_bad.clone()).await,
            }
        } else {
            match parse_port(arg) {
                Some(a) => a,
                None => return self.reply(r.port_bad.clone()).await,
            }
        };
        // Loopback only, always; 0.9 also wants exactly the control peer's address.
        let strict = sh.profile.dialect == Dialect::Fz09 && sh.profile.data.check_data_ip;
        if !target.ip().is_loopback() || (strict && target.ip() != self.peer.ip()) {
            self.log.line(format!(
                "refused {name} target {target}: not the control peer / not loopback"
            ));
            return self.reply(render(&r.port_refused, &[("cmd", name)])).await;
        }
        self.reset_data();
        self.data = Some(DataSetup::Active(target));
        let text = if extended { &r.eprt_ok } else { &r.port_ok };
        self.reply(text.clone()).await
    }

    // ----- transfers -----

    fn preliminary(&self, kind: Kind, path: &str, offset: u64, connected: bool) -> String {
        let pr = &self.profile().replies.preliminary;
        let (pending, conn) = match kind {
            Kind::List(_) => (&pr.list, &pr.list_connected),
            Kind::Retr => (&pr.retr, &pr.retr_connected),
            Kind::Stor | Kind::Appe => (&pr.stor, &pr.stor_connected),
        };
        let template = match (connected, conn) {
            (true, Some(c)) => c,
            _ => pending,
        };
        let mut text = render(template, &[("path", path)]);
        if let (Some(suffix), false, true) =
            (&pr.rest_suffix, matches!(kind, Kind::List(_)), offset > 0)
        {
            text.push_str(&render(suffix, &[("offset", &offset.to_string())]));
        }
        text
    }

    /// Resolve the transfer's path and open what it reads or writes. Err is the reply.
    async fn prepare(&self, kind: Kind, arg: &str) -> Result<(String, Source, u64), String> {
        let r = &self.profile().replies;
        match kind {
            Kind::List(format) => {
                let mut arg = arg.trim().to_owned();
                // 0.9 skips `ls` options such as `-la` (ControlSocket.cpp:749-799); 1.x does not.
                if self.profile().dialect == Dialect::Fz09 && format != ListFormat::Facts {
                    while arg.starts_with('-') {
                        arg = arg
                            .split_once(' ')
                            .map(|(_, rest)| rest.trim_start().to_owned())
                            .unwrap_or_default();
                    }
                }
                let (v, real) = self.path(if arg.is_empty() { "." } else { &arg })?;
                let is_dir = real.is_dir();
                if !real.exists() || (format == ListFormat::Facts && !is_dir) {
                    return Err(r.list_not_found.clone());
                }
                let prefix = match (arg.is_empty(), is_dir) {
                    (true, _) => String::new(),
                    (false, true) => format!("{}/", arg.trim_end_matches('/')),
                    (false, false) => arg
                        .rfind('/')
                        .map(|i| arg[..=i].to_owned())
                        .unwrap_or_default(),
                };
                let bytes = fs::listing(&real, format, &prefix)
                    .await
                    .map_err(|_| r.list_not_found.clone())?;
                Ok((v, Source::Listing(bytes), 0))
            }
            Kind::Retr => {
                let (v, real) = self.path(arg)?;
                if !real.is_file() {
                    return Err(r.retr_not_found.clone());
                }
                let mut file = tokio::fs::File::open(&real)
                    .await
                    .map_err(|_| r.open_read_failed.clone())?;
                let len = file
                    .metadata()
                    .await
                    .map_err(|_| r.open_read_failed.clone())?
                    .len();
                let offset = self.rest.min(len);
                if offset > 0 {
                    use tokio::io::AsyncSeekExt;
                    file.seek(std::io::SeekFrom::Start(offset))
                        .await
                        .map_err(|_| r.open_read_failed.clone())?;
                }
                Ok((v, Source::Download(file), self.rest))
            }
            Kind::Stor | Kind::Appe => {
                let (v, real) = self.path(arg)?;
                let parent_ok = fs::split(&v)
                    .map(|(parent, _)| fs::real(&self.root, parent).is_dir())
                    .unwrap_or(false);
                if !parent_ok || real.is_dir() {
                    return Err(r.stor_fail.clone());
                }
                let existing = tokio::fs::metadata(&real)
                    .await
                    .map(|m| m.len())
                    .unwrap_or(0);
                let (append, offset) = match kind {
                    Kind::Appe if self.profile().data.appe_restart_offset => (true, existing),
                    Kind::Appe => (true, 0),
                    _ => (false, self.rest),
                };
                let mut opts = tokio::fs::OpenOptions::new();
                opts.write(true).create(true);
                if append {
                    opts.append(true);
                }
                let mut file = opts
                    .open(&real)
                    .await
                    .map_err(|_| r.open_write_failed.clone())?;
                if !append {
                    use tokio::io::AsyncSeekExt;
                    // REST + STOR overwrites from the offset and drops the rest (SetEndOfFile).
                    file.set_len(offset)
                        .await
                        .map_err(|_| r.open_write_failed.clone())?;
                    file.seek(std::io::SeekFrom::Start(offset))
                        .await
                        .map_err(|_| r.open_write_failed.clone())?;
                }
                Ok((v, Source::Upload(file), offset))
            }
        }
    }

    pub(super) async fn transfer(&mut self, kind: Kind, arg: &str) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let p = &sh.profile;
        let r = &p.replies;
        let t = p.timeouts();

        // 0.9 with Force PROT P: refused before any data connection; the setup stays.
        if self.secure
            && self.prot != Prot::P
            && p.data.unprotected_transfer == Enforcement::RefusedAtCommand
        {
            let text = r.prot_p_required.clone().unwrap_or_default();
            return self.reply(text).await;
        }

        let (vpath, source, offset) = match self.prepare(kind, arg).await {
            Ok(x) => x,
            Err(text) => {
                // 0.9 resets its transfer state on these errors; 1.x keeps the data setup.
                if p.dialect == Dialect::Fz09 {
                    self.data = None;
                    self.rest = 0;
                }
                return self.reply(text).await;
            }
        };

        let mut ch = match self.data.take() {
            Some(DataSetup::Passive(ch)) => ch,
            Some(DataSetup::Active(target)) => DataChannel::active(
                self.data_ctx(),
                target,
                self.local.ip(),
                t.data_connect.duration(),
            ),
            None => return self.reply(r.no_data_connection.clone()).await,
        };

        if ch.passive && p.data.preliminary_timing == PreliminaryTiming::AfterAccept {
            if !ch.wait_connected(t.data_connect.duration()).await {
                self.log.line("no data connection arrived in time");
                return self.fire_timeout(&t.data_connect, &vpath).await;
            }
            let text = self.preliminary(kind, &vpath, offset, false);
            self.reply(text).await?;
        } else {
            let text = self.preliminary(kind, &vpath, offset, ch.connected);
            self.reply(text).await?;
            if !ch.wait_connected(t.data_connect.duration()).await {
                self.log.line("no data connection arrived in time");
                return self.fire_timeout(&t.data_connect, &vpath).await;
            }
        }

        let mut stream = match ch.wait_ready(t.transfer_idle.duration()).await {
            None => {
                self.log.line("data connection made no progress in time");
                return self.fire_timeout(&t.transfer_idle, &vpath).await;
            }
            Some(Err(f)) => {
                self.rest = 0;
                let text = self.failure_text(&f, &vpath);
                return self.reply(text).await;
            }
            Some(Ok(s)) => s,
        };
        drop(ch);

        let ascii = p.data.ascii_conversion && self.ascii;
        let idle = t.transfer_idle.duration();
        let result = match source {
            Source::Listing(bytes) => data::send(&mut stream, &bytes[..], false, idle).await,
            Source::Download(file) => data::send(&mut stream, file, ascii, idle).await,
            Source::Upload(file) => match data::receive(&mut stream, file, ascii, idle).await {
                Ok((n, unclean)) => {
                    if unclean && stream.is_tls() {
                        self.log.line("upload ended without TLS close_notify");
                    }
                    Ok(n)
                }
                Err(e) => Err(e),
            },
        };
        self.rest = 0;
        match result {
            Ok(n) => {
                data::close(stream, CLOSE_TIMEOUT).await;
                self.log
                    .line(format!("transfer of {vpath} done: {n} bytes"));
                self.reply(render(&r.transfer_ok, &[("path", &vpath)]))
                    .await
            }
            Err(TransferError::Timeout) => {
                self.log.line(format!("transfer of {vpath} stalled"));
                drop(stream);
                self.fire_timeout(&t.transfer_idle, &vpath).await
            }
            Err(TransferError::Net(e)) => {
                self.log.line(format!("transfer of {vpath} aborted: {e}"));
                let reason = data::describe_io(&e);
                self.reply(render(
                    &r.transfer_aborted,
                    &[("path", &vpath), ("reason", &reason)],
                ))
                .await
            }
            Err(TransferError::File(e)) => {
                self.log
                    .line(format!("transfer of {vpath}: file error {e}"));
                let text = match kind {
                    Kind::Stor | Kind::Appe => r.open_write_failed.clone(),
                    _ => r.open_read_failed.clone(),
                };
                self.reply(text).await
            }
        }
    }
}

/// `h1,h2,h3,h4,p1,p2` (0.9 also tolerates leading zeros).
fn parse_port(arg: &str) -> Option<SocketAddr> {
    let nums: Vec<u32> = arg
        .split(',')
        .map(|s| s.trim().parse::<u32>().ok())
        .collect::<Option<_>>()?;
    if nums.len() != 6 || nums.iter().any(|&n| n > 255) {
        return None;
    }
    let port = (nums[4] * 256 + nums[5]) as u16;
    if port == 0 {
        return None;
    }
    let ip = Ipv4Addr::new(nums[0] as u8, nums[1] as u8, nums[2] as u8, nums[3] as u8);
    Some(SocketAddr::new(IpAddr::V4(ip), port))
}

enum EprtError {
    Syntax,
    Protocol,
}

/// `|proto|address|port|` (RFC 2428).
fn parse_eprt(arg: &str) -> Result<SocketAddr, EprtError> {
    if !arg.starts_with('|') {
        return Err(EprtError::Syntax);
    }
    let parts: Vec<&str> = arg.split('|').collect();
    if parts.len() != 5 || !parts[4].is_empty() {
        return Err(EprtError::Syntax);
    }
    let ip: IpAddr = match parts[1] {
        "1" => parts[2]
            .parse::<Ipv4Addr>()
            .map_err(|_| EprtError::Syntax)?
            .into(),
        "2" => parts[2]
            .parse::<Ipv6Addr>()
            .map_err(|_| EprtError::Syntax)?
            .into(),
        _ => return Err(EprtError::Protocol),
    };
    let port: u16 = parts[3].parse().map_err(|_| EprtError::Syntax)?;
    if port == 0 {
        return Err(EprtError::Syntax);
    }
    Ok(SocketAddr::new(ip, port))
}

/// Loopback, private (RFC 1918) and link-local peers: FileZilla 0.9's "local" networks.
fn peer_is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_argument() {
        assert_eq!(
            parse_port("127,0,0,1,4,1"),
            Some("127.0.0.1:1025".parse().unwrap())
        );
        assert_eq!(
            parse_port("127,000,0,001,0,21"),
            Some("127.0.0.1:21".parse().unwrap())
        );
        assert_eq!(parse_port("127,0,0,1,0,0"), None);
        assert_eq!(parse_port("300,0,0,1,1,1"), None);
        assert_eq!(parse_port("1,2,3"), None);
    }

    #[test]
    fn eprt_argument() {
        assert!(matches!(
            parse_eprt("|1|127.0.0.1|2000|"),
            Ok(a) if a == "127.0.0.1:2000".parse().unwrap()
        ));
        assert!(matches!(parse_eprt("|2|::1|2000|"), Ok(a) if a.is_ipv6()));
        assert!(matches!(parse_eprt("|3|x|1|"), Err(EprtError::Protocol)));
        assert!(matches!(
            parse_eprt("1|127.0.0.1|2000|"),
            Err(EprtError::Syntax)
        ));
        assert!(matches!(
            parse_eprt("|1|127.0.0.1|0|"),
            Err(EprtError::Syntax)
        ));
    }
}
