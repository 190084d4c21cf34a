//! Tests of the view as read from objects of every kind.

use super::*;
use serde_json::json;
use serde_json::value::RawValue;

fn raw(v: serde_json::Value) -> Box<RawValue> {
    RawValue::from_string(v.to_string()).unwrap()
}

fn images(w: &Workload<'_>, shape: Shape) -> Vec<(String, String)> {
    w.images
        .iter()
        .map(|u| (u.site.path(shape), u.text().unwrap_or("-").to_owned()))
        .collect()
}

fn pod_spec() -> serde_json::Value {
    json!({
        "containers": [{"name": "a", "image": "img-a"}, {"name": "b", "image": "img-b"}],
        "initContainers": [{"name": "i", "image": "img-i"}],
        "ephemeralContainers": [{"name": "e", "image": "img-e"}],
        "volumes": [
            {"name": "cfg", "configMap": {"name": "x"}},
            {"name": "tools", "image": {"reference": "img-v", "pullPolicy": "IfNotPresent"}}
        ]
    })
}

fn expected(shape: Shape) -> Vec<(String, String)> {
    let base = shape.pod_spec_path();
    [
        ("containers[0]", "img-a"),
        ("containers[1]", "img-b"),
        ("initContainers[0]", "img-i"),
        ("ephemeralContainers[0]", "img-e"),
        ("volumes[1]", "img-v"),
    ]
    .map(|(p, s)| (format!("{base}{p}"), s.to_owned()))
    .to_vec()
}

#[test]
fn every_shape_and_every_list() {
    let ann = json!({"kritis.grafeas.io/attestations": "[1]", "kritis.grafeas.io/breakglass": "yes", "other": "x"});
    let tann = json!({"kritis.grafeas.io/attestations": "[2]"});
    let template = json!({"metadata": {"annotations": tann}, "spec": pod_spec()});
    // A Pod's own annotation counts; a controller's counts only in its
    // pod template (the Pods never see the controller's own metadata).
    let objects = [
        (
            Shape::Pod,
            json!({"metadata": {"annotations": ann, "namespace": "ns"}, "spec": pod_spec()}),
            "[1]",
            false,
        ),
        (
            Shape::Template,
            json!({"metadata": {"annotations": ann}, "spec": {"template": template}}),
            "[2]",
            true,
        ),
        (
            Shape::CronJob,
            json!({"metadata": {"annotations": ann}, "spec": {"jobTemplate": {"spec": {"template": template}}}}),
            "[2]",
            true,
        ),
    ];
    for (shape, object, counted, misplaced) in objects {
        let r = raw(object);
        let w = read(&r, shape).unwrap();
        assert_eq!(images(&w, shape), expected(shape), "{shape:?}");
        assert_eq!(w.attestations, [counted], "{shape:?}");
        assert_eq!(w.misplaced_attestations, misplaced, "{shape:?}");
        assert!(w.breakglass);
    }
}

#[test]
fn image_volume_pointers_and_paths() {
    assert_eq!(
        Site::Volume(2).pointer(Shape::Template),
        "/spec/template/spec/volumes/2/image/reference"
    );
    assert_eq!(
        Site::Volume(0).path(Shape::CronJob),
        "spec.jobTemplate.spec.template.spec.volumes[0]"
    );
    assert_eq!(
        Site::Container(ContainerList::EphemeralContainers, 1).pointer(Shape::EphemeralContainers),
        "/ephemeralContainers/1/image"
    );
}

