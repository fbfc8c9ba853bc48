//! Parses a YAML file with the SOPS YAML store and writes it back to stdout, as sops would
//! print it; `bench/sops.sh` uses it as the "parse + emit" baseline.
//!
//! Usage: `sops_parse_emit FILE.yaml`

use std::io::Write as _;
use std::process::ExitCode;

use sealer::sops::{Format, PlainFile};

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: sops_parse_emit FILE.yaml");
        return ExitCode::from(2);
    };
    let run = || -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let bytes = fs_err::read(&path)?;
        Ok(PlainFile::parse(&bytes, Format::Yaml)?.to_bytes(Format::Yaml)?)
    };
    match run() {
        Ok(out) => {
            if std::io::stdout().write_all(&out).is_err() {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
