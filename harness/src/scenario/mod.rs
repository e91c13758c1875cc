//! Scenarios: YAML files that describe a client behaviour as knobs and steps.

mod load;
mod model;
mod spans;
mod validate;

pub use load::{
    CLIENT_ROW_PREFIX, CLIENTS_DIR, LoadError, load_client_profile, load_client_profiles,
    load_file, parse, scenario_files,
};
pub use model::*;
