//! Where things sit in an object of each kind: how the kind embeds its pod
//! spec, the container lists, and an image's site as a JSON pointer (for
//! pinning) or a field path (for messages). Separate because it is pure
//! naming of places, used by the reader, the messages and the pinning alike.

/// How a kind embeds its pod spec (or, for the old ephemeral-containers
/// subresource, its container list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `spec` is the PodSpec.
    Pod,
    /// `spec.template` is a PodTemplateSpec (Deployment, ReplicaSet,
    /// StatefulSet, DaemonSet, Job, ReplicationController).
    Template,
    /// `spec.jobTemplate.spec.template` is a PodTemplateSpec.
    CronJob,
    /// `pods/ephemeralcontainers` as Kubernetes 1.16–1.21 sent it: kind
    /// `EphemeralContainers`, the list `ephemeralContainers` at the top level
    /// next to the Pod's metadata. Ignoring it would let `kubectl debug` add
    /// an unverified image to a running Pod on those clusters.
    EphemeralContainers,
}

impl Shape {
    /// The shape of a kind, or `None` for kinds that run no images.
    #[must_use]
    pub fn of(group: &str, kind: &str) -> Option<Shape> {
        match (group, kind) {
            ("", "Pod") => Some(Shape::Pod),
            ("", "EphemeralContainers") => Some(Shape::EphemeralContainers),
            ("", "ReplicationController")
            | ("apps" | "extensions", "Deployment" | "ReplicaSet" | "DaemonSet")
            | ("apps", "StatefulSet")
            | ("batch", "Job") => Some(Shape::Template),
            ("batch", "CronJob") => Some(Shape::CronJob),
            _ => None,
        }
    }

    /// JSON pointer of the pod spec inside the object (empty: the object
    /// itself holds the container list).
    #[must_use]
    pub fn pod_spec_pointer(self) -> &'static str {
        match self {
            Shape::Pod => "/spec",
            Shape::Template => "/spec/template/spec",
            Shape::CronJob => "/spec/jobTemplate/spec/template/spec",
            Shape::EphemeralContainers => "",
        }
    }

    /// Where the attestation annotation must sit for the Pods to carry it.
    #[must_use]
    pub fn attestations_path(self) -> &'static str {
        match self {
            Shape::Pod | Shape::EphemeralContainers => "metadata.annotations",
            Shape::Template => "spec.template.metadata.annotations",
            Shape::CronJob => "spec.jobTemplate.spec.template.metadata.annotations",
        }
    }

    /// The same place as a field path for messages, with its trailing dot.
    #[must_use]
    pub fn pod_spec_path(self) -> &'static str {
        match self {
            Shape::Pod => "spec.",
            Shape::Template => "spec.template.spec.",
            Shape::CronJob => "spec.jobTemplate.spec.template.spec.",
            Shape::EphemeralContainers => "",
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

/// Where an image is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// `<list>[index].image`.
    Container(ContainerList, usize),
    /// `volumes[index].image.reference` (an ImageVolume, KEP-4639: the
    /// kubelet pulls it like a container image).
    Volume(usize),
}

impl Site {
    /// JSON pointer of the image string inside the object.
    #[must_use]
    pub fn pointer(self, shape: Shape) -> String {
        let base = shape.pod_spec_pointer();
        match self {
            Site::Container(list, i) => format!("{base}/{}/{i}/image", list.field()),
            Site::Volume(i) => format!("{base}/volumes/{i}/image/reference"),
        }
    }

    /// Field path of the container or volume, for messages
    /// (`spec.template.spec.volumes[0]`).
    #[must_use]
    pub fn path(self, shape: Shape) -> String {
        let base = shape.pod_spec_path();
        match self {
            Site::Container(list, i) => format!("{base}{}[{i}]", list.field()),
            Site::Volume(i) => format!("{base}volumes[{i}]"),
        }
    }
}
