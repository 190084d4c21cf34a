use super::*;
use crate::testkeys;

#[test]
fn rsa_spki_pkcs1_and_base64_forms() {
    let k = testkeys::rsa(2048);
    for data in [
        k.spki_pem.clone(),
        k.pkcs1_pem.clone(),
        k.spki_b64(),
        k.pkcs1_b64(),
    ] {
        let parsed = parse_key(&data, None).unwrap();
        assert!(matches!(parsed.key, PublicKey::Rsa(_)));
        assert_eq!(parsed.schemes, Schemes::RsaDefault);
    }
    // The default id is the same whichever form the key is given in.
    let id = default_key_id(&k.spki_pem).unwrap();
    assert!(id.starts_with("ni:///sha-256;"));
    assert_eq!(default_key_id(&k.pkcs1_b64()).unwrap(), id);
    assert_eq!(id, k.default_id());
}

#[test]
fn ec_keys() {
    let k = testkeys::p256();
    let parsed = parse_key(&k.spki_b64(), None).unwrap();
    assert_eq!(parsed.schemes, Schemes::Only(Algorithm::EcdsaSha256));
    assert_eq!(
        parse_key(&k.spki_pem, Some("RSA_PSS_SHA_256")).unwrap_err(),
        KeyError::AlgorithmMismatch("RSA_PSS_SHA_256", "EC P-256")
    );
}

/// P-384 keys decode to the in-house point type: the OpenSSL-made
/// fixture, its compressed form, and refusals (off the curve, x ≥ p,
/// the identity) with the same error as before (`KeyError::Der`).
#[test]
fn p384_keys() {
    let pem = include_str!("../../testdata/keys/p384.pub.pem");
    let parsed = parse_key(pem, None).unwrap();
    assert_eq!(parsed.schemes, Schemes::Only(Algorithm::EcdsaSha384));
    let PublicKey::P384(key) = &parsed.key else {
        panic!("not P-384");
    };
    assert_eq!(
        parse_key(pem, Some("ECDSA_SHA_256")).unwrap_err(),
        KeyError::AlgorithmMismatch("ECDSA_SHA_256", "EC P-384")
    );
    let (_, der) = pem_der(pem).unwrap();
    // The SPKI ends with the 97-byte uncompressed point, after the BIT
    // STRING's header and its unused-bits byte (`03 62 00`).
    let (head, point) = der.split_at(der.len() - 97);
    assert_eq!(head[head.len() - 3..], [0x03, 0x62, 0x00]);
    assert_eq!(point[..], key.to_sec1_bytes()[..]);
    let with_point = |p: &[u8]| {
        let mut d = head.to_vec();
        // SEQUENCE length and BIT STRING length follow the point's size.
        d[1] = d[1] - 97 + u8::try_from(p.len()).unwrap();
        let bit_string_len = d.len() - 2;
        d[bit_string_len] = u8::try_from(p.len() + 1).unwrap();
        d.extend_from_slice(p);
        parse_spki(&d)
    };
    assert!(matches!(with_point(point), Ok(PublicKey::P384(_))));
    let mut compressed = vec![0x02 | (point[96] & 1)];
    compressed.extend_from_slice(&point[1..49]);
    let Ok(PublicKey::P384(k)) = with_point(&compressed) else {
        panic!("compressed form refused");
    };
    assert_eq!(k.to_sec1_bytes()[..], point[..]);
    let mut off_curve = point.to_vec();
    off_curve[96] ^= 1;
    assert_eq!(with_point(&off_curve).unwrap_err(), KeyError::Der);
    let mut big_x = point.to_vec();
    big_x[1..49].fill(0xff);
    assert_eq!(with_point(&big_x).unwrap_err(), KeyError::Der);
    assert_eq!(with_point(&[0x00]).unwrap_err(), KeyError::Der);
    assert_eq!(with_point(&point[..96]).unwrap_err(), KeyError::Der);
}

#[test]
fn algorithm_restrictions() {
    let k = testkeys::rsa(2048);
    let parsed = parse_key(&k.spki_pem, Some("RSA_PSS_SHA_256")).unwrap();
    assert_eq!(parsed.schemes, Schemes::Only(Algorithm::RsaPssSha256));
    assert_eq!(
        parse_key(&k.spki_pem, Some("ECDSA_SHA_256")).unwrap_err(),
        KeyError::AlgorithmMismatch("ECDSA_SHA_256", "RSA")
    );
    assert_eq!(
        parse_key(&k.spki_pem, Some("rsa_pss_sha_256")).unwrap_err(),
        KeyError::UnknownAlgorithm
    );
    assert_eq!(
        parse_key(&k.spki_pem, Some("ECDSA_SHA_512")).unwrap_err(),
        KeyError::UnknownAlgorithm
    );
}

/// The fast path never accepts what `pem_rfc7468` refuses, nor decodes
/// differently: checked on real blocks and every one-byte change of them
/// (replaced, deleted, duplicated), and it is taken for the real blocks.
#[test]
fn pem_fast_path() {
    let (_, leaf) = testkeys::sigstore_leaf();
    let blocks = [
        leaf.to_owned(),
        testkeys::SIGSTORE_CA.to_owned(),
        testkeys::p256().spki_pem.clone(),
        testkeys::rsa(2048).pkcs1_pem.clone(),
    ];
    let agree = |pem: &[u8]| match canonical_pem(pem) {
        None => true,
        Some((label, der)) => {
            pem_rfc7468::decode_vec(pem).is_ok_and(|(l, d)| l == label && d == der)
        }
    };
    let mut fast = 0;
    for block in &blocks {
        let pem = block.trim().as_bytes();
        let (label, der) = canonical_pem(pem).expect("a canonical block");
        assert_eq!(pem_rfc7468::decode_vec(pem).unwrap(), (label, der));
        for i in 0..pem.len() {
            for b in [b'A', b'Q', b'=', b'\n', b'-', b' ', b'\r'] {
                let mut m = pem.to_vec();
                m[i] = b;
                assert!(agree(&m), "{i} {b}");
                fast += usize::from(canonical_pem(&m).is_some());
            }
            let mut m = pem.to_vec();
            m.remove(i);
            assert!(agree(&m), "remove {i}");
            m.insert(i, pem[i]);
            m.insert(i, pem[i]);
            assert!(agree(&m), "duplicate {i}");
        }
    }
    // Many changes stay canonical (one base64 letter for another).
    assert!(fast > 1000, "{fast}");
}

#[test]
fn rejected_keys() {
    assert_eq!(parse_key("", None).unwrap_err(), KeyError::NotPem);
    assert_eq!(
        parse_key("not base64 !!", None).unwrap_err(),
        KeyError::NotPem
    );
    assert_eq!(parse_key("aGVsbG8=", None).unwrap_err(), KeyError::NotPem);
    let truncated = testkeys::rsa(2048)
        .spki_pem
        .replace("-----END PUBLIC KEY-----", "");
    assert_eq!(parse_key(&truncated, None).unwrap_err(), KeyError::NotPem);
    let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert_eq!(
        parse_key(cert, None).unwrap_err(),
        KeyError::Label("CERTIFICATE".into())
    );
    let garbage = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert_eq!(parse_key(garbage, None).unwrap_err(), KeyError::Der);
    assert_eq!(
        parse_key(&testkeys::rsa(1024).spki_pem, None).unwrap_err(),
        KeyError::RsaSize(1024)
    );
    assert_eq!(
        parse_key(testkeys::ED25519_SPKI_PEM, None).unwrap_err(),
        KeyError::Unsupported
    );
}
