//! RSASSA signature checks (RFC 8017 §8) on the result of the public
//! operation, which `modexp` computes once per signature so that trying
//! PKCS#1 v1.5 and then PSS costs one exponentiation, not two.
//!
//! PKCS#1 v1.5 is checked by building the one valid encoding and comparing
//! it whole (no parsing of the padding, the classic source of forgeries).

use sha2::digest::{Digest, FixedOutputReset};

/// DER `DigestInfo` prefixes (RFC 8017 §9.2, note 1).
const SHA256_PREFIX: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const SHA384_PREFIX: &[u8] = &[
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const SHA512_PREFIX: &[u8] = &[
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

/// The DigestInfo prefix of a hash, by its output length.
fn prefix(hash_len: usize) -> Option<&'static [u8]> {
    match hash_len {
        32 => Some(SHA256_PREFIX),
        48 => Some(SHA384_PREFIX),
        64 => Some(SHA512_PREFIX),
        _ => None,
    }
}

/// EMSA-PKCS1-v1_5 (RFC 8017 §9.2): `em` (the modulus's byte length) must be
/// exactly `00 01 FF…FF 00 || DigestInfo || hash`.
#[must_use]
pub fn pkcs1_v15(em: &[u8], hash: &[u8]) -> bool {
    let Some(prefix) = prefix(hash.len()) else {
        return false;
    };
    let t_len = prefix.len() + hash.len();
    if em.len() < t_len + 11 {
        return false;
    }
    let ps_end = em.len() - t_len - 1;
    em[0] == 0
        && em[1] == 1
        && em[2..ps_end].iter().all(|&b| b == 0xff)
        && em[ps_end] == 0
        && &em[ps_end + 1..ps_end + 1 + prefix.len()] == prefix
        && &em[em.len() - hash.len()..] == hash
}

/// EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with MGF1 over the same hash, any salt
/// length (recovered from the encoding). `em` is the public operation's
/// output at the modulus's byte length; `mod_bits` the modulus's bit length.
#[must_use]
pub fn pss<D: Digest + FixedOutputReset>(em: &[u8], mod_bits: usize, m_hash: &[u8]) -> bool {
    let h_len = <D as Digest>::output_size();
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    // I2OSP(m, emLen): a leading byte beyond emLen must be zero.
    let (head, em) = em.split_at(em.len() - em_len);
    if head.iter().any(|&b| b != 0) || m_hash.len() != h_len || em_len < h_len + 2 {
        return false;
    }
    if em[em_len - 1] != 0xbc {
        return false;
    }
    let (masked_db, rest) = em.split_at(em_len - h_len - 1);
    let h = &rest[..h_len];
    let top_mask = 0xffu8 >> (8 * em_len - em_bits);
    if masked_db[0] & !top_mask != 0 {
        return false;
    }
    let mut db = masked_db.to_vec();
    mgf1_xor::<D>(&mut db, h);
    db[0] &= top_mask;
    // DB = PS (zeros) || 0x01 || salt
    let Some(one) = db.iter().position(|&b| b != 0) else {
        return false;
    };
    if db[one] != 1 {
        return false;
    }
    let salt = &db[one + 1..];
    let mut hasher = D::new();
    Digest::update(&mut hasher, [0u8; 8]);
    Digest::update(&mut hasher, m_hash);
    Digest::update(&mut hasher, salt);
    hasher.finalize().as_slice() == h
}

/// XORs `MGF1(seed, out.len())` into `out`.
fn mgf1_xor<D: Digest + FixedOutputReset>(out: &mut [u8], seed: &[u8]) {
    let mut hasher = D::new();
    for (counter, chunk) in out.chunks_mut(<D as Digest>::output_size()).enumerate() {
        Digest::update(&mut hasher, seed);
        Digest::update(&mut hasher, (counter as u32).to_be_bytes());
        let block = hasher.finalize_reset();
        for (o, m) in chunk.iter_mut().zip(block.iter()) {
            *o ^= m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Sha256;

    #[test]
    fn pkcs1_exact_encoding_only() {
        let hash = [7u8; 32];
        let mut em = vec![0u8, 1];
        em.extend(std::iter::repeat_n(0xff, 256 - 3 - 51));
        em.push(0);
        em.extend_from_slice(SHA256_PREFIX);
        em.extend_from_slice(&hash);
        assert_eq!(em.len(), 256);
        assert!(pkcs1_v15(&em, &hash));
        for i in [0, 1, 2, 200, 204, 205, 220, 255] {
            let mut bad = em.clone();
            bad[i] ^= 0x01;
            assert!(!pkcs1_v15(&bad, &hash), "byte {i}");
        }
        assert!(!pkcs1_v15(&em[..40], &hash));
        assert!(!pkcs1_v15(&em, &[7u8; 20]), "unknown hash length");
    }

    #[test]
    fn pss_rejects_malformed_encodings() {
        let em = vec![0u8; 256];
        assert!(!pss::<Sha256>(&em, 2048, &[0u8; 32]));
        let mut em = vec![0xffu8; 256];
        em[255] = 0xbc;
        assert!(!pss::<Sha256>(&em, 2048, &[0u8; 32]), "top bits set");
        assert!(!pss::<Sha256>(&em, 2048, &[0u8; 31]), "hash length");
    }
}
