use clap::Parser;
use tinynas::Error;
use tinynas::cli::{Cli, run};

fn main() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // Silences the Vulkan loader's harmless complaints on headless machines.
        let dir = std::env::temp_dir().join("tinynas-xdg");
        let _ = std::fs::create_dir_all(&dir);
        // SAFETY: set before any thread is started.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", dir) };
    }
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e}");
        let code = match e {
            Error::Invalid(_) | Error::Data { .. } | Error::Shape { .. } => 2,
            _ => 1,
        };
        std::process::exit(code);
    }
}
