//! `policy-harness sign`: an attestation as the policy reads it (`--format
//! kritis`, the default), or a cosign signature (`--format cosign`), printed
//! or written to the registry next to the image (`--push`). `--into
//! MANIFEST` writes the attestation where the manifest's Pods carry it.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{anyhow, bail, ensure, Context, Result};
use base64::Engine as _;
use clap::Args;
use serde::Serialize;

use crate::oci::cosign::{
    parse_image, push_annotated_layer, push_signature, resolve_image, signature_reference,
    RegistryStore, ResolvedImage, SignatureStore,
};
use crate::oci::keyless::sign::{keyless_annotations, KeylessSignArgs};
use crate::oci::registry::RegistryOptions;
use crate::sign::attach::{
    attach, AttestedImage, Change, ATTESTATIONS_ANNOTATION, MAX_MANIFEST_BYTES,
};
use crate::sign::{
    attest, cosign_payload, payload_for, DigestReference, RsaScheme, SignedAttestation, SigningKey,
};

/// What `sign` produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignFormat {
    /// A kritis attestation (JSON), for the `kritis.grafeas.io/attestations` annotation.
    #[default]
    Kritis,
    /// A cosign signature (`.sig` format), printed or pushed to the registry.
    Cosign,
}

impl FromStr for SignFormat {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "kritis" => Ok(Self::Kritis),
            "cosign" => Ok(Self::Cosign),
            other => bail!("unknown format {other:?} (expected `kritis` or `cosign`)"),
        }
    }
}

impl fmt::Display for SignFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Kritis => "kritis",
            Self::Cosign => "cosign",
        })
    }
}

/// `policy-harness sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Private key, PEM: RSA (PKCS#8 / PKCS#1) or EC P-256/P-384 (PKCS#8 / SEC1).
    #[arg(long, value_name = "KEY.pem")]
    pub key: PathBuf,
    /// `publicKeyId` written in the attestation (`--format kritis`). Default:
    /// kritis's default id of the key, `ni:///sha-256;…` of its DER public
    /// key, the id an authority written without `publicKeyId` has.
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
    /// kritis: write the attestation into this manifest (`-`: stdin to
    /// stdout) instead of printing it: into `kritis.grafeas.io/attestations`
    /// of every Pod (metadata.annotations) and pod template
    /// (spec.template.metadata.annotations; CronJob:
    /// spec.jobTemplate.spec.template.metadata.annotations) that runs the
    /// image, appended to the attestations there. The file is rewritten with
    /// serde_yaml: keys, order and values are kept; comments, blank lines,
    /// quoting and flow style are not; a value kubectl would read otherwise
    /// once rewritten is refused.
    #[arg(long, value_name = "MANIFEST.yaml", conflicts_with = "payload")]
    pub into: Option<PathBuf>,
    /// Image to sign: REPO@sha256:HEX (kritis); REPO@sha256:HEX or
    /// REPO:TAG@sha256:HEX, or REPO:TAG with --push (cosign).
    #[arg(long, value_name = "IMAGE", required_unless_present = "payload")]
    pub image: Option<String>,
    /// Sign these exact bytes instead of the generated payload.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["image", "identity"])]
    pub payload: Option<PathBuf>,
    /// RSA scheme: pkcs1 (PKCS#1 v1.5, default) or pss (PSS, salt 32; kritis only).
    #[arg(long, value_name = "pkcs1|pss")]
    pub scheme: Option<RsaScheme>,
    /// docker-reference written in the payload (default: the image's repository).
    #[arg(long, value_name = "REPO")]
    pub identity: Option<String>,
    /// `kritis` (default): an attestation; `cosign`: a cosign signature.
    #[arg(long, value_name = "kritis|cosign", default_value_t = SignFormat::Kritis)]
    pub format: SignFormat,
    /// cosign: write the signature to the image's `sha256-HEX.sig` manifest.
    #[arg(long)]
    pub push: bool,
    /// cosign: an annotation signed in the payload's `optional` map (repeatable).
    #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// cosign --push: a registry (HOST:PORT) reached over plain HTTP; loopback
    /// ones always are (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// cosign, TEST TOOL: keyless-style signatures (certificate, chain, Rekor bundle).
    #[command(flatten)]
    pub keyless: KeylessSignArgs,
}

/// What `sign --format cosign` prints (one JSON line).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CosignOutput {
    /// `HOST/REPO@sha256:…` (absent with --payload).
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<String>,
    /// `HOST/REPO:sha256-….sig`, where the signature goes (absent with --payload).
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_tag: Option<String>,
    /// Standard base64 of the exact payload bytes.
    payload: String,
    /// Standard base64 of the signature (the layer annotation's value).
    signature: String,
    /// With --push: the digest of the `.sig` manifest written.
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_manifest_digest: Option<String>,
}

/// `policy-harness sign`: prints the attestation or the signature on stdout.
pub fn handle(args: &SignArgs) -> Result<()> {
    let pem = std::fs::read_to_string(&args.key)
        .with_context(|| format!("cannot read key file {}", args.key.display()))?;
    let key = SigningKey::from_pem(&pem)
        .with_context(|| format!("invalid key file {}", args.key.display()))?;
    match args.format {
        SignFormat::Kritis => kritis(args, &key),
        SignFormat::Cosign => cosign(args, &key),
    }
}

