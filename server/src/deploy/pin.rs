//! What an approver approved, pinned to what runs: the rendered template (by hash) and the
//! parameters of both stacks, and one digest over them. The decision stores it; the engine
//! renders again when the deployment runs and refuses to apply anything else (the
//! environment's parameters changed, Berth was upgraded with a new template, ...).

use crate::templates::Templates;
use app::model::{ClusterParameters, RequestInput, StackKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedStack {
    pub stack_name: String,
    pub kind: StackKind,
    pub template_sha256: String,
    pub parameters: BTreeMap<String, String>,
}

/// Both stacks as the approver's decision would deploy them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pinned {
    pub stacks: Vec<PinnedStack>,
}

impl Pinned {
    pub fn of(templates: &Templates, cluster: &ClusterParameters, input: &RequestInput, priority: u32) -> Pinned {
        let rendered = app::stacks::render(cluster, input, Some(priority));
        let stack = |kind: StackKind, s: &app::model::StackInput| PinnedStack {
            stack_name: s.stack_name.clone(),
            kind,
            template_sha256: hex::encode(Sha256::digest(templates.body(kind).as_bytes())),
            parameters: s.parameters.iter().map(|p| (p.key.clone(), p.value.clone())).collect(),
        };
        Pinned { stacks: vec![stack(StackKind::Cluster, &rendered.cluster), stack(StackKind::Service, &rendered.service)] }
    }

    /// SHA-256 of the canonical JSON (maps are ordered), hex.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(serde_json::to_vec(self).expect("serializes")))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("serializes")
    }

    /// What differs from `approved`, one readable line per change.
    pub fn differences(&self, approved: &Pinned) -> Vec<String> {
        let mut out = Vec::new();
        for now in &self.stacks {
            let Some(then) = approved.stacks.iter().find(|s| s.kind == now.kind) else {
                out.push(format!("{}: not in the approved plan", now.stack_name));
                continue;
            };
            if then.stack_name != now.stack_name {
                out.push(format!("{} stack: {} → {}", now.kind.as_str(), then.stack_name, now.stack_name));
            }
            if then.template_sha256 != now.template_sha256 {
                out.push(format!("{}: the template changed (Berth's templates differ from those approved)", now.stack_name));
            }
            let keys: std::collections::BTreeSet<&String> = then.parameters.keys().chain(now.parameters.keys()).collect();
            for key in keys {
                let (a, b) = (then.parameters.get(key), now.parameters.get(key));
                if a != b {
                    let show = |v: Option<&String>| v.map(|v| format!("\"{v}\"")).unwrap_or_else(|| "(none)".into());
                    out.push(format!("{} {key}: {} → {}", now.stack_name, show(a), show(b)));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_environment_parameter_or_template_changes_the_digest_and_is_named() {
        let templates = Templates::load(None).unwrap();
        let input = RequestInput { environment: "staging".into(), service_name: "orders".into(), path: "/orders*".into(), ..Default::default() };
        let cluster: ClusterParameters = serde_json::from_value(serde_json::json!({"InstanceType": "t3.medium", "DesiredCapacity": 2, "MaxSize": 4})).unwrap();
        let approved = Pinned::of(&templates, &cluster, &input, 7);
        assert_eq!(approved.digest(), Pinned::of(&templates, &cluster, &input, 7).digest(), "stable");
        let mut bigger = cluster.clone();
        bigger.instance_type = "m5.large".into();
        let now = Pinned::of(&templates, &bigger, &input, 7);
        assert_ne!(now.digest(), approved.digest());
        let diff = now.differences(&approved);
        assert_eq!(diff.len(), 1, "{diff:?}");
        assert!(diff[0].contains("berth-staging-cluster InstanceType") && diff[0].contains("\"m5.large\""), "{diff:?}");

        let mut upgraded = approved.clone();
        upgraded.stacks[1].template_sha256 = "0".repeat(64);
        assert!(upgraded.differences(&approved)[0].contains("the template changed"));
    }
}
