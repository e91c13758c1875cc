//! ftps-compat: replays FTPS client behaviours, written as YAML scenarios, against real
//! servers and an in-process FileZilla emulation, and records normalized transcripts.

pub mod baseline;
pub mod certs;
pub mod client;
pub mod matrix;
pub mod outcome;
pub mod probe;
pub mod quirks;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod servers;
pub mod snapshot;
pub mod target;
pub mod transcript;
pub mod yaml;
