//! Shamir secret sharing over GF(2^8), compatible with getsops/sops `shamir/` (a copy of
//! HashiCorp Vault's): the AES field (x^8 + x^4 + x^3 + x + 1), share `i` (0-based) is the
//! polynomial values followed by one byte `x = i + 1`. sops splits the data key into one share
//! per key group and needs `shamir_threshold` of them back.

use rand::RngCore as _;
use zeroize::Zeroize as _;

use super::error::{Error, Result};

/// Field addition (XOR).
fn add(a: u8, b: u8) -> u8 {
    a ^ b
}

/// Field multiplication, constant-time like the Go code.
fn mult(a: u8, b: u8) -> u8 {
    let mut acc: u8 = 0;
    for i in (0..8).rev() {
        let bit = (b >> i) & 1;
        let a_or_zero = bit.wrapping_neg() & a;
        let reduce = (acc >> 7).wrapping_neg() & 0x1B;
        acc = a_or_zero ^ (reduce ^ acc.wrapping_add(acc));
    }
    acc
}

/// a^254 = a^-1 (0 maps to 0).
fn inverse(a: u8) -> u8 {
    let mut b = mult(a, a);
    let mut c = mult(a, b);
    b = mult(c, c);
    b = mult(b, b);
    c = mult(b, c);
    b = mult(b, b);
    b = mult(b, b);
    b = mult(b, c);
    b = mult(b, b);
    b = mult(a, b);
    mult(b, b)
}

fn div(a: u8, b: u8) -> u8 {
    mult(a, inverse(b))
}

fn evaluate(coefficients: &[u8], x: u8) -> u8 {
    if x == 0 {
        return coefficients[0];
    }
    let mut out = coefficients[coefficients.len() - 1];
    for &c in coefficients[..coefficients.len() - 1].iter().rev() {
        out = add(mult(out, x), c);
    }
    out
}

fn interpolate(xs: &[u8], ys: &[u8], x: u8) -> u8 {
    let mut result = 0;
    for i in 0..xs.len() {
        let mut basis = 1;
        for j in 0..xs.len() {
            if i == j {
                continue;
            }
            let num = add(x, xs[j]);
            let denom = add(xs[i], xs[j]);
            basis = mult(basis, div(num, denom));
        }
        result = add(result, mult(ys[i], basis));
    }
    result
}

/// Splits `secret` into `parts` shares, any `threshold` of which recover it.
pub fn split(secret: &[u8], parts: usize, threshold: usize) -> Result<Vec<Vec<u8>>> {
    if parts < threshold {
        return Err(Error::Shamir("parts cannot be less than threshold"));
    }
    if parts > 255 {
        return Err(Error::Shamir("parts cannot exceed 255"));
    }
    if threshold < 2 {
        return Err(Error::Shamir("threshold must be at least 2"));
    }
    if secret.is_empty() {
        return Err(Error::Shamir("cannot split an empty secret"));
    }
    let mut out: Vec<Vec<u8>> = (0..parts)
        .map(|i| {
            let mut share = vec![0u8; secret.len() + 1];
            share[secret.len()] = i as u8 + 1;
            share
        })
        .collect();
    let mut coefficients = vec![0u8; threshold];
    for (idx, &val) in secret.iter().enumerate() {
        coefficients[0] = val;
        rand::rngs::OsRng.fill_bytes(&mut coefficients[1..]);
        for (i, share) in out.iter_mut().enumerate() {
            share[idx] = evaluate(&coefficients, i as u8 + 1);
        }
    }
    // Clear intermediates
    coefficients.zeroize();
    Ok(out)
}

/// Recombines shares made by [`split`] (or by sops).
pub fn combine(parts: &[Vec<u8>]) -> Result<Vec<u8>> {
    if parts.len() < 2 {
        return Err(Error::Shamir(
            "less than two parts cannot be used to reconstruct the secret",
        ));
    }
    let len = parts[0].len();
    if len < 2 {
        return Err(Error::Shamir("parts must be at least two bytes"));
    }
    if parts.iter().any(|p| p.len() != len) {
        return Err(Error::Shamir("all parts must be the same length"));
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err(Error::Shamir("duplicate part detected"));
        }
    }
    let mut ys = vec![0u8; parts.len()];
    let mut secret = vec![0u8; len - 1];
    for (idx, byte) in secret.iter_mut().enumerate() {
        for (i, p) in parts.iter().enumerate() {
            ys[i] = p[idx];
        }
        *byte = interpolate(&xs, &ys, 0);
    }
    ys.zeroize();
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from getsops/sops shamir/shamir_test.go.
    #[test]
    fn field_arithmetic_matches_the_go_vectors() {
        assert_eq!(add(16, 16), 0);
        assert_eq!(add(3, 4), 7);
        assert_eq!(mult(3, 7), 9);
        assert_eq!(mult(3, 0), 0);
        assert_eq!(mult(0, 3), 0);
        assert_eq!(div(0, 7), 0);
        assert_eq!(div(3, 3), 1);
        assert_eq!(div(6, 3), 2);
        for a in 0..=255u8 {
            for b in 1..=255u8 {
                assert_eq!(div(mult(a, b), b), a);
            }
        }
    }

    #[test]
    fn any_three_of_five_shares_recover_the_secret() {
        let secret = b"test";
        let out = split(secret, 5, 3).unwrap();
        assert_eq!(out.len(), 5);
        assert!(out.iter().all(|s| s.len() == 5));
        for i in 0..5 {
            for j in 0..5 {
                for k in 0..5 {
                    if i == j || j == k || i == k {
                        continue;
                    }
                    let parts = vec![out[i].clone(), out[j].clone(), out[k].clone()];
                    assert_eq!(combine(&parts).unwrap(), secret);
                }
            }
        }
    }

    #[test]
    fn invalid_arguments_are_rejected_like_go() {
        assert!(split(b"test", 0, 0).is_err());
        assert!(split(b"test", 2, 3).is_err());
        assert!(split(b"test", 1000, 3).is_err());
        assert!(split(b"test", 10, 1).is_err());
        assert!(split(b"", 3, 2).is_err());
        assert!(combine(&[]).is_err());
        assert!(combine(&[b"foo".to_vec(), b"ba".to_vec()]).is_err());
        assert!(combine(&[b"f".to_vec(), b"b".to_vec()]).is_err());
        assert!(combine(&[b"foo".to_vec(), b"foo".to_vec()]).is_err());
    }

    #[test]
    fn interpolation_recovers_every_intercept() {
        for i in 0..=255u8 {
            let c = [i, 0x53, 0xCA];
            let xs = [1, 2, 3];
            let ys = [evaluate(&c, 1), evaluate(&c, 2), evaluate(&c, 3)];
            assert_eq!(interpolate(&xs, &ys, 0), i);
        }
    }
}
