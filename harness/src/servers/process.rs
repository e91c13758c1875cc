//! A server process in its own process group, killed with the whole group on drop, so a
//! panicking test or an interrupted run leaves nothing behind.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

pub struct ProcessGuard {
    child: Child,
    name: String,
}

impl ProcessGuard {
    /// Spawns `command` as the leader of a new process group.
    pub fn spawn(name: &str, mut command: Command) -> io::Result<ProcessGuard> {
        command.process_group(0);
        // If the harness dies without unwinding (SIGKILL), the kernel kills the server too.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)
            });
        }
        let child = command.spawn()?;
        Ok(ProcessGuard {
            child,
            name: name.to_string(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The exit status if the process already ended (a server that dies on a bad config).
    pub fn try_exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        // Servers fork per session (vsftpd, ProFTPD); the group takes the children too.
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The start time (clock ticks since boot) of a live, non-zombie process: with the pid,
/// it names one process even after the pid is reused.
pub fn process_start(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses: state (field 3) ... starttime (field 22).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    match fields.first() {
        Some(&"Z") | Some(&"X") | None => None,
        Some(_) => fields.get(19).map(|s| s.to_string()),
    }
}

pub fn pid_alive(pid: i32) -> bool {
    process_start(pid).is_some()
}
