//! The five sops stores: how a tree is read from and written to bytes.

pub(crate) mod binary;
pub(crate) mod dotenv;
pub(crate) mod ini;
pub(crate) mod json;
pub(crate) mod yaml;
