//! Starting real servers: processes, ports, readiness.

pub mod backend;
pub mod container;
pub mod instance;
pub mod leftovers;
pub mod manifest;
pub mod native;
pub mod ports;
pub mod process;
