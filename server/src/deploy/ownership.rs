//! Which stacks this Berth may change. Every stack it creates is tagged with this
//! installation's id, the environment, the kind of stack and (for a service stack) the
//! request; before any change set, update or delete the tags of the stack found under the
//! name are checked, so a stack made by hand, by another Berth, or for another request
//! or environment is reported and left alone, never taken over.

use crate::aws::StackInfo;
use crate::db::{self, Db};
use app::model::StackKind;
use std::collections::BTreeMap;

pub const INSTALLATION_TAG: &str = "berth:installation";
pub const ENVIRONMENT_TAG: &str = "berth:environment";
pub const KIND_TAG: &str = "berth:stack";
pub const REQUEST_TAG: &str = "berth:request";

/// What a stack is for: the owner its tags must name.
#[derive(Clone, Debug)]
pub struct Owner {
    pub berth_id: String,
    pub environment: String,
    pub kind: StackKind,
    /// The request of a service stack; `None` for a cluster stack.
    pub request: Option<i64>,
}

impl Owner {
    pub fn tags(&self) -> BTreeMap<String, String> {
        let mut tags = BTreeMap::from([
            (INSTALLATION_TAG.to_string(), self.berth_id.clone()),
            (ENVIRONMENT_TAG.to_string(), self.environment.clone()),
            (KIND_TAG.to_string(), self.kind.as_str().to_string()),
        ]);
        if let Some(request) = self.request {
            tags.insert(REQUEST_TAG.into(), request.to_string());
        }
        tags
    }

    fn what(&self) -> String {
        match self.request {
            Some(r) => format!("request {r} in environment {}", self.environment),
            None => format!("the cluster of environment {}", self.environment),
        }
    }

    /// Why this Berth must not touch `stack`, judged by its tags; `legacy` says whether
    /// Berth's own records show an earlier deployment of it for this owner (stacks made
    /// before owner tags existed have none).
    pub fn refusal(&self, stack: &str, tags: &BTreeMap<String, String>, legacy: bool) -> Option<String> {
        let tag = |k: &str| tags.get(k).map(String::as_str);
        let request = self.request.map(|r| r.to_string());
        let same_target = tag(ENVIRONMENT_TAG) == Some(self.environment.as_str()) && tag(REQUEST_TAG) == request.as_deref();
        match tag(INSTALLATION_TAG) {
            Some(id) if id != self.berth_id => Some(format!(
                "A stack named {stack} already exists and belongs to another Berth installation ({id}); \
                 Berth leaves it alone. Remove or rename it, or choose another name."
            )),
            Some(_) if same_target && tag(KIND_TAG) == Some(self.kind.as_str()) => None,
            Some(_) => Some(format!(
                "The stack {stack} was created by Berth for something else (environment {}, request {}), not for {}; \
                 Berth refuses to change it.",
                tag(ENVIRONMENT_TAG).unwrap_or("none"),
                tag(REQUEST_TAG).unwrap_or("none"),
                self.what()
            )),
            None if legacy && same_target => None,
            None => Some(format!(
                "A stack named {stack} already exists but was not created by Berth for {} (it has no matching \
                 {INSTALLATION_TAG} tag); Berth refuses to change or delete it. Remove or rename it first.",
                self.what()
            )),
        }
    }

    /// The refusal for the stack as CloudFormation described it, if any.
    pub async fn check(&self, db: &Db, stack: &str, info: &StackInfo, deployment: i64) -> Result<Option<String>, sqlx::Error> {
        if !info.tags.contains_key(INSTALLATION_TAG) {
            let legacy = db::deployments::created_before(db, stack, self.kind.as_str(), &self.environment, self.request, deployment).await?;
            return Ok(self.refusal(stack, &info.tags, legacy));
        }
        Ok(self.refusal(stack, &info.tags, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(request: i64) -> Owner {
        Owner { berth_id: "ours".into(), environment: "prod".into(), kind: StackKind::Service, request: Some(request) }
    }

    #[test]
    fn only_stacks_tagged_for_this_owner_pass() {
        let owner = service(7);
        assert_eq!(owner.refusal("s", &owner.tags(), false), None);
        let other_request = service(8).tags();
        assert!(owner.refusal("s", &other_request, true).unwrap().contains("for something else"));
        let mut other_berth = owner.tags();
        other_berth.insert(INSTALLATION_TAG.into(), "theirs".into());
        assert!(owner.refusal("s", &other_berth, true).unwrap().contains("another Berth installation"));
        let cluster = Owner { kind: StackKind::Cluster, request: None, ..service(7) };
        assert!(cluster.refusal("c", &owner.tags(), false).is_some(), "a service stack is never taken for the cluster");
        assert!(owner.refusal("s", &BTreeMap::new(), false).unwrap().contains("not created by Berth"), "made by hand");
    }

    #[test]
    fn untagged_stacks_pass_only_when_berth_deployed_them_for_this_owner() {
        let owner = service(7);
        let legacy = BTreeMap::from([(ENVIRONMENT_TAG.to_string(), "prod".to_string()), (REQUEST_TAG.to_string(), "7".to_string())]);
        assert_eq!(owner.refusal("s", &legacy, true), None);
        assert!(owner.refusal("s", &legacy, false).is_some());
        let cluster = Owner { kind: StackKind::Cluster, request: None, ..service(7) };
        assert!(cluster.refusal("c", &legacy, true).is_some(), "a cluster stack never carries a request");
        let legacy_cluster = BTreeMap::from([(ENVIRONMENT_TAG.to_string(), "prod".to_string())]);
        assert_eq!(cluster.refusal("c", &legacy_cluster, true), None);
    }
}
