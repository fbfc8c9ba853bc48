//! Subcommands (TEMPORARY list of the sops branch; the lead's `mod.rs` replaces it and adds
//! these lines).

pub mod decrypt;
pub mod edit;
pub mod encrypt;
pub mod exec_env;
pub mod exec_file;
pub mod filestatus;
pub mod rotate;
pub mod set;
pub mod sops_args;
pub mod sops_cli;
pub mod sops_common;
pub mod sops_io;
pub mod unset;
pub mod updatekeys;
