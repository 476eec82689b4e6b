//! The CloudFormation templates of the two stacks. They are embedded in the binary; a
//! `templates_dir` holding `cluster.yaml` and `service.yaml` replaces them (for a platform
//! team that adapts the pattern without rebuilding Berth).

use app::model::StackKind;
use std::path::Path;
use std::sync::Arc;

const CLUSTER: &str = include_str!("../../cloudformation/cluster.yaml");
const SERVICE: &str = include_str!("../../cloudformation/service.yaml");

#[derive(Clone, Debug)]
pub struct Templates {
    cluster: Arc<str>,
    service: Arc<str>,
}

impl Templates {
    pub fn load(dir: Option<&Path>) -> std::io::Result<Templates> {
        let Some(dir) = dir else {
            return Ok(Templates { cluster: CLUSTER.into(), service: SERVICE.into() });
        };
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.join(name).display())))
        };
        Ok(Templates { cluster: read("cluster.yaml")?.into(), service: read("service.yaml")?.into() })
    }

    pub fn body(&self, kind: StackKind) -> &str {
        match kind {
            StackKind::Cluster => &self.cluster,
            StackKind::Service => &self.service,
        }
    }

    /// The cluster stack outputs the service template imports (`${StackName}:X` → `X`): a
    /// service stack can only be created once its cluster stack exports all of them.
    pub fn imported_outputs(&self) -> Vec<String> {
        let conditional = conditional_outputs(&self.cluster);
        imports(&self.service).into_iter().filter(|name| !conditional.contains(name)).collect()
    }
}

/// The outputs of a template that exist only under a condition (the HTTPS listener, with a
/// certificate). A service stack imports one only when the same condition holds, so
/// waiting for it in every environment would wait forever where it does not.
fn conditional_outputs(template: &str) -> Vec<String> {
    let Some((_, outputs)) = template.split_once("\nOutputs:\n") else { return Vec::new() };
    let mut current: Option<&str> = None;
    let mut found = Vec::new();
    for line in outputs.lines() {
        if !line.is_empty() && !line.starts_with(' ') {
            break;
        }
        if let Some(name) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')).and_then(|l| l.strip_suffix(':')) {
            current = Some(name);
        } else if let (Some(name), Some(rest)) = (current, line.strip_prefix("    ")) {
            if rest.starts_with("Condition:") {
                found.push(name.to_string());
            }
        }
    }
    found
}

/// The export suffixes named by a template's `Fn::ImportValue` lines, each once.
pub fn imports(template: &str) -> Vec<String> {
    let mut names: Vec<String> = template
        .lines()
        .filter(|line| line.contains("ImportValue"))
        .filter_map(|line| line.rsplit_once("}:"))
        .map(|(_, rest)| rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>())
        .filter(|name| !name.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    //! Code and templates must not drift apart: every parameter Berth renders is declared
    //! by its template, and every template parameter without a default is rendered.

    use super::*;
    use app::model::{ClusterParameters, RequestInput, StackInput};
    use app::stacks::render;
    use std::collections::BTreeSet;

    fn declared(template: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let doc: serde_yaml::Value = serde_yaml::from_str(template).expect("the template is YAML");
        let params = doc["Parameters"].as_mapping().expect("a Parameters section");
        let all = params.keys().map(|k| k.as_str().unwrap().to_string()).collect();
        let required = params
            .iter()
            .filter(|(_, v)| v.get("Default").is_none())
            .map(|(k, _)| k.as_str().unwrap().to_string())
            .collect();
        (all, required)
    }

    #[test]
    fn a_service_waits_only_for_the_outputs_every_cluster_stack_has() {
        let needed = Templates::load(None).unwrap().imported_outputs();
        assert!(needed.contains(&"ClusterName".to_string()) && needed.contains(&"ECSTaskExecutionRole".to_string()), "{needed:?}");
        assert!(!needed.contains(&"HttpsListenerArn".to_string()), "only with a certificate: {needed:?}");
    }

    #[test]
    fn the_service_template_imports_what_the_cluster_template_exports() {
        let templates = Templates::load(None).unwrap();
        let imported = templates.imported_outputs();
        assert!(imported.contains(&"ECSTaskExecutionRole".to_string()), "{imported:?}");
        let doc: serde_yaml::Value = serde_yaml::from_str(templates.body(StackKind::Cluster)).unwrap();
        for name in &imported {
            assert!(doc["Outputs"].get(name.as_str()).is_some(), "the cluster template has no output {name}");
        }
    }

    fn keys(stack: &StackInput) -> BTreeSet<String> {
        stack.parameters.iter().map(|p| p.key.clone()).collect()
    }

    fn check(kind: StackKind, minimal: &StackInput, full: &StackInput) {
        let templates = Templates::load(None).unwrap();
        let (all, required) = declared(templates.body(kind));
        let undeclared: Vec<_> = keys(full).difference(&all).cloned().collect();
        assert!(undeclared.is_empty(), "{kind:?} template lacks rendered parameters {undeclared:?}");
        let missing: Vec<_> = required.difference(&keys(minimal)).cloned().collect();
        assert!(missing.is_empty(), "{kind:?} template requires parameters Berth never renders: {missing:?}");
    }

    #[test]
    fn rendered_parameters_match_the_templates() {
        let input = RequestInput {
            environment: "staging".into(),
            service_name: "orders".into(),
            image_url: "nginx".into(),
            path: "/orders*".into(),
            health_check_path: "/".into(),
            ..Default::default()
        };
        let with_role = RequestInput { task_role_arn: Some("arn:aws:iam::123456789012:role/x".into()), ..input.clone() };
        let minimal_cluster = ClusterParameters { instance_type: "t3.medium".into(), desired_capacity: 1, max_size: 1, ..Default::default() };
        let full_cluster = ClusterParameters {
            ecs_ami: Some("/aws/service/ecs/x".into()),
            certificate_arn: Some("arn:aws:acm:us-east-1:123456789012:certificate/x".into()),
            access_logs_bucket: Some("logs".into()),
            ..minimal_cluster.clone()
        };
        let minimal = render(&minimal_cluster, &input, Some(1));
        let full = render(&full_cluster, &with_role, Some(1));
        check(StackKind::Cluster, &minimal.cluster, &full.cluster);
        check(StackKind::Service, &minimal.service, &full.service);
    }

    #[test]
    fn offered_instance_types_are_the_template_s_allowed_values() {
        let doc: serde_yaml::Value = serde_yaml::from_str(CLUSTER).unwrap();
        let allowed: BTreeSet<String> = doc["Parameters"]["InstanceType"]["AllowedValues"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let offered: BTreeSet<String> = app::instance_types::OFFERED.iter().map(|t| t.name.to_string()).collect();
        assert_eq!(allowed, offered);
    }

    #[test]
    fn a_templates_dir_overrides_the_embedded_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cluster.yaml"), "cluster").unwrap();
        assert!(Templates::load(Some(dir.path())).is_err(), "both files are needed");
        std::fs::write(dir.path().join("service.yaml"), "service").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        assert_eq!(t.body(StackKind::Service), "service");
    }
}
