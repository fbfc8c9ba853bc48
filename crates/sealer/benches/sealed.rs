//! SealedSecret cipher benchmark: RSA-4096 OAEP decryption (the controller's cost per item)
//! beside OpenSSL's RSA-4096 private-key operation on the same machine, in the same run.
//!
//! Run with `cargo bench -p sealer --bench sealed`. Prints figures; asserts nothing.
#![allow(clippy::print_stdout, missing_docs)]

use std::process::Command;
use std::time::{Duration, Instant};

use sealer::sealed::{PrivateKey, Scope, cipher};

/// Runs `op` until `budget` has passed (at least `min_iters` times); returns seconds per op.
fn time_per_op(budget: Duration, min_iters: u32, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut iters = 0u32;
    while iters < min_iters || start.elapsed() < budget {
        op();
        iters += 1;
    }
    start.elapsed().as_secs_f64() / f64::from(iters)
}

/// OpenSSL's RSA-4096 private-key (sign) time in seconds, from `openssl speed`.
fn openssl_rsa4096_private_op() -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa4096"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("rsa") && l.contains("4096 bits"))?;
    let after_bits = line.split("bits").nth(1)?;
    after_bits
        .split_whitespace()
        .next()?
        .trim_end_matches('s')
        .parse()
        .ok()
}

fn main() {
    let key = PrivateKey::generate(4096).expect("RSA-4096 key generation");
    let label = Scope::Strict.label("bench", "secret");
    let blob = cipher::seal(
        key.public_key(),
        &label,
        b"a 32-byte secret value 012345678",
    )
    .unwrap();

    let open = time_per_op(Duration::from_secs(3), 50, || {
        let opened = cipher::open(&[&key], &label, &blob).unwrap();
        std::hint::black_box(opened);
    });
    let seal = time_per_op(Duration::from_secs(1), 200, || {
        std::hint::black_box(cipher::seal(key.public_key(), &label, b"value").unwrap());
    });
    println!(
        "sealkit rsa4096 oaep decrypt (open one item): {:.3} ms/op",
        open * 1e3
    );
    println!(
        "sealkit rsa4096 seal (one item):              {:.3} ms/op",
        seal * 1e3
    );
    match openssl_rsa4096_private_op() {
        Some(reference) => {
            println!(
                "openssl speed rsa4096 private op:             {:.3} ms/op",
                reference * 1e3
            );
            println!(
                "ratio sealkit/openssl (target <= 1.2):        {:.2}",
                open / reference
            );
        }
        None => println!("openssl speed rsa4096: not available (install openssl)"),
    }
}