fn kritis(args: &SignArgs, key: &SigningKey) -> Result<()> {
    ensure!(
        !args.push
            && args.annotations.is_empty()
            && args.insecure_registry.is_empty()
            && !args.keyless.is_keyless(),
        "--push, --annotation, --insecure-registry and --certificate apply to --format cosign only"
    );
    ensure!(
        args.into.is_none() || args.image.is_some(),
        "--into needs --image: the attestation goes to the objects that run that image"
    );
    let key_id = match &args.key_id {
        Some(id) => id.clone(),
        None => key.default_key_id()?,
    };
    let payload = match (&args.payload, &args.image) {
        (Some(path), _) => std::fs::read(path)
            .with_context(|| format!("cannot read payload file {}", path.display()))?,
        (None, Some(image)) => {
            payload_for(&DigestReference::parse(image)?, args.identity.as_deref())?
        }
        (None, None) => bail!("either --image or --payload is required"),
    };
    let attestation = attest(key, &key_id, &payload, args.scheme)?;
    if let (Some(into), Some(image)) = (&args.into, &args.image) {
        let image = DigestReference::parse(image)?;
        let identity = args
            .identity
            .as_deref()
            .unwrap_or_else(|| image.repository());
        return write_into(
            into,
            &attestation,
            &AttestedImage::new(identity, &image.digest),
        );
    }
    println!(
        "{}",
        serde_json::to_string(&attestation).context("cannot serialize the attestation")?
    );
    Ok(())
}

/// `--into MANIFEST`: the manifest rewritten with the attestation (in place,
/// through a temporary file renamed over it, so a failure leaves it as it
/// was; `-`: stdin to stdout); where it went, on stderr.
fn write_into(into: &Path, attestation: &SignedAttestation, image: &AttestedImage) -> Result<()> {
    let stdio = into.as_os_str() == "-";
    let shown = if stdio {
        "the manifest on stdin".to_owned()
    } else {
        into.display().to_string()
    };
    let text = if stdio {
        let mut text = String::new();
        std::io::stdin()
            .take(MAX_MANIFEST_BYTES as u64 + 1)
            .read_to_string(&mut text)
            .context("cannot read the manifest from stdin")?;
        text
    } else {
        let size = std::fs::metadata(into)
            .with_context(|| format!("cannot read {shown}"))?
            .len();
        ensure!(
            size <= MAX_MANIFEST_BYTES as u64,
            "{shown} is {size} bytes, more than {MAX_MANIFEST_BYTES}"
        );
        std::fs::read_to_string(into).with_context(|| format!("cannot read {shown}"))?
    };
    let attached = attach(&text, attestation, image).with_context(|| shown.clone())?;
    if stdio {
        print!("{}", attached.yaml);
    } else {
        let dir = into
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = into.file_name().context("--into names no file")?;
        let temporary = dir.join(format!(
            ".{}.policy-harness-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        std::fs::write(&temporary, &attached.yaml)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        // The rewritten file keeps the original's permissions (a manifest
        // kept 0600 stays so).
        if let Err(e) = std::fs::metadata(into)
            .and_then(|m| std::fs::set_permissions(&temporary, m.permissions()))
        {
            let _ = std::fs::remove_file(&temporary);
            return Err(e).with_context(|| format!("cannot keep the permissions of {shown}"));
        }
        if let Err(e) = std::fs::rename(&temporary, into) {
            let _ = std::fs::remove_file(&temporary);
            return Err(e).with_context(|| format!("cannot replace {shown}"));
        }
    }
    for placed in &attached.placed {
        let what = match placed.change {
            Change::Added(n) => format!("added (now {n} attestation(s))"),
            Change::Replaced => "replaced the signature this key made of this payload".to_owned(),
        };
        eprintln!(
            "policy-harness: {shown}: {}: {}[\"{ATTESTATIONS_ANNOTATION}\"]: {what}",
            placed.object, placed.path
        );
    }
    if attached.dropped_comments > 0 {
        eprintln!(
            "policy-harness: {shown}: {} comment line(s) dropped (serde_yaml keeps no comments)",
            attached.dropped_comments
        );
    }
    Ok(())
}

/// `--annotation KEY=VALUE`s, each key once.
fn parse_annotations(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut annotations = BTreeMap::new();
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| anyhow!("--annotation {pair:?}: expected KEY=VALUE"))?;
        ensure!(
            annotations.insert(k.to_owned(), v.to_owned()).is_none(),
            "--annotation {k:?} is given twice"
        );
    }
    Ok(annotations)
}

