//! The API process: `flashsale-api`. Configured by `FLASHSALE_*` environment variables
//! (see docs/CONFIG.md); stops gracefully on SIGTERM or Ctrl-C.

use std::process::ExitCode;

use flashsale::runtime::lifecycle::shutdown_signal;
use flashsale::runtime::settings::Settings;
use flashsale::runtime::telemetry;
use flashsale::startup::api::Application;

#[actix_web::main]
async fn main() -> ExitCode {
    telemetry::init(telemetry::LogTo::Stdout);
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            tracing::error!(%error, "invalid settings");
            return ExitCode::from(2);
        }
    };
    let addr = settings.http_addr;
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%addr, port = app.port(), "flashsale-api listening");
    match app.run_until(shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "server failed");
            ExitCode::FAILURE
        }
    }
}
