//! The `ftps-compat` command line.

mod cli;

fn main() {
    let code = cli::main();
    // exit() runs no destructor: what lives as long as the process is removed here.
    ftps_compat::servers::container::remove_adapter_socket();
    std::process::exit(code);
}
