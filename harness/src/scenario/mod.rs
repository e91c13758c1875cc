//! Scenarios: YAML files that describe a client behaviour as knobs and steps.

mod load;
mod model;

pub use load::{LoadError, load_file, parse, scenario_files};
pub use model::*;
