//! The `keygate` binary.

use server::config::Config;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("keygate: invalid configuration: {e}");
            std::process::exit(2);
        }
    };
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
    tracing::info!(addr = %config.addr, "Keygate listening on http://{}", config.addr);
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
