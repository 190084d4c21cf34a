//! The admitted object, seen only through what the policy needs: its
//! containers' images, its attestation annotations and its break-glass mark.
//!
//! A narrow borrowed view rather than the full `k8s-openapi` types: the
//! policy runs in a fresh instance for every admission, and deserialising a
//! whole Pod or Deployment into owned structs would spend most of the
//! evaluation allocating fields nobody reads. Fields that are read are typed
//! strictly, so a malformed object is refused, never half-read.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::settings::Text;

/// How a kind embeds its pod spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `spec` is the PodSpec.
    Pod,
    /// `spec.template` is a PodTemplateSpec (Deployment, ReplicaSet,
    /// StatefulSet, DaemonSet, Job, ReplicationController).
    Template,
    /// `spec.jobTemplate.spec.template` is a PodTemplateSpec.
    CronJob,
}

impl Shape {
    /// The shape of a kind, or `None` for kinds that run no images.
    #[must_use]
    pub fn of(group: &str, kind: &str) -> Option<Shape> {
        match (group, kind) {
            ("", "Pod") => Some(Shape::Pod),
            ("", "ReplicationController")
            | ("apps" | "extensions", "Deployment" | "ReplicaSet" | "DaemonSet")
            | ("apps", "StatefulSet")
            | ("batch", "Job") => Some(Shape::Template),
            ("batch", "CronJob") => Some(Shape::CronJob),
            _ => None,
        }
    }

    /// JSON pointer of the pod spec inside the object.
    #[must_use]
    pub fn pod_spec_pointer(self) -> &'static str {
        match self {
            Shape::Pod => "/spec",
            Shape::Template => "/spec/template/spec",
            Shape::CronJob => "/spec/jobTemplate/spec/template/spec",
        }
    }
}

/// The three container lists of a pod spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerList {
    /// `containers`
    Containers,
    /// `initContainers`
    InitContainers,
    /// `ephemeralContainers`
    EphemeralContainers,
}

impl ContainerList {
    /// The field name.
    #[must_use]
    pub fn field(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }
}

/// One container's image, with where it was found.
#[derive(Debug)]
pub struct ContainerImage<'a> {
    /// Which list.
    pub list: ContainerList,
    /// Its index in the list.
    pub index: usize,
    /// The container's name.
    pub name: Option<Text<'a>>,
    /// The image as written; `None` when the container has none.
    pub image: Option<Text<'a>>,
}

/// What the policy reads of an object.
#[derive(Debug, Default)]
pub struct Workload<'a> {
    /// Every container of every list, in order.
    pub containers: Vec<ContainerImage<'a>>,
    /// Values of the attestation annotation: the object's, then its template's.
    pub attestations: Vec<Text<'a>>,
    /// The object's own metadata carries `kritis.grafeas.io/breakglass`.
    pub breakglass: bool,
    /// `metadata.namespace` of the object, if set.
    pub namespace: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    annotations: Option<Annotations<'a>>,
    #[serde(borrow, default)]
    namespace: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
struct Annotations<'a> {
    #[serde(rename = "kritis.grafeas.io/attestations", borrow, default)]
    attestations: Option<Text<'a>>,
    #[serde(rename = "kritis.grafeas.io/breakglass", default)]
    breakglass: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PodSpec<'a> {
    #[serde(borrow, default)]
    containers: Option<Vec<Container<'a>>>,
    #[serde(borrow, default)]
    init_containers: Option<Vec<Container<'a>>>,
    #[serde(borrow, default)]
    ephemeral_containers: Option<Vec<Container<'a>>>,
}

#[derive(Deserialize)]
struct Container<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    image: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
struct PodTemplate<'a> {
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow, default)]
    spec: Option<PodSpec<'a>>,
}

#[derive(Deserialize)]
struct PodObject<'a> {
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow, default)]
    spec: Option<PodSpec<'a>>,
}

#[derive(Deserialize, Default)]
struct TemplateSpec<'a> {
    #[serde(borrow, default)]
    template: Option<PodTemplate<'a>>,
}

#[derive(Deserialize)]
struct TemplateObject<'a> {
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow, default)]
    spec: Option<TemplateSpec<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CronJobSpec<'a> {
    #[serde(borrow, default)]
    job_template: Option<JobTemplate<'a>>,
}

#[derive(Deserialize, Default)]
struct JobTemplate<'a> {
    #[serde(borrow, default)]
    spec: Option<TemplateSpec<'a>>,
}

#[derive(Deserialize)]
struct CronJobObject<'a> {
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow, default)]
    spec: Option<CronJobSpec<'a>>,
}

