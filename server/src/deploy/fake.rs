//! An in-memory CloudFormation that behaves like the real one where the engine cares:
//! operations progress asynchronously (one resource transition per poll, one event each),
//! a failing resource rolls the stack back, tokens make retried calls idempotent, a stack
//! importing another's export cannot be created before that export exists, and calls can be
//! throttled or stalled.

use crate::aws::*;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

#[derive(Default)]
pub struct FakeCloudFormation {
    state: Mutex<State>,
    gate: Gate,
}

/// Holds describe calls of one stack (a slow AWS) once it has reported a completed status.
struct Gate {
    open: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
}

impl Default for Gate {
    fn default() -> Self {
        Gate { open: tokio::sync::Semaphore::new(0), waiting: Default::default() }
    }
}

#[derive(Default)]
struct State {
    stacks: HashMap<String, Stack>,
    change_sets: HashMap<(String, String), (StackSpec, ChangeSetInfo)>,
    tokens: HashSet<String>,
    calls: Vec<String>,
    /// Logical ids whose next create or update fails.
    failing: HashSet<String>,
    /// How many of the next mutating calls answer with throttling.
    throttled: u32,
    /// While set, operations never progress.
    stalled: bool,
    /// While set, a created stack stays registered but not started (`CREATE_PENDING`, as
    /// moto shows a stack while it is still working on its CreateStack), without outputs.
    held: bool,
    /// While set, ExecuteChangeSet never answers and never runs (a process that dies while
    /// sending it).
    executes_hang: bool,
    /// Describes of this stack wait at the gate once it has shown a `*_COMPLETE` status.
    slow_after_complete: Option<String>,
    slow_armed: bool,
    clock: u64,
}

struct Stack {
    info: StackInfo,
    events: Vec<StackEvent>,
    /// Transitions still to come: (logical id, type, status, reason).
    pending: VecDeque<(String, String, String, Option<String>)>,
    resources: Vec<(String, String)>,
    /// The template's output names, given once an operation completes.
    outputs: Vec<String>,
}

