//! Zeroizing containers for plaintext secret bytes.
