//! Logging: `tracing` with `--log-level` (a level or a filter) and `--log-format text|json`.

use tracing_subscriber::EnvFilter;

use crate::args::LogFormat;
use crate::error::{Error, Result};

/// Installs the global subscriber (stderr).
pub fn init(format: LogFormat, level: &str) -> Result<()> {
    let filter = EnvFilter::try_new(level.to_ascii_lowercase())
        .map_err(|e| Error::Config(format!("--log-level {level:?}: {e}")))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    installed.map_err(|e| Error::Config(format!("cannot install the logger: {e}")))
}