/// `apiVersion` and `kind` of an object, for requests that lack `request.kind`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta<'a> {
    /// `group/version`, or `version` for the core group.
    #[serde(borrow, default)]
    pub api_version: Option<Text<'a>>,
    /// The kind.
    #[serde(borrow, default)]
    pub kind: Option<Text<'a>>,
}

/// Reads the workload view of an object of the given shape.
///
/// # Errors
/// The JSON error when the object does not have the shape of its kind.
pub fn read<'a>(object: &'a RawValue, shape: Shape) -> Result<Workload<'a>, serde_json::Error> {
    let json = object.get();
    let (metadata, template_metadata, spec) = match shape {
        Shape::Pod => {
            let o: PodObject<'a> = serde_json::from_str(json)?;
            (o.metadata, None, o.spec)
        }
        Shape::Template => {
            let o: TemplateObject<'a> = serde_json::from_str(json)?;
            let t = o.spec.and_then(|s| s.template).unwrap_or_default();
            (o.metadata, t.metadata, t.spec)
        }
        Shape::CronJob => {
            let o: CronJobObject<'a> = serde_json::from_str(json)?;
            let t = o
                .spec
                .and_then(|s| s.job_template)
                .and_then(|j| j.spec)
                .and_then(|s| s.template)
                .unwrap_or_default();
            (o.metadata, t.metadata, t.spec)
        }
    };
    let metadata = metadata.unwrap_or_default();
    let own = metadata.annotations.unwrap_or_default();
    let mut w = Workload {
        breakglass: own.breakglass.is_some(),
        namespace: metadata.namespace,
        ..Workload::default()
    };
    w.attestations.extend(own.attestations);
    if let Some(t) = template_metadata.and_then(|m| m.annotations) {
        w.attestations.extend(t.attestations);
    }
    let spec = spec.unwrap_or_default();
    for (list, containers) in [
        (ContainerList::Containers, spec.containers),
        (ContainerList::InitContainers, spec.init_containers),
        (
            ContainerList::EphemeralContainers,
            spec.ephemeral_containers,
        ),
    ] {
        for (index, c) in containers.unwrap_or_default().into_iter().enumerate() {
            w.containers.push(ContainerImage {
                list,
                index,
                name: c.name,
                image: c.image,
            });
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(v: serde_json::Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).unwrap()
    }

    fn images(w: &Workload<'_>) -> Vec<(String, usize, String)> {
        w.containers
            .iter()
            .map(|c| {
                (
                    c.list.field().to_owned(),
                    c.index,
                    c.image.as_deref().unwrap_or("-").to_owned(),
                )
            })
            .collect()
    }

    fn pod_spec() -> serde_json::Value {
        json!({
            "containers": [{"name": "a", "image": "img-a"}, {"name": "b", "image": "img-b"}],
            "initContainers": [{"name": "i", "image": "img-i"}],
            "ephemeralContainers": [{"name": "e", "image": "img-e"}]
        })
    }

    fn expected() -> Vec<(String, usize, String)> {
        [
            ("containers", 0, "img-a"),
            ("containers", 1, "img-b"),
            ("initContainers", 0, "img-i"),
            ("ephemeralContainers", 0, "img-e"),
        ]
        .map(|(l, i, s)| (l.to_owned(), i, s.to_owned()))
        .to_vec()
    }

    #[test]
    fn every_shape_and_every_list() {
        let ann = json!({"kritis.grafeas.io/attestations": "[1]", "kritis.grafeas.io/breakglass": "yes", "other": "x"});
        let tann = json!({"kritis.grafeas.io/attestations": "[2]"});
        let template = json!({"metadata": {"annotations": tann}, "spec": pod_spec()});
        let objects = [
            (
                Shape::Pod,
                json!({"metadata": {"annotations": ann, "namespace": "ns"}, "spec": pod_spec()}),
                1,
            ),
            (
                Shape::Template,
                json!({"metadata": {"annotations": ann}, "spec": {"template": template}}),
                2,
            ),
            (
                Shape::CronJob,
                json!({"metadata": {"annotations": ann}, "spec": {"jobTemplate": {"spec": {"template": template}}}}),
                2,
            ),
        ];
        for (shape, object, n) in objects {
            let r = raw(object);
            let w = read(&r, shape).unwrap();
            assert_eq!(images(&w), expected(), "{shape:?}");
            assert_eq!(w.attestations.len(), n);
            assert!(w.breakglass);
        }
    }

    #[test]
    fn kinds() {
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
        assert!(w.containers.is_empty() && w.attestations.is_empty() && !w.breakglass);
        let r = raw(json!({"spec": {"template": null}}));
        assert!(read(&r, Shape::Template).unwrap().containers.is_empty());
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
        assert_eq!(w.containers.len(), 1);
        assert!(w.containers[0].image.is_none());
    }
}
