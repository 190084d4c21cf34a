//! TEST-ONLY keys from `testdata/keys/` (published on purpose) and signing
//! helpers, so unit tests use real keys and real signatures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use rsa::pkcs8::DecodePrivateKey as _;
use sha2::{Digest as _, Sha256};

pub struct TestKey {
    pub spki_pem: String,
    pub pkcs1_pem: String,
    pub private_pem: &'static str,
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl TestKey {
    pub fn spki_b64(&self) -> String {
        b64(&self.spki_pem)
    }
    pub fn pkcs1_b64(&self) -> String {
        b64(&self.pkcs1_pem)
    }
    /// The kritis default id, as computed by openssl (`*.default-id.txt`).
    pub fn default_id(&self) -> String {
        match self.private_pem {
            p if p == RSA2048 => include_str!("../testdata/keys/rsa2048.default-id.txt").to_owned(),
            p if p == RSA4096 => include_str!("../testdata/keys/rsa4096.default-id.txt").to_owned(),
            p if p == P256 => include_str!("../testdata/keys/p256.default-id.txt").to_owned(),
            _ => panic!("no default id fixture for this key"),
        }
    }
    pub fn sign_pkcs1(&self, msg: &[u8]) -> Vec<u8> {
        let key = rsa::PrivateKey::from_pkcs8_pem(self.private_pem).unwrap();
        let hash = Sha256::digest(msg);
        key.sign(rsa::pkcs1v15::Pkcs1v15Sign::new::<Sha256>(), &hash)
            .unwrap()
    }
    pub fn sign_pss(&self, msg: &[u8], salt_len: usize) -> Vec<u8> {
        let key = rsa::PrivateKey::from_pkcs8_pem(self.private_pem).unwrap();
        let hash = Sha256::digest(msg);
        let mut rng = getrandom::SysRng;
        key.sign_with_rng(&mut rng, rsa::Pss::<Sha256>::new_with_salt(salt_len), &hash)
            .unwrap()
    }
    /// The longest salt a key of `bits` bits leaves room for (openssl's "max").
    pub fn max_salt(bits: usize) -> usize {
        (bits - 1).div_ceil(8) - 32 - 2
    }
    pub fn sign_p256(&self, msg: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        let key = p256::ecdsa::SigningKey::from_pkcs8_pem(self.private_pem).unwrap();
        let sig: p256::ecdsa::Signature = key.sign(msg);
        sig.to_der().as_bytes().to_vec()
    }
}

const RSA1024: &str = include_str!("../testdata/keys/rsa1024.key.pem");
const RSA2048: &str = include_str!("../testdata/keys/rsa2048.key.pem");
const RSA3072: &str = include_str!("../testdata/keys/rsa3072.key.pem");
const RSA4096: &str = include_str!("../testdata/keys/rsa4096.key.pem");
const P256: &str = include_str!("../testdata/keys/p256.key.pem");
pub const ED25519_SPKI_PEM: &str = include_str!("../testdata/keys/ed25519.pub.pem");

pub fn rsa(bits: usize) -> TestKey {
    let (private_pem, spki, pkcs1) = match bits {
        1024 => (
            RSA1024,
            include_str!("../testdata/keys/rsa1024.pub.pem"),
            include_str!("../testdata/keys/rsa1024.pkcs1.pub.pem"),
        ),
        2048 => (
            RSA2048,
            include_str!("../testdata/keys/rsa2048.pub.pem"),
            include_str!("../testdata/keys/rsa2048.pkcs1.pub.pem"),
        ),
        3072 => (
            RSA3072,
            include_str!("../testdata/keys/rsa3072.pub.pem"),
            include_str!("../testdata/keys/rsa3072.pkcs1.pub.pem"),
        ),
        4096 => (
            RSA4096,
            include_str!("../testdata/keys/rsa4096.pub.pem"),
            include_str!("../testdata/keys/rsa4096.pkcs1.pub.pem"),
        ),
        _ => panic!("no {bits}-bit test key"),
    };
    TestKey {
        spki_pem: spki.into(),
        pkcs1_pem: pkcs1.into(),
        private_pem,
    }
}

/// A second RSA-2048 key (rotation and wrong-key cases).
pub fn rsa_b() -> TestKey {
    let spki = include_str!("../testdata/keys/rsa2048b.pub.pem");
    TestKey {
        spki_pem: spki.into(),
        pkcs1_pem: String::new(),
        private_pem: include_str!("../testdata/keys/rsa2048b.key.pem"),
    }
}

pub fn p256() -> TestKey {
    TestKey {
        spki_pem: include_str!("../testdata/keys/p256.pub.pem").into(),
        pkcs1_pem: String::new(),
        private_pem: P256,
    }
}

/// The TEST-ONLY keyless leaf (`testdata/sigstore/`): its P-256 key, and
/// its certificate as PEM.
pub fn sigstore_leaf() -> (TestKey, &'static str) {
    (
        TestKey {
            spki_pem: String::new(),
            pkcs1_pem: String::new(),
            private_pem: include_str!("../testdata/sigstore/leaf.key.pem"),
        },
        include_str!("../testdata/sigstore/leaf.pem"),
    )
}

/// The same leaf certificate with an RSA key (not checkable for keyless).
pub const SIGSTORE_LEAF_RSA: &str = include_str!("../testdata/sigstore/leaf-rsa.pem");
/// The TEST-ONLY root that issued the leaves.
pub const SIGSTORE_CA: &str = include_str!("../testdata/sigstore/ca.pem");