fn cosign(args: &SignArgs, key: &SigningKey) -> Result<()> {
    ensure!(
        args.key_id.is_none(),
        "--key-id applies to --format kritis only: a cosign signature names no key"
    );
    ensure!(
        args.into.is_none(),
        "--into applies to --format kritis only: a cosign signature lives in the registry"
    );
    ensure!(
        args.scheme != Some(RsaScheme::Pss),
        "--scheme pss: cosign's RSA signatures are PKCS#1 v1.5 (the only RSA scheme Kubewarden's \
         host verifies)"
    );
    ensure!(
        !args.push || args.image.is_some(),
        "--push needs --image (the signature is stored next to the image)"
    );
    ensure!(
        args.push || args.insecure_registry.is_empty(),
        "--insecure-registry applies to --push only"
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let annotations = parse_annotations(&args.annotations)?;
    let Some(image) = &args.image else {
        // --payload FILE: sign the bytes as they are.
        ensure!(
            annotations.is_empty(),
            "--annotation builds the payload: it cannot be used with --payload"
        );
        ensure!(
            !args.keyless.is_keyless(),
            "--certificate signs the image's payload: it needs --image, not --payload"
        );
        let path = args.payload.as_ref().context("--image or --payload")?;
        let payload = std::fs::read(path)
            .with_context(|| format!("cannot read payload file {}", path.display()))?;
        let signature = key.sign(&payload, Some(RsaScheme::Pkcs1))?;
        return print(&CosignOutput {
            image: None,
            signature_tag: None,
            payload: b64.encode(&payload),
            signature: b64.encode(signature),
            signature_manifest_digest: None,
        });
    };
    let options = RegistryOptions {
        plain_http: false,
        insecure_registries: args.insecure_registry.clone(),
        extra_roots: Default::default(),
    };
    let connect = |r: &oci_client::Reference| options.client(r);
    let store = if args.push {
        Some(RegistryStore::new(&parse_image(image)?, &connect)?)
    } else {
        None
    };
    let resolved = resolve_image(image, store.as_ref().map(|s| s as &dyn SignatureStore))?;
    if let Some(store) = &store {
        manifest_exists(store, &resolved)?;
    }
    let docker_reference = args
        .identity
        .clone()
        .unwrap_or_else(|| crate::oci::cosign::docker_reference(&resolved.reference));
    let payload = cosign_payload(&docker_reference, &resolved.digest, &annotations)?;
    // TEST TOOL: a keyless-style layer (certificate, chain, Rekor bundle).
    let layer_annotations = if args.keyless.is_keyless() {
        let replayed = match &args.keyless.replay_from {
            Some(digest) => Some(cosign_payload(&docker_reference, digest, &annotations)?),
            None => None,
        };
        Some(keyless_annotations(
            &args.keyless,
            key,
            &payload,
            replayed.as_deref(),
        )?)
    } else {
        None
    };
    let signature = match &layer_annotations {
        Some(a) => a
            .get(crate::oci::cosign::SIGNATURE_ANNOTATION)
            .cloned()
            .context("keyless signature")?,
        None => b64.encode(key.sign(&payload, Some(RsaScheme::Pkcs1))?),
    };
    let mut output = CosignOutput {
        image: Some(resolved.pinned()),
        signature_tag: Some(signature_reference(&resolved.reference, &resolved.digest)?.whole()),
        payload: b64.encode(&payload),
        signature,
        signature_manifest_digest: None,
    };
    if args.push {
        let pushed = match layer_annotations {
            Some(a) => push_annotated_layer(&resolved, &payload, a, &connect)?,
            None => push_signature(&resolved, &payload, &output.signature, &connect)?,
        };
        eprintln!(
            "policy-harness: signed {} with {}: {} {}",
            resolved.pinned(),
            key.describe(),
            if pushed.changed {
                "layer added to"
            } else {
                "the same signature was already in"
            },
            pushed.signature_tag
        );
        output.signature_manifest_digest = Some(pushed.manifest_digest);
    }
    print(&output)
}

/// `--push` of `REPO@sha256:…`: the registry must hold that manifest, as
/// cosign checks before signing, or the signature would sit in the registry
/// for an image nobody can pull (a digest mistyped, or pushed elsewhere). A
/// tag needs no check: resolving it asked the registry already.
fn manifest_exists(store: &dyn SignatureStore, image: &ResolvedImage) -> Result<()> {
    if image.reference.digest().is_none() {
        return Ok(());
    }
    let pinned = image.pinned();
    match store.resolve(&image.reference) {
        Ok(digest) if digest == image.digest => Ok(()),
        Ok(other) => bail!(
            "refusing to sign {pinned}: the registry answers digest {other} for it, not the \
             digest given"
        ),
        Err(e) => {
            let absent = ["manifest unknown", "MANIFEST_UNKNOWN", "not found", "404"]
                .iter()
                .any(|needle| e.contains(needle));
            if absent {
                bail!(
                    "refusing to sign {pinned}: the registry has no manifest with this digest \
                     ({e}); push the image first, or sign the digest the registry holds \
                     (`crane digest REPO:TAG`), as cosign refuses it too"
                )
            }
            bail!(
                "refusing to sign {pinned}: cannot check that the registry holds this manifest \
                 ({e})"
            )
        }
    }
}

fn print(output: &CosignOutput) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string(output).context("cannot serialize the signature")?
    );
    Ok(())
}
