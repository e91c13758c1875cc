//! `ftps-emulator`: an in-process emulation of FileZilla Server's FTPS behaviour.
//!
//! The server logic is generic; everything that distinguishes one FileZilla version or
//! configuration from another (reply texts, banner, FEAT, where PROT P is enforced, session
//! resumption, timeouts, ...) is a [`Profile`] loaded from `servers/filezilla-like/*.yaml`.
//!
//! ```no_run
//! # async fn demo(opts: ftps_emulator::EmulatorOptions) -> std::io::Result<()> {
//! let emu = ftps_emulator::Emulator::start(opts).await?;
//! println!("ftp://{}  ftps://{}", emu.explicit_addr(), emu.implicit_addr());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

mod data;
mod fs;
mod log;
mod profile;
mod server;
mod session;
mod stream;
mod tls;

pub use profile::{Profile, ProfileError, Timeout, Timeouts};
pub use server::{Emulator, EmulatorOptions, Roots};
