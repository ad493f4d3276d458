//! Which resource attributes travel with every span, as Google's own
//! exporters send them: a pure function of the resource, computed once per
//! distinct resource.
//!
//! # Rules
//!
//! 1. The service: `service.name` is sent as **`g.co/gae/app/module`**
//!    (what the Trace UI shows as the service) and as `service.name`.
//! 2. The **monitored resource**: the resource is mapped to a Cloud
//!    Monitoring resource type as Google's exporters map it, and each of
//!    its labels is sent as `g.co/r/<type>/<label>`. The rules follow
//!    `internal/resourcemapping/resourcemapping.go` in
//!    `GoogleCloudPlatform/opentelemetry-operations-go` (commit `d84f5e9`,
//!    July 2026; `ResourceAttributesToMonitoringMonitoredResource`, which
//!    its trace exporter uses):
//!    - `cloud.platform` = `gcp_compute_engine` → `gce_instance`,
//!      `gcp_app_engine` → `gae_instance` (from `faas.*`), `aws_ec2` →
//!      `aws_ec2_instance`, `gcp_bare_metal_solution` →
//!      `baremetalsolution.googleapis.com/Instance`;
//!    - otherwise any resource with `k8s.cluster.name` (GKE, EKS,
//!      minikube, bare metal) → `k8s_container`, `k8s_pod`, `k8s_node` or
//!      `k8s_cluster`, the most specific the attributes allow;
//!    - otherwise `generic_task` when `service.name` and
//!      `service.instance.id` (or `faas.name` and `faas.instance`) are
//!      set, else `generic_node`.
//!
//!    A label's keys are coalesced in order (`location` takes
//!    `cloud.availability_zone`, then `cloud.region`), skipping the
//!    `unknown_service:…` names SDKs make up when another key has a value.
//!    The generic types' `location` falls back to `global`. One choice
//!    differs from Google's: a label none of whose keys has a value is
//!    left out rather than sent empty, since Cloud Trace keeps only 32
//!    attributes per span.
//! 3. **Nothing else**, unless the operator opts in with a key regex
//!    (`tracespool upload --resource-labels REGEX`): resource attributes
//!    whose key matches are sent under their own key. `telemetry.sdk.*`
//!    never is: it travels in `g.co/agent`.
//!
//! Within Cloud Trace's 32 slots, `g.co/agent` and `g.co/gae/app/module`
//! come first, then the span's own attributes, then these labels in the
//! order above (see [`super::convert::select_attributes`]).

use std::borrow::Cow;

use regex::Regex;
use tracespool_schema::{Attribute, Resource};

/// The labels derived from one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceLabels {
    /// The service name, sent as `g.co/gae/app/module`.
    pub module: Option<String>,
    /// `service.name`, the `g.co/r/...` labels and the opted-in
    /// attributes, in that order: sent after the span's own attributes.
    pub labels: Vec<Attribute>,
}

/// One label of a monitored-resource type: its name, the resource keys
/// that fill it (coalesced in order) and the literal used when none does.
struct Label {
    name: &'static str,
    keys: &'static [&'static str],
    fallback: Option<&'static str>,
}

/// For each monitored-resource type: its labels, in label order.
type Mapping = &'static [Label];