fn resources(template: &str) -> Vec<(String, String)> {
    let doc: serde_yaml::Value = serde_yaml::from_str(template).expect("templates are YAML");
    doc["Resources"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v["Type"].as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn output_names(template: &str) -> Vec<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(template).expect("templates are YAML");
    doc["Outputs"].as_mapping().map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

fn outputs(name: &str, names: &[String]) -> BTreeMap<String, String> {
    names
        .iter()
        .map(|key| {
            let value = match key.as_str() {
                "ExternalUrl" => format!("http://{name}.elb.example.com"),
                "ClusterName" | "ServiceName" => name.to_string(),
                other => format!("{name}-{other}"),
            };
            (key.clone(), value)
        })
        .collect()
}

impl State {
    fn throttle(&mut self, call: String) -> AwsResult<()> {
        self.calls.push(call);
        if self.throttled > 0 {
            self.throttled -= 1;
            return Err(AwsError::new("Throttling", "Rate exceeded"));
        }
        Ok(())
    }

    /// Queues the transitions of an operation over every resource of the stack.
    fn operate(&mut self, name: &str, verb: &str) {
        let failing = self.failing.clone();
        let stack = self.stacks.get_mut(name).expect("operating on an existing stack");
        let (start, done, fail, rollback, rolled_back) = match verb {
            "CREATE" => ("CREATE_IN_PROGRESS", "CREATE_COMPLETE", "CREATE_FAILED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"),
            "UPDATE" => ("UPDATE_IN_PROGRESS", "UPDATE_COMPLETE", "UPDATE_FAILED", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"),
            _ => ("DELETE_IN_PROGRESS", "DELETE_COMPLETE", "DELETE_FAILED", "", ""),
        };
        stack.info.status = start.into();
        let stack_type = "AWS::CloudFormation::Stack".to_string();
        stack.pending.push_back((name.to_string(), stack_type.clone(), start.into(), None));
        for (logical, kind) in stack.resources.clone() {
            stack.pending.push_back((logical.clone(), kind.clone(), start.into(), None));
            if failing.contains(&logical) && verb != "DELETE" {
                stack.pending.push_back((logical, kind, fail.into(), Some("Resource handler returned message: \"boom\"".into())));
                stack.pending.push_back((name.to_string(), stack_type.clone(), rollback.into(), None));
                stack.pending.push_back((name.to_string(), stack_type, rolled_back.into(), None));
                return;
            }
            stack.pending.push_back((logical, kind, done.into(), None));
        }
        stack.pending.push_back((name.to_string(), stack_type, done.into(), None));
    }

    /// One transition of the stack's running operation.
    fn advance(&mut self, name: &str) {
        if self.stalled {
            return;
        }
        self.clock += 1;
        let clock = self.clock;
        let Some(stack) = self.stacks.get_mut(name) else { return };
        let Some((logical, kind, status, reason)) = stack.pending.pop_front() else { return };
        let timestamp = (time::OffsetDateTime::now_utc() + time::Duration::milliseconds(clock as i64))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        stack.events.push(StackEvent {
            event_id: format!("{name}-{clock}"),
            stack_name: name.into(),
            logical_id: logical.clone(),
            resource_type: kind.clone(),
            status: status.clone(),
            reason: reason.clone(),
            timestamp,
        });
        if logical == name {
            stack.info.status = status.clone();
            stack.info.reason = reason;
            if status == "DELETE_COMPLETE" {
                self.stacks.remove(name);
            } else if status.ends_with("_COMPLETE") && !status.contains("ROLLBACK") {
                stack.info.outputs = outputs(name, &stack.outputs);
            }
        }
    }
}

impl FakeCloudFormation {
    pub fn fail(&self, logical_id: &str) {
        self.state.lock().unwrap().failing.insert(logical_id.into());
    }

    pub fn heal(&self) {
        self.state.lock().unwrap().failing.clear();
    }

    pub fn throttle(&self, calls: u32) {
        self.state.lock().unwrap().throttled = calls;
    }

    pub fn stall(&self, stalled: bool) {
        self.state.lock().unwrap().stalled = stalled;
    }

    /// While `held`, created stacks stay `CREATE_PENDING`; releasing starts their creation.
    pub fn hold_creates(&self, held: bool) {
        let mut state = self.state.lock().unwrap();
        state.held = held;
        if !held {
            let pending: Vec<String> =
                state.stacks.iter().filter(|(_, s)| s.info.status == "CREATE_PENDING").map(|(n, _)| n.clone()).collect();
            for name in pending {
                state.operate(&name, "CREATE");
            }
        }
    }

    /// How many calls of this kind (e.g. "create_stack berth-staging-cluster") were made.
    pub fn count(&self, call: &str) -> usize {
        self.state.lock().unwrap().calls.iter().filter(|c| *c == call).count()
    }

    /// Once `stack` has been described complete, every further describe of it waits until
    /// `answer_describes`.
    pub fn slow_describes_once_complete(&self, stack: &str) {
        self.state.lock().unwrap().slow_after_complete = Some(stack.into());
    }

    /// How many describe calls are waiting at the gate.
    pub fn describes_waiting(&self) -> usize {
        self.gate.waiting.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn answer_describes(&self) {
        self.gate.open.add_permits(1 << 20);
    }

    pub fn hang_executes(&self, hang: bool) {
        self.state.lock().unwrap().executes_hang = hang;
    }

    pub fn parameter(&self, stack: &str, key: &str) -> Option<String> {
        let state = self.state.lock().unwrap();
        state.stacks.get(stack)?.info.parameters.iter().find(|p| p.key == key).map(|p| p.value.clone())
    }

    pub fn status(&self, stack: &str) -> Option<String> {
        self.state.lock().unwrap().stacks.get(stack).map(|s| s.info.status.clone())
    }
}

#[async_trait::async_trait]
impl CloudFormation for FakeCloudFormation {
    async fn describe_stack(&self, name: &str) -> AwsResult<Option<StackInfo>> {
        let slow = {
            let state = self.state.lock().unwrap();
            state.slow_armed && state.slow_after_complete.as_deref() == Some(name)
        };
        if slow {
            self.gate.waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = self.gate.open.acquire().await.expect("the gate is never closed");
            self.gate.waiting.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
        let mut state = self.state.lock().unwrap();
        state.advance(name);
        let info = state.stacks.get(name).map(|s| s.info.clone());
        if state.slow_after_complete.as_deref() == Some(name) && info.as_ref().is_some_and(|i| i.status.ends_with("_COMPLETE")) {
            state.slow_armed = true;
        }
        Ok(info)
    }

    async fn create_stack(&self, spec: &StackSpec, token: &str) -> AwsResult<()> {
        let mut state = self.state.lock().unwrap();
        state.throttle(format!("create_stack {}", spec.name))?;
        if !state.tokens.insert(token.to_string()) && state.stacks.contains_key(&spec.name) {
            return Ok(());
        }
        if state.stacks.contains_key(&spec.name) {
            return Err(AwsError::new("AlreadyExistsException", format!("Stack [{}] already exists", spec.name)));
        }
        // As in CloudFormation: `${StackName}:X` must be an export of a stack that exists.
        for import in crate::templates::imports(&spec.template) {
            let exporter = spec.parameters.iter().find(|p| p.key == "StackName").map(|p| p.value.clone()).unwrap_or_default();
            if !state.stacks.get(&exporter).is_some_and(|s| s.info.outputs.contains_key(&import)) {
                return Err(AwsError::new("ValidationError", format!("No export named {exporter}:{import} found.")));
            }
        }
        let held = state.held;
        let stack = Stack {
            info: StackInfo {
                status: if held { "CREATE_PENDING" } else { "CREATE_IN_PROGRESS" }.into(),
                reason: None,
                parameters: spec.parameters.clone(),
                outputs: BTreeMap::new(),
                tags: spec.tags.clone(),
            },
            events: Vec::new(),
            pending: VecDeque::new(),
            resources: resources(&spec.template),
            outputs: output_names(&spec.template),
        };
        state.stacks.insert(spec.name.clone(), stack);
        if !held {
            state.operate(&spec.name, "CREATE");
        }
        Ok(())
    }

    async fn create_change_set(&self, spec: &StackSpec, change_set: &str) -> AwsResult<()> {
        let mut state = self.state.lock().unwrap();
        state.throttle(format!("create_change_set {}", spec.name))?;
        let Some(stack) = state.stacks.get(&spec.name) else {
            return Err(AwsError::new("ValidationError", format!("Stack [{}] does not exist", spec.name)));
        };
        let same = stack.info.parameters == spec.parameters && stack.info.tags == spec.tags;
        let info = ChangeSetInfo {
            status: if same { "FAILED" } else { "CREATE_COMPLETE" }.into(),
            reason: same.then(|| "The submitted information didn't contain changes.".into()),
            execution_status: Some(if same { "UNAVAILABLE" } else { "AVAILABLE" }.into()),
            changes: if same {
                Vec::new()
            } else {
                stack
                    .resources
                    .iter()
                    .map(|(l, t)| ResourceChange { action: "Modify".into(), logical_id: l.clone(), resource_type: t.clone(), replacement: Some("False".into()), reverts: vec![] })
                    .collect()
            },
        };
        state.change_sets.insert((spec.name.clone(), change_set.into()), (spec.clone(), info));
        Ok(())
    }

    async fn describe_change_set(&self, stack: &str, change_set: &str) -> AwsResult<Option<ChangeSetInfo>> {
        let state = self.state.lock().unwrap();
        Ok(state.change_sets.get(&(stack.to_string(), change_set.to_string())).map(|(_, info)| info.clone()))
    }

    async fn execute_change_set(&self, stack: &str, change_set: &str, token: &str) -> AwsResult<()> {
        if self.state.lock().unwrap().executes_hang {
            std::future::pending::<()>().await;
        }
        let mut state = self.state.lock().unwrap();
        state.throttle(format!("execute_change_set {stack}"))?;
        if !state.tokens.insert(token.to_string()) {
            return Ok(());
        }
        // Executing consumes the stack's change sets, as in CloudFormation.
        let (spec, _) = state
            .change_sets
            .remove(&(stack.to_string(), change_set.to_string()))
            .ok_or_else(|| AwsError::new("ChangeSetNotFound", change_set))?;
        state.change_sets.retain(|(s, _), _| s != stack);
        let target = state.stacks.get_mut(stack).expect("change sets belong to stacks");
        target.info.parameters = spec.parameters;
        target.info.tags = spec.tags;
        state.operate(stack, "UPDATE");
        Ok(())
    }

    async fn delete_change_set(&self, stack: &str, change_set: &str) -> AwsResult<()> {
        self.state.lock().unwrap().change_sets.remove(&(stack.to_string(), change_set.to_string()));
        Ok(())
    }

    async fn delete_stack(&self, name: &str, token: &str) -> AwsResult<()> {
        let mut state = self.state.lock().unwrap();
        state.throttle(format!("delete_stack {name}"))?;
        if !state.tokens.insert(token.to_string()) || !state.stacks.contains_key(name) {
            return Ok(());
        }
        state.operate(name, "DELETE");
        Ok(())
    }

    async fn stack_events(&self, name: &str, known: Option<&str>) -> AwsResult<Vec<StackEvent>> {
        let state = self.state.lock().unwrap();
        let Some(stack) = state.stacks.get(name) else { return Ok(Vec::new()) };
        Ok(stack.events.iter().rev().take_while(|e| Some(e.event_id.as_str()) != known).cloned().collect())
    }
}

/// ECS as seen before any service exists: the engine's tests never look at health.
pub struct NoServices;

#[async_trait::async_trait]
impl crate::aws::ServiceHealth for NoServices {
    async fn health(&self, _: &crate::aws::ServiceRef) -> AwsResult<crate::aws::HealthFacts> {
        Ok(crate::aws::HealthFacts { service: app::health::ServiceState { status: "MISSING".into(), ..Default::default() }, tasks: vec![], events: vec![], targets: vec![] })
    }
}

/// One in-memory CloudFormation for every location, keeping the locations asked for, so a
/// test sees where the engine went.
pub struct OneAccount {
    pub cfn: std::sync::Arc<FakeCloudFormation>,
    pub asked: Mutex<Vec<Location>>,
}

impl OneAccount {
    pub fn new(cfn: std::sync::Arc<FakeCloudFormation>) -> Self {
        OneAccount { cfn, asked: Mutex::default() }
    }
}

#[async_trait::async_trait]
impl Connect for OneAccount {
    async fn cloudformation(&self, at: &Location) -> std::sync::Arc<dyn CloudFormation> {
        self.asked.lock().expect("not poisoned").push(at.clone());
        self.cfn.clone()
    }

    async fn service_health(&self, _: &Location) -> std::sync::Arc<dyn ServiceHealth> {
        std::sync::Arc::new(NoServices)
    }

    async fn drift(&self, _: &Location) -> std::sync::Arc<dyn StackDrift> {
        std::sync::Arc::new(NoDrift)
    }

    async fn identity(&self, _: &Location) -> AwsResult<(String, String)> {
        Ok(("123456789012".into(), "arn:aws:sts::123456789012:assumed-role/berth/berth".into()))
    }
}

/// The engine's tests never detect drift: a call says so instead of inventing an answer.
struct NoDrift;

#[async_trait::async_trait]
impl StackDrift for NoDrift {
    async fn detect_drift(&self, _: &str) -> AwsResult<String> {
        Err(AwsError::new("NotImplemented", "the in-memory CloudFormation detects no drift"))
    }
    async fn drift_detection(&self, _: &str) -> AwsResult<DriftDetection> {
        Err(AwsError::new("NotImplemented", "the in-memory CloudFormation detects no drift"))
    }
    async fn drifted_resources(&self, _: &str) -> AwsResult<Vec<ResourceDrift>> {
        Err(AwsError::new("NotImplemented", "the in-memory CloudFormation detects no drift"))
    }
}
