//! Bitnami sealed-secrets format.