const fn label(name: &'static str, keys: &'static [&'static str]) -> Label {
    Label {
        name,
        keys,
        fallback: None,
    }
}

const ZONE: &str = "cloud.availability_zone";
const REGION: &str = "cloud.region";
const ZONE_OR_REGION: &[&str] = &[ZONE, REGION];
/// Where a resource says nothing of its place, the generic types are
/// "global", as Google's mapping has them.
const GENERIC_LOCATION: Label = Label {
    name: "location",
    keys: ZONE_OR_REGION,
    fallback: Some("global"),
};
/// Service names the SDKs make up when none was set
/// (`unknown_service:<process>`): any other key is preferred to them.
const UNKNOWN_SERVICE: &str = "unknown_service";

const GCE_INSTANCE: Mapping = &[label("instance_id", &["host.id"]), label("zone", &[ZONE])];
const K8S_CONTAINER: Mapping = &[
    label("cluster_name", &["k8s.cluster.name"]),
    label("container_name", &["k8s.container.name"]),
    label("location", ZONE_OR_REGION),
    label("namespace_name", &["k8s.namespace.name"]),
    label("pod_name", &["k8s.pod.name"]),
];
const K8S_POD: Mapping = &[
    label("cluster_name", &["k8s.cluster.name"]),
    label("location", ZONE_OR_REGION),
    label("namespace_name", &["k8s.namespace.name"]),
    label("pod_name", &["k8s.pod.name"]),
];
const K8S_NODE: Mapping = &[
    label("cluster_name", &["k8s.cluster.name"]),
    label("location", ZONE_OR_REGION),
    label("node_name", &["k8s.node.name"]),
];
const K8S_CLUSTER: Mapping = &[
    label("cluster_name", &["k8s.cluster.name"]),
    label("location", ZONE_OR_REGION),
];
const GAE_INSTANCE: Mapping = &[
    label("instance_id", &["faas.instance"]),
    label("location", ZONE_OR_REGION),
    label("module_id", &["faas.name"]),
    label("version_id", &["faas.version"]),
];
const AWS_EC2_INSTANCE: Mapping = &[
    label("aws_account", &["cloud.account.id"]),
    label("instance_id", &["host.id"]),
    label("region", ZONE_OR_REGION),
];
const BMS_INSTANCE: Mapping = &[
    label("instance_id", &["host.id"]),
    label("location", &[REGION]),
];
const GENERIC_TASK: Mapping = &[
    label("job", &["service.name", "faas.name"]),
    GENERIC_LOCATION,
    label("namespace", &["service.namespace"]),
    label("task_id", &["service.instance.id", "faas.instance"]),
];
const GENERIC_NODE: Mapping = &[
    GENERIC_LOCATION,
    label("namespace", &["service.namespace"]),
    label("node_id", &["host.id", "host.name"]),
];

/// A resource attribute's value as text (`None` when absent or empty).
fn text<'a>(resource: &'a Resource, key: &str) -> Option<Cow<'a, str>> {
    let a = resource.attributes.iter().rev().find(|a| a.key == key)?;
    let t = crate::value_text::value_text(&a.value);
    (!t.is_empty()).then_some(t)
}

/// The monitored-resource type of `resource` and its mapping, decided as
/// Google's `ResourceAttributesToMonitoringMonitoredResource` decides.
fn monitored_type(resource: &Resource) -> (&'static str, Mapping) {
    let has = |k: &str| text(resource, k).is_some();
    match text(resource, "cloud.platform").as_deref() {
        Some("gcp_compute_engine") => ("gce_instance", GCE_INSTANCE),
        Some("gcp_app_engine") => ("gae_instance", GAE_INSTANCE),
        Some("aws_ec2") => ("aws_ec2_instance", AWS_EC2_INSTANCE),
        Some("gcp_bare_metal_solution") => {
            ("baremetalsolution.googleapis.com/Instance", BMS_INSTANCE)
        }
        // Any Kubernetes (GKE, EKS, minikube, bare metal): the cluster's
        // name is enough, the most specific type the attributes allow.
        _ if has("k8s.cluster.name") => {
            if has("k8s.container.name") {
                ("k8s_container", K8S_CONTAINER)
            } else if has("k8s.pod.name") {
                ("k8s_pod", K8S_POD)
            } else if has("k8s.node.name") {
                ("k8s_node", K8S_NODE)
            } else {
                ("k8s_cluster", K8S_CLUSTER)
            }
        }
        _ if (has("service.name") && has("service.instance.id"))
            || (has("faas.name") && has("faas.instance")) =>
        {
            ("generic_task", GENERIC_TASK)
        }
        _ => ("generic_node", GENERIC_NODE),
    }
}

/// A label's value: the first of its keys with a value that is not a
/// made-up `unknown_service` name; failing that, such a name; failing
/// that, its fallback.
fn label_value(resource: &Resource, label: &Label) -> Option<String> {
    let mut unknown = None;
    for key in label.keys {
        if let Some(v) = text(resource, key) {
            if !v.starts_with(UNKNOWN_SERVICE) {
                return Some(v.into_owned());
            }
            unknown.get_or_insert(v);
        }
    }
    unknown
        .map(Cow::into_owned)
        .or_else(|| label.fallback.map(str::to_owned))
}

