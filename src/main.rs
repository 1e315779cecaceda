use clap::Parser;
use tinynas::cli::{Cli, run};

fn main() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // Silences the Vulkan loader's harmless complaints on headless machines.
        let dir = std::env::temp_dir().join("tinynas-xdg");
        let _ = std::fs::create_dir_all(&dir);
        // SAFETY: set before any thread is started.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", dir) };
    }
    // Die quietly of SIGPIPE, as other command-line tools do, when the reader of our output
    // goes away (`tinynas mem ... | head`) instead of panicking in println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Standard output that cannot be written (a full disk, a closed file) is a failure of the
    // work, reported as one (exit 1), not a panic.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") {
            eprintln!("error: {msg}");
            std::process::exit(1);
        }
        default_hook(info);
    }));
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {}", tinynas::cli::flags::describe(&e));
        std::process::exit(e.exit_code());
    }
}