#[test]
fn image_volume_references_of_every_kind() {
    let r = raw(json!({"spec": {"volumes": [
        {"name": "a", "image": {}},
        {"name": "b", "image": {"reference": null}},
        {"name": "c", "image": {"reference": ""}},
        {"name": "d", "image": {"reference": 5}},
        {"name": "e", "image": {"reference": ["x"]}},
        {"name": "f", "image": {"reference": {"x": 1}}},
        {"name": "g", "image": {"reference": true}},
        {"name": "h", "image": null},
        {"name": "i", "image": {"reference": "plain"}}
    ]}}));
    let w = read(&r, Shape::Pod).unwrap();
    let got: Vec<(Site, ImageField<'_>)> =
        w.images.iter().map(|u| (u.site, u.image.clone())).collect();
    assert_eq!(
        got,
        vec![
            (Site::Volume(0), ImageField::Missing),
            (Site::Volume(1), ImageField::Missing),
            (Site::Volume(2), ImageField::Text("".into())),
            (Site::Volume(3), ImageField::NotText("a number")),
            (Site::Volume(4), ImageField::NotText("an array")),
            (Site::Volume(5), ImageField::NotText("an object")),
            (Site::Volume(6), ImageField::NotText("a boolean")),
            (Site::Volume(8), ImageField::Text("plain".into())),
        ]
    );
    // An escaped string is read too (owned, not borrowed).
    let esc = RawValue::from_string(
        r#"{"spec":{"volumes":[{"image":{"reference":"esc\u0061ped"}}]}}"#.into(),
    )
    .unwrap();
    let w = read(&esc, Shape::Pod).unwrap();
    assert_eq!(w.images[0].text(), Some("escaped"));
    // A source that is not an object, or a doubled reference, is refused.
    assert!(read(
        &raw(json!({"spec": {"volumes": [{"image": "x"}]}})),
        Shape::Pod
    )
    .is_err());
    let dup = RawValue::from_string(
        r#"{"spec":{"volumes":[{"image":{"reference":"a","reference":"b"}}]}}"#.into(),
    )
    .unwrap();
    assert!(read(&dup, Shape::Pod).is_err());
}

#[test]
fn old_ephemeral_containers_object() {
    let r = raw(json!({"apiVersion": "v1", "kind": "EphemeralContainers",
        "metadata": {"name": "p", "namespace": "ns", "annotations": {"kritis.grafeas.io/attestations": "[]"}},
        "ephemeralContainers": [{"name": "debugger", "image": "busybox:1"}]}));
    let w = read(&r, Shape::EphemeralContainers).unwrap();
    assert_eq!(
        images(&w, Shape::EphemeralContainers),
        vec![("ephemeralContainers[0]".to_owned(), "busybox:1".to_owned())]
    );
    assert_eq!(w.attestations.len(), 1);
    assert_eq!(w.namespace.as_deref(), Some("ns"));
}

#[test]
fn kinds() {
    assert_eq!(
        Shape::of("", "EphemeralContainers"),
        Some(Shape::EphemeralContainers)
    );
    assert_eq!(Shape::of("", "Pod"), Some(Shape::Pod));
    assert_eq!(Shape::of("apps", "StatefulSet"), Some(Shape::Template));
    assert_eq!(Shape::of("batch", "CronJob"), Some(Shape::CronJob));
    assert_eq!(Shape::of("", "ConfigMap"), None);
    assert_eq!(Shape::of("example.com", "Pod"), None);
}

#[test]
fn nulls_and_absences_are_empty() {
    let r = raw(json!({"metadata": {"annotations": null}, "spec": {"containers": null}}));
    let w = read(&r, Shape::Pod).unwrap();
    assert!(w.images.is_empty() && w.attestations.is_empty() && !w.breakglass);
    let r = raw(json!({"spec": {"template": null}}));
    assert!(read(&r, Shape::Template).unwrap().images.is_empty());
}

#[test]
fn malformed_objects_are_errors() {
    for bad in [
        json!({"spec": {"containers": [{"image": 5}]}}),
        json!({"spec": {"containers": {"image": "x"}}}),
        json!({"metadata": {"annotations": {"kritis.grafeas.io/attestations": []}}}),
        json!({"spec": {"initContainers": "x"}}),
    ] {
        assert!(read(&raw(bad.clone()), Shape::Pod).is_err(), "{bad}");
    }
    let dup =
        RawValue::from_string(r#"{"spec":{"containers":[{"image":"a","image":"b"}]}}"#.into())
            .unwrap();
    assert!(read(&dup, Shape::Pod).is_err());
}

#[test]
fn container_without_image_is_kept() {
    let r = raw(json!({"spec": {"containers": [{"name": "x"}]}}));
    let w = read(&r, Shape::Pod).unwrap();
    assert_eq!(w.images.len(), 1);
    assert_eq!(w.images[0].image, ImageField::Missing);
}
