//! The TEST-ONLY keys of `testdata/keys/`: private keys published on purpose
//! so the tests and the benchmark sign with real keys. Never trust them.
//!
//! A key `NAME` (`rsa2048`, `rsa2048b`, `rsa4096`, `p256`…) is a set of
//! files in one folder:
//!
//! | file | what |
//! |---|---|
//! | `NAME.key.pem` | the private key, PKCS#8 PEM |
//! | `NAME.pub.pem` | the public key, SPKI PEM (what settings carry) |
//! | `NAME.pkcs1.pub.pem` | RSA only: the public key as PKCS#1 PEM |
//! | `NAME.default-id.txt` | some keys: kritis' default key id, from openssl |
//!
//! The free functions read the repository's folder ([`keys_dir`]); a
//! [`KeyDir`] reads another one (the benchmark's `--keys-dir`).

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;

/// The repository's folder of TEST-ONLY keys, `testdata/keys/`.
pub const KEYS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/keys");

/// The repository's folder of TEST-ONLY keys, `testdata/keys/`.
#[must_use]
pub fn keys_dir() -> &'static Path {
    Path::new(KEYS_DIR)
}

/// The private key `name` (`testdata/keys/NAME.key.pem`, PKCS#8 PEM).
///
/// # Errors
///
/// The file cannot be read; the error names it.
pub fn private_pem(name: &str) -> io::Result<String> {
    KeyDir::default().private_pem(name)
}

/// The public key `name` (`testdata/keys/NAME.pub.pem`, SPKI PEM).
///
/// # Errors
///
/// The file cannot be read; the error names it.
pub fn public_pem(name: &str) -> io::Result<String> {
    KeyDir::default().public_pem(name)
}

/// The public key `name` as PKCS#1 PEM (`testdata/keys/NAME.pkcs1.pub.pem`,
/// RSA keys only).
///
/// # Errors
///
/// The file cannot be read; the error names it.
pub fn pkcs1_public_pem(name: &str) -> io::Result<String> {
    KeyDir::default().pkcs1_public_pem(name)
}

/// Standard base64 of the SPKI PEM of `name`, as ACK documents
/// `publicKeyData`.
///
/// # Errors
///
/// The file cannot be read; the error names it.
pub fn public_b64(name: &str) -> io::Result<String> {
    KeyDir::default().public_b64(name)
}

/// kritis' default key id of `name` (`testdata/keys/NAME.default-id.txt`,
/// computed with openssl; only some keys have one).
///
/// # Errors
///
/// The file cannot be read; the error names it.
pub fn default_id(name: &str) -> io::Result<String> {
    KeyDir::default().default_id(name)
}

/// A folder of keys laid out as `testdata/keys/` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDir {
    path: PathBuf,
}

impl Default for KeyDir {
    /// The repository's `testdata/keys/`.
    fn default() -> Self {
        Self::new(keys_dir())
    }
}

impl KeyDir {
    /// The keys of `path`.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The folder.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `NAME.key.pem`: the private key, PKCS#8 PEM.
    ///
    /// # Errors
    ///
    /// The file cannot be read; the error names it.
    pub fn private_pem(&self, name: &str) -> io::Result<String> {
        self.read(&format!("{name}.key.pem"))
    }

    /// `NAME.pub.pem`: the public key, SPKI PEM.
    ///
    /// # Errors
    ///
    /// The file cannot be read; the error names it.
    pub fn public_pem(&self, name: &str) -> io::Result<String> {
        self.read(&format!("{name}.pub.pem"))
    }

    /// `NAME.pkcs1.pub.pem`: an RSA public key as PKCS#1 PEM.
    ///
    /// # Errors
    ///
    /// The file cannot be read; the error names it.
    pub fn pkcs1_public_pem(&self, name: &str) -> io::Result<String> {
        self.read(&format!("{name}.pkcs1.pub.pem"))
    }

    /// Standard base64 of `NAME.pub.pem`, as ACK documents `publicKeyData`.
    ///
    /// # Errors
    ///
    /// The file cannot be read; the error names it.
    pub fn public_b64(&self, name: &str) -> io::Result<String> {
        let pem = self.public_pem(name)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(pem))
    }

    /// `NAME.default-id.txt`: kritis' default key id, without any trailing
    /// newline.
    ///
    /// # Errors
    ///
    /// The file cannot be read; the error names it.
    pub fn default_id(&self, name: &str) -> io::Result<String> {
        Ok(self
            .read(&format!("{name}.default-id.txt"))?
            .trim_end()
            .to_owned())
    }

    fn read(&self, file: &str) -> io::Result<String> {
        let path = self.path.join(file);
        std::fs::read_to_string(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_halves_of_a_key() {
        let private = private_pem("rsa2048").unwrap();
        assert!(
            private.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{private}"
        );
        let public = public_pem("rsa2048").unwrap();
        assert!(
            public.starts_with("-----BEGIN PUBLIC KEY-----\n"),
            "{public}"
        );
        let pkcs1 = pkcs1_public_pem("rsa2048").unwrap();
        assert!(
            pkcs1.starts_with("-----BEGIN RSA PUBLIC KEY-----\n"),
            "{pkcs1}"
        );
    }

    #[test]
    fn public_b64_is_the_base64_of_the_spki_pem() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(public_b64("p256").unwrap())
            .unwrap();
        assert_eq!(decoded, public_pem("p256").unwrap().into_bytes());
    }

    #[test]
    fn default_id_has_no_trailing_newline() {
        let id = default_id("rsa2048").unwrap();
        assert!(!id.is_empty() && !id.ends_with('\n'), "{id:?}");
    }

    #[test]
    fn a_missing_key_names_its_file() {
        let err = KeyDir::new("/nonexistent")
            .private_pem("rsa2048")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/rsa2048.key.pem: "),
            "{err}"
        );
    }
}
