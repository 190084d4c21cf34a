//! Scenarios read from the golden cases in `e2e-tests/golden`.

use super::*;

/// The golden cases, whose fixtures `e2e-tests/fixtures/generate.py`
/// writes in the host's exact wire shapes (real certificates and
/// signatures of the TEST-ONLY Sigstore instance in `testdata/sigstore/`).
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../e2e-tests/golden");
/// The golden case of the keyless path: one image, one keyless authority
/// (issuer + subject), the host says trusted and serves the `.sig`
/// manifest with one honest layer.
pub(crate) const KEYLESS_CASE: &str = "keyless-subject-verified";

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// A golden case's settings, AdmissionRequest and host fixtures.
pub(crate) struct Golden {
    pub(crate) settings: Value,
    pub(crate) request: Value,
    pub(crate) fixtures: Vec<Fixture>,
}

impl Golden {
    pub(crate) fn load(name: &str) -> Result<Self> {
        let dir = Path::new(GOLDEN).join(name);
        let settings = read_json(&dir.join("settings.json"))?;
        let request = match read_json(&dir.join("request.json"))? {
            Value::Object(mut m) => m.remove("request"),
            _ => None,
        }
        .with_context(|| format!("{name}/request.json holds no `request`"))?;
        let fixtures = serde_json::from_value(read_json(&dir.join("host-capabilities.json"))?)
            .with_context(|| format!("{name}/host-capabilities.json: not fixtures"))?;
        Ok(Self {
            settings,
            request,
            fixtures,
        })
    }

    /// The golden case as an admitted main scenario answered by its own
    /// host fixtures (scenarios 9 and 10).
    pub(crate) fn scenario(self, id: &'static str, title: &str) -> Result<Scenario> {
        let mut s = Scenario::new(id, title, Group::Main, self.settings, self.request, true)?;
        s.fixtures = self.fixtures;
        Ok(s)
    }

    /// The fixture of `operation`.
    pub(crate) fn fixture(&self, operation: &str) -> Result<&Fixture> {
        self.fixtures
            .iter()
            .find(|f| f.operation == operation)
            .with_context(|| format!("{KEYLESS_CASE}: no {operation} fixture"))
    }
}

/// 9: the keyless path through the fixture host, exactly the golden case:
/// `oci`/`v2/verify` (`SigstoreKeylessVerify`) answers trusted, then the
/// policy reads the `.sig` manifest (`oci`/`v1/oci_manifest`) and checks its
/// certificate layer itself (a P-256 verification and the Rekor bundle).
pub(super) fn keyless() -> Result<Scenario> {
    Golden::load(KEYLESS_CASE)?.scenario(
        "9",
        "Pod, 1 image, 1 keyless authority (issuer + subject) proven by the registry source: fixture host answers oci/v2/verify (trusted) and oci/v1/oci_manifest (1 honest certificate layer, checked in-module)",
    )
}
