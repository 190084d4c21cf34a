//! `policy-harness sign`: an attestation as the policy reads it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::sign::{attest, payload_for, DigestReference, RsaScheme, SigningKey};

/// `policy-harness sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Private key, PEM: RSA (PKCS#8 / PKCS#1) or EC P-256/P-384 (PKCS#8 / SEC1).
    #[arg(long, value_name = "KEY.pem")]
    pub key: PathBuf,
    /// `publicKeyId` written in the attestation.
    #[arg(long, value_name = "ID")]
    pub key_id: String,
    /// Image to attest: REPO@sha256:HEX.
    #[arg(
        long,
        value_name = "REPO@sha256:HEX",
        required_unless_present = "payload"
    )]
    pub image: Option<String>,
    /// Sign these exact bytes instead of the generated payload.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["image", "identity"])]
    pub payload: Option<PathBuf>,
    /// RSA scheme: pkcs1 (PKCS#1 v1.5, default) or pss (PSS, salt 32).
    #[arg(long, value_name = "pkcs1|pss")]
    pub scheme: Option<RsaScheme>,
    /// docker-reference written in the payload (default: the image's repository).
    #[arg(long, value_name = "REPO")]
    pub identity: Option<String>,
}

/// `policy-harness sign`: prints the attestation on stdout.
pub fn handle(args: &SignArgs) -> Result<()> {
    let pem = std::fs::read_to_string(&args.key)
        .with_context(|| format!("cannot read key file {}", args.key.display()))?;
    let key = SigningKey::from_pem(&pem)
        .with_context(|| format!("invalid key file {}", args.key.display()))?;
    let payload = match (&args.payload, &args.image) {
        (Some(path), _) => std::fs::read(path)
            .with_context(|| format!("cannot read payload file {}", path.display()))?,
        (None, Some(image)) => {
            payload_for(&DigestReference::parse(image)?, args.identity.as_deref())?
        }
        (None, None) => anyhow::bail!("either --image or --payload is required"),
    };
    let attestation = attest(&key, &args.key_id, &payload, args.scheme)?;
    println!(
        "{}",
        serde_json::to_string(&attestation).context("cannot serialize the attestation")?
    );
    Ok(())
}
