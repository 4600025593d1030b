//! The `keygate` binary.

use server::cli::{self, Command};
use server::config::Config;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    keep_large_allocations_out_of_arenas();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(command) => command,
        Err(cli::NotRun::Help(text)) => {
            print!("{text}");
            return;
        }
        Err(cli::NotRun::Usage(text)) => {
            eprint!("{text}");
            std::process::exit(2);
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("keygate: invalid configuration: {e}");
            std::process::exit(2);
        }
    };
    if command != Command::Serve {
        // One-shot commands keep stdout for their result (a key, an id): logs go to stderr.
        tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(&config.log))
            .with_target(false)
            .with_writer(std::io::stderr)
            .init();
        match cli::run(command, &config).await {
            Ok(output) => println!("{output}"),
            Err(e) => {
                eprintln!("keygate: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(&config.log))
        .with_target(false)
        .init();

    let listener = match TcpListener::bind(config.addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "keygate: cannot listen on {} (KEYGATE_ADDR): {e}",
                config.addr
            );
            std::process::exit(1);
        }
    };
    // The address actually bound: with port 0 in KEYGATE_ADDR the system picks one, and
    // whoever started the process (a supervisor, the tests) reads it from this line.
    let bound = listener.local_addr().unwrap_or(config.addr);
    tracing::info!(addr = %bound, "Keygate listening on http://{bound}");
    if let Err(e) = server::serve(config, listener, shutdown_signal()).await {
        eprintln!("keygate: {e}");
        std::process::exit(1);
    }
    tracing::info!("shut down cleanly");
}

/// SIGINT (Ctrl-C) or SIGTERM: stop accepting, finish what is in flight, exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, draining requests");
}

/// argon2 allocates a 19 MiB block per password hash. glibc raises its mmap threshold
/// after the first such block is freed, so later blocks come from per-thread heap arenas
/// and stay resident: about 140 MB after a few dozen logins. A fixed 1 MiB threshold keeps
/// large blocks in mmap, returned to the OS when freed (about 22 MB after the same run).
fn keep_large_allocations_out_of_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
