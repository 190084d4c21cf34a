//! Arbitrary text as an image reference. When it parses, its parts must
//! reassemble into exactly the input (nothing dropped, nothing invented), the
//! normalised repository must itself parse back to the same repository, and
//! `same_as` must be reflexive.
#![no_main]

use kritis_attestation_policy::image::{parse_repository, Digest, ImageRef};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let Ok(r) = ImageRef::parse(input) else {
        return;
    };
    let mut rebuilt = r.name.to_owned();
    if let Some(tag) = r.tag {
        rebuilt.push(':');
        rebuilt.push_str(tag);
    }
    if let Some(d) = r.digest {
        rebuilt.push('@');
        rebuilt.push_str(d.as_str());
        assert_eq!(Digest::parse(d.as_str()), Ok(d), "digest does not reparse");
    }
    assert_eq!(rebuilt, input, "parts do not reassemble into the input");

    assert!(
        r.repository.same_as(&r.repository),
        "same_as is not reflexive"
    );

    let normalised = r.repository.to_string();
    let again = match ImageRef::parse(&normalised) {
        Ok(again) => again,
        Err(e) => panic!("normalised repository {normalised:?} of {input:?} does not reparse: {e}"),
    };
    assert!(
        again.repository.same_as(&r.repository),
        "normalised repository {normalised:?} of {input:?} reparses as another repository ({:?} vs {:?})",
        again.repository,
        r.repository
    );
    assert_eq!(
        again.repository.to_string(),
        normalised,
        "normalisation is not idempotent"
    );
    assert!(again.tag.is_none() && again.digest.is_none());
    // The `docker-reference` path of attestations goes through the same parser.
    assert!(parse_repository(input).is_ok_and(|p| p.same_as(&r.repository)));
});