/// The `g.co/r/<type>/<label>` labels of `resource`, in label order.
pub fn monitored_resource_labels(resource: &Resource) -> Vec<Attribute> {
    let (kind, mapping) = monitored_type(resource);
    mapping
        .iter()
        .filter_map(|l| {
            let value = label_value(resource, l)?;
            Some(Attribute::new(format!("g.co/r/{kind}/{}", l.name), value))
        })
        .collect()
}

/// The labels `resource` contributes to each of its spans; `opt_in`
/// selects further resource attributes by key.
pub fn resource_labels(resource: &Resource, opt_in: Option<&Regex>) -> ResourceLabels {
    let module = text(resource, "service.name").map(Cow::into_owned);
    let mut labels = Vec::new();
    if let Some(m) = &module {
        labels.push(Attribute::new("service.name", m.clone()));
    }
    labels.extend(monitored_resource_labels(resource));
    if let Some(re) = opt_in {
        labels.extend(
            resource
                .attributes
                .iter()
                .filter(|a| {
                    a.key != "service.name"
                        && !a.key.starts_with("telemetry.sdk.")
                        && re.is_match(&a.key)
                })
                .cloned(),
        );
    }
    ResourceLabels { module, labels }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracespool_schema::AttributeValue;

    fn res(attrs: &[(&'static str, &'static str)]) -> Resource {
        Resource::new(attrs.iter().map(|(k, v)| Attribute::new(*k, *v)).collect())
    }

    fn keys(l: &ResourceLabels) -> Vec<String> {
        l.labels.iter().map(|a| a.key.to_string()).collect()
    }

    #[test]
    fn an_edge_box_sends_its_service_and_a_generic_node_only() {
        let r = res(&[
            ("service.name", "kiosk"),
            ("host.name", "edge-17"),
            ("process.pid", "42"),
            ("telemetry.sdk.name", "tracespool"),
            ("service.version", "1.2"),
        ]);
        let l = resource_labels(&r, None);
        assert_eq!(l.module.as_deref(), Some("kiosk"));
        assert_eq!(
            keys(&l),
            [
                "service.name",
                "g.co/r/generic_node/location",
                "g.co/r/generic_node/node_id"
            ]
        );
        assert_eq!(l.labels[1].value, AttributeValue::from("global"));
        assert_eq!(l.labels[2].value, AttributeValue::from("edge-17"));
    }

    #[test]
    fn a_removed_host_name_is_not_sent_at_all() {
        let l = resource_labels(&res(&[("service.name", "kiosk")]), None);
        assert!(!format!("{l:?}").contains("node_id"));
    }

    #[test]
    fn gke_maps_to_the_most_specific_kubernetes_type() {
        let r = res(&[
            ("cloud.platform", "gcp_kubernetes_engine"),
            ("cloud.availability_zone", "europe-west1-b"),
            ("k8s.cluster.name", "c1"),
            ("k8s.namespace.name", "ns"),
            ("k8s.pod.name", "p-1"),
            ("k8s.container.name", "app"),
        ]);
        let l = resource_labels(&r, None);
        assert_eq!(
            keys(&l),
            [
                "g.co/r/k8s_container/cluster_name",
                "g.co/r/k8s_container/container_name",
                "g.co/r/k8s_container/location",
                "g.co/r/k8s_container/namespace_name",
                "g.co/r/k8s_container/pod_name"
            ]
        );
        let r = res(&[
            ("cloud.platform", "gcp_kubernetes_engine"),
            ("k8s.cluster.name", "c1"),
        ]);
        assert_eq!(
            keys(&resource_labels(&r, None)),
            ["g.co/r/k8s_cluster/cluster_name"]
        );
    }

    #[test]
    fn any_kubernetes_is_matched_on_its_cluster_name_with_the_region_as_location() {
        // minikube, EKS, bare metal: no cloud.platform of Google's.
        let r = res(&[
            ("service.name", "api"),
            ("service.instance.id", "i-1"),
            ("cloud.platform", "aws_eks"),
            ("cloud.region", "eu-west-1"),
            ("k8s.cluster.name", "c1"),
            ("k8s.namespace.name", "ns"),
            ("k8s.pod.name", "p-1"),
        ]);
        let l = monitored_resource_labels(&r);
        let got: Vec<(String, String)> = l
            .iter()
            .map(|a| (a.key.to_string(), format!("{:?}", a.value)))
            .collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0].0, "g.co/r/k8s_pod/cluster_name");
        assert_eq!(l[1].key, "g.co/r/k8s_pod/location");
        assert_eq!(l[1].value, AttributeValue::from("eu-west-1"));
        let node = res(&[("k8s.cluster.name", "c1"), ("k8s.node.name", "n1")]);
        assert_eq!(
            monitored_resource_labels(&node)[1].key,
            "g.co/r/k8s_node/node_name"
        );
    }

    #[test]
    fn functions_app_engine_and_bare_metal() {
        let r = res(&[("faas.name", "resize"), ("faas.instance", "f-7")]);
        let l = monitored_resource_labels(&r);
        assert_eq!(l[0].key, "g.co/r/generic_task/job");
        assert_eq!(l[0].value, AttributeValue::from("resize"));
        assert_eq!(l[2].key, "g.co/r/generic_task/task_id");
        assert_eq!(l[2].value, AttributeValue::from("f-7"));

        let r = res(&[
            ("cloud.platform", "gcp_app_engine"),
            ("cloud.region", "europe-west1"),
            ("faas.name", "default"),
            ("faas.version", "v3"),
            ("faas.instance", "aef-1"),
        ]);
        let keys: Vec<_> = monitored_resource_labels(&r)
            .iter()
            .map(|a| a.key.to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "g.co/r/gae_instance/instance_id",
                "g.co/r/gae_instance/location",
                "g.co/r/gae_instance/module_id",
                "g.co/r/gae_instance/version_id"
            ]
        );

        let r = res(&[
            ("cloud.platform", "gcp_bare_metal_solution"),
            ("cloud.region", "us-east4"),
            ("host.id", "bms-1"),
        ]);
        let l = monitored_resource_labels(&r);
        assert_eq!(
            l[0].key,
            "g.co/r/baremetalsolution.googleapis.com/Instance/instance_id"
        );
        assert_eq!(l[1].value, AttributeValue::from("us-east4"));
    }

    #[test]
    fn a_made_up_service_name_gives_way_to_any_other_key() {
        let r = res(&[
            ("service.name", "unknown_service:kiosk"),
            ("service.instance.id", "i-1"),
            ("faas.name", "resize"),
        ]);
        let l = monitored_resource_labels(&r);
        assert_eq!(l[0].key, "g.co/r/generic_task/job");
        assert_eq!(l[0].value, AttributeValue::from("resize"));
        // With nothing better, the made-up name is still sent.
        let r = res(&[
            ("service.name", "unknown_service:kiosk"),
            ("service.instance.id", "i-1"),
        ]);
        assert_eq!(
            monitored_resource_labels(&r)[0].value,
            AttributeValue::from("unknown_service:kiosk")
        );
    }

    #[test]
    fn gce_and_generic_task() {
        let r = res(&[
            ("cloud.platform", "gcp_compute_engine"),
            ("host.id", "123"),
            ("cloud.availability_zone", "us-east1-c"),
        ]);
        assert_eq!(
            keys(&resource_labels(&r, None)),
            [
                "g.co/r/gce_instance/instance_id",
                "g.co/r/gce_instance/zone"
            ]
        );
        let r = res(&[
            ("service.name", "job"),
            ("service.instance.id", "i-1"),
            ("cloud.region", "eu"),
        ]);
        let l = resource_labels(&r, None);
        assert_eq!(
            keys(&l),
            [
                "service.name",
                "g.co/r/generic_task/job",
                "g.co/r/generic_task/location",
                "g.co/r/generic_task/task_id"
            ]
        );
        assert_eq!(l.labels[2].value, AttributeValue::from("eu"));
    }

    #[test]
    fn other_resource_attributes_only_when_opted_in() {
        let r = res(&[
            ("service.name", "kiosk"),
            ("service.version", "1.2"),
            ("deployment.environment", "prod"),
            ("telemetry.sdk.version", "0.1.0"),
        ]);
        let re = Regex::new(r"^(service\.|deployment\.|telemetry\.)").unwrap();
        let k = keys(&resource_labels(&r, Some(&re)));
        assert!(k.contains(&"service.version".to_owned()));
        assert!(k.contains(&"deployment.environment".to_owned()));
        assert!(!k.iter().any(|k| k.starts_with("telemetry.sdk")));
        assert_eq!(k.iter().filter(|k| *k == "service.name").count(), 1);
        assert!(!keys(&resource_labels(&r, None)).contains(&"service.version".to_owned()));
    }
}
