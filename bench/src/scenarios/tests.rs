use super::*;

fn scenarios() -> Vec<Scenario> {
    all(&Keys::load(&KeyDir::default()).unwrap()).unwrap()
}

#[test]
fn ids_are_unique_and_in_report_order() {
    let ids: Vec<&str> = scenarios().iter().map(|s| s.id).collect();
    assert_eq!(
        ids,
        [
            "1",
            "2",
            "3a",
            "3b",
            "4",
            "5",
            "6",
            "7a",
            "7b",
            "7c",
            "8",
            "9",
            "10",
            "10b",
            "sig-rsa2048-1",
            "sig-rsa2048-k",
            "sig-rsa4096-1",
            "sig-rsa4096-k",
            "sig-p256-1",
            "sig-p256-k",
            "w0",
            "w1",
            "w2",
            "w3",
            "w4",
            "w5"
        ]
    );
}

#[test]
fn payload_is_request_and_settings() {
    for s in scenarios() {
        let payload: Value = serde_json::from_slice(&s.payload).unwrap();
        let settings: Value = serde_json::from_slice(&s.settings).unwrap();
        assert_eq!(payload["settings"], settings, "{}", s.id);
        assert_eq!(payload["request"]["operation"], "CREATE", "{}", s.id);
    }
}

#[test]
fn slope_scenarios_carry_extra_signatures() {
    let all = scenarios();
    let count = |id: &str| {
        let s = all.iter().find(|s| s.id == id).unwrap();
        let payload: Value = serde_json::from_slice(&s.payload).unwrap();
        let annotation = payload["request"]["object"]["metadata"]["annotations"]
            [objects::ATTESTATIONS_ANNOTATION]
            .as_str()
            .unwrap()
            .to_owned();
        let atts: Value = serde_json::from_str(&annotation).unwrap();
        atts[0]["signatures"].as_array().unwrap().len()
    };
    assert_eq!(count("sig-p256-1"), 1);
    assert_eq!(count("sig-rsa2048-k"), EXTRA_SIGNATURES + 1);
}

#[test]
fn testkit_payload_is_the_signers_payload() {
    let img = image(APP, "1");
    let reference = DigestReference::parse(&img).unwrap();
    assert_eq!(
        payload_for(&reference, None).unwrap(),
        objects::simple_signing_payload(APP, &reference.digest)
    );
}
