//! `iam/berth-policy.json` allows every AWS call Berth's code makes.
//!
//! The test reads every `server/src/**/*.rs` file, finds the AWS SDK operations called on
//! SDK clients (`self.client.describe_stacks()`, `self.ecs.list_tasks()`, also split over
//! lines), tells which service each client belongs to from the SDK crate of its type
//! (`aws_sdk_ecs::Client` → `ecs:`), turns the operation into its IAM action
//! (`describe_stacks` → `cloudformation:DescribeStacks`) and checks that an Allow statement
//! of the policy grants it. A new SDK call without a policy entry fails the test; so does a client whose service
//! the scan cannot tell, and a scan that no longer finds the CloudFormation calls Berth is
//! known to make. Pure std + serde_json: no AWS, no network.
//!
//! `BERTH_IAM_SCAN_DIR` scans another source folder instead of `server/src` (a branch or a
//! scratch copy); the policy is always the repository's.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

// ------------------------------------------------------------------------------- scanner

/// The IAM service prefix of an AWS SDK for Rust crate (`aws_sdk_<name>`).
fn iam_prefix(sdk_crate: &str) -> Option<&'static str> {
    Some(match sdk_crate {
        "cloudformation" => "cloudformation",
        "ecs" => "ecs",
        "elasticloadbalancingv2" | "elasticloadbalancing" => "elasticloadbalancing",
        "ec2" => "ec2",
        "autoscaling" => "autoscaling",
        "applicationautoscaling" => "application-autoscaling",
        "ssm" => "ssm",
        "iam" => "iam",
        "sts" => "sts",
        "s3" => "s3",
        "cloudwatchlogs" => "logs",
        "cloudwatch" => "cloudwatch",
        "ecr" => "ecr",
        "secretsmanager" => "secretsmanager",
        "sns" => "sns",
        "sqs" => "sqs",
        _ => return None,
    })
}

/// SDK operations whose IAM action is not simply the operation's name.
fn iam_action(prefix: &str, operation: &str) -> String {
    let action = match (prefix, operation) {
        ("s3", "ListObjectsV2" | "HeadBucket") => "ListBucket",
        ("s3", "HeadObject") => "GetObject",
        _ => operation,
    };
    format!("{prefix}:{action}")
}

/// `describe_stack_events` → `DescribeStackEvents`. (IAM compares action names without
/// regard to case, so `describe_db_instances` → `DescribeDbInstances` still matches
/// `rds:DescribeDBInstances`.)
fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Methods of an SDK client that are not AWS operations.
const NOT_OPERATIONS: &[&str] = &["clone", "config", "to_owned", "as_ref", "borrow"];

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Call {
    /// e.g. `cloudformation:DescribeStacks`
    action: String,
    /// `file:line`
    at: String,
}

#[derive(Debug, Default)]
struct Scan {
    calls: Vec<Call>,
    /// Calls on something that looks like an SDK client whose service cannot be told.
    unresolved: Vec<String>,
}

impl Scan {
    fn actions(&self) -> BTreeSet<String> {
        self.calls.iter().map(|c| c.action.clone()).collect()
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Source with every line that is only a comment blanked (line numbers stay right).
fn without_comment_lines(source: &str) -> String {
    source
        .lines()
        .map(|line| if line.trim_start().starts_with("//") { "" } else { line })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whole-word occurrences of `word` in `text` (byte offsets).
fn word_positions(text: &str, word: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let start = from + i;
        let end = start + word.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            found.push(start);
        }
        from = end;
    }
    found
}

/// Splits at top-level commas (outside braces).
fn split_top_level(s: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).collect()
}

/// Flattens a `use` tree into (full path, name it is bound to).
fn flatten_use(prefix: &str, tree: &str, out: &mut Vec<(String, String)>) {
    let tree = tree.trim();
    if let Some(inner) = tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        for item in split_top_level(inner) {
            flatten_use(prefix, item, out);
        }
        return;
    }
    // The first `::` outside braces separates a path segment from the rest.
    let mut depth = 0;
    let bytes = tree.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => {
                let head = tree[..i].trim();
                flatten_use(&format!("{prefix}{head}::"), &tree[i + 2..], out);
                return;
            }
            _ => {}
        }
    }
    let (name, alias) = match tree.split_once(" as ") {
        Some((name, alias)) => (name.trim(), Some(alias.trim())),
        None => (tree, None),
    };
    if name == "self" {
        let path = prefix.trim_end_matches("::").to_string();
        let last = path.rsplit("::").next().unwrap_or_default().to_string();
        out.push((path, alias.map_or(last, str::to_string)));
    } else {
        out.push((format!("{prefix}{name}"), alias.unwrap_or(name).to_string()));
    }
}

/// What one file says about SDK clients.
#[derive(Debug, Default)]
struct FileFacts {
    /// SDK crates the file names (`aws_sdk_ecs` → `ecs`).
    crates: BTreeSet<String>,
    /// Names bound to an SDK client type (`Client`, `EcsClient`) → crate.
    type_aliases: BTreeMap<String, String>,
    /// Names bound to an SDK crate (`use aws_sdk_ecs as ecs;`) → crate.
    module_aliases: BTreeMap<String, String>,
    /// Fields, parameters and bindings holding an SDK client → crate.
    clients: BTreeMap<String, String>,
    /// Fields and parameters declared with some other type.
    others: BTreeSet<String>,
    /// `let name = &self.other;`: (name, other), resolved once every file is read.
    aliases: Vec<(String, String)>,
}

impl FileFacts {
    /// The SDK crate of a client type written in `text`, if it names one.
    fn sdk_type(&self, text: &str) -> Option<String> {
        let mut from = 0;
        while let Some(i) = text[from..].find("aws_sdk_") {
            let start = from + i + "aws_sdk_".len();
            let name: String = text[start..].chars().take_while(|&c| is_ident(c)).collect();
            let rest = &text[start + name.len()..];
            if rest.starts_with("::Client") || rest.starts_with("::client::Client") {
                return Some(name);
            }
            from = start;
        }
        for (module, sdk) in &self.module_aliases {
            for at in word_positions(text, module) {
                let rest = &text[at + module.len()..];
                if rest.starts_with("::Client") || rest.starts_with("::client::Client") {
                    return Some(sdk.clone());
                }
            }
        }
        for (alias, sdk) in &self.type_aliases {
            // `Client` on its own, not `reqwest::Client`.
            if word_positions(text, alias).into_iter().any(|at| !text[..at].ends_with("::")) {
                return Some(sdk.clone());
            }
        }
        None
    }
}

fn file_facts(source: &str) -> FileFacts {
    let mut facts = FileFacts::default();
    let mut from = 0;
    while let Some(i) = source[from..].find("aws_sdk_") {
        let start = from + i + "aws_sdk_".len();
        let before = source[..from + i].chars().next_back();
        let name: String = source[start..].chars().take_while(|&c| is_ident(c)).collect();
        if !before.is_some_and(is_ident) && !name.is_empty() {
            facts.crates.insert(name.clone());
        }
        from = start + name.len();
    }

    // `use` statements naming an SDK crate.
    for at in word_positions(source, "use") {
        let Some(end) = source[at..].find(';') else { continue };
        let tree: String = source[at + 3..at + end].split_whitespace().collect::<Vec<_>>().join(" ");
        let tree = tree.replace(" ::", "::").replace(":: ", "::");
        if !tree.trim_start().starts_with("aws_sdk_") {
            continue;
        }
        let mut bound = Vec::new();
        flatten_use("", &tree, &mut bound);
        for (path, name) in bound {
            let Some(rest) = path.strip_prefix("aws_sdk_") else { continue };
            let (sdk, tail) = rest.split_once("::").unwrap_or((rest, ""));
            match tail {
                "" => {
                    facts.module_aliases.insert(name, sdk.to_string());
                }
                "Client" | "client::Client" => {
                    facts.type_aliases.insert(name, sdk.to_string());
                }
                _ => {}
            }
        }
    }

    // `name: Type` in fields, parameters, `let` with a type, and struct literals.
    let bytes = source.as_bytes();
    for (i, c) in source.char_indices() {
        if c != ':' || bytes.get(i + 1) == Some(&b':') || (i > 0 && bytes[i - 1] == b':') {
            continue;
        }
        let name: String = {
            let head = source[..i].trim_end();
            let rev: String = head.chars().rev().take_while(|&c| is_ident(c)).collect();
            rev.chars().rev().collect()
        };
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let mut depth = 0i32;
        let ty: String = source[i + 1..]
            .chars()
            .take_while(|&c| {
                match c {
                    '<' => depth += 1,
                    '>' => depth -= 1,
                    _ => {}
                }
                !(depth <= 0 && matches!(c, ',' | ';' | '=' | ')' | '(' | '{' | '}' | '\n'))
            })
            .collect();
        match facts.sdk_type(&ty) {
            Some(sdk) => {
                facts.clients.insert(name, sdk);
            }
            // `field: value` in a struct literal says nothing about the field's type.
            None if looks_like_type(&ty) => {
                facts.others.insert(name);
            }
            None => {}
        }
    }

    // `let name = <SDK client>::new(..)` and `let name = &self.client;`
    for at in word_positions(source, "let") {
        let Some(end) = source[at..].find(';') else { continue };
        let statement = &source[at + 3..at + end];
        let Some((lhs, rhs)) = statement.split_once('=') else { continue };
        if rhs.starts_with('=') || lhs.contains(':') {
            continue;
        }
        let name = lhs.trim().trim_start_matches("mut ").trim();
        if name.is_empty() || !name.chars().all(is_ident) {
            continue;
        }
        if let Some(sdk) = facts.sdk_type(rhs).filter(|_| rhs.contains("::new(") || rhs.contains("::from_conf(")) {
            facts.clients.insert(name.to_string(), sdk);
            continue;
        }
        let other = rhs.trim().trim_start_matches('&').trim_start_matches("self.").trim_end_matches(".clone()").trim();
        if !other.is_empty() && other.chars().all(is_ident) {
            facts.aliases.push((name.to_string(), other.to_string()));
        }
    }
    facts
}

/// Whether the text after `name:` reads as a type (`reqwest::Client`, `&Db`, `u64`) rather
/// than a value in a struct literal (`client`, `config.clone()`).
fn looks_like_type(text: &str) -> bool {
    let text = text.trim();
    let path = text.split('<').next().unwrap_or_default();
    let last = path.rsplit("::").next().unwrap_or_default().trim();
    text.starts_with(['&', '[', '(', '*'])
        || text.starts_with("dyn ")
        || text.starts_with("impl ")
        || last.starts_with(|c: char| c.is_ascii_uppercase())
        || matches!(
            last,
            "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64" | "i128" | "isize"
                | "f32" | "f64" | "bool" | "char" | "str"
        )
}

/// Zero-argument method calls: (receiver, method, byte offset).
fn method_calls(source: &str) -> Vec<(String, String, usize)> {
    let mut calls = Vec::new();
    for (dot, _) in source.match_indices('.') {
        let after = source[dot + 1..].trim_start();
        let method: String = after.chars().take_while(|&c| is_ident(c)).collect();
        if method.is_empty() || !method.starts_with(|c: char| c.is_ascii_lowercase()) {
            continue;
        }
        let rest = after[method.len()..].trim_start();
        let Some(args) = rest.strip_prefix('(') else { continue };
        if !args.trim_start().starts_with(')') {
            continue;
        }
        let head = source[..dot].trim_end();
        let receiver: String = {
            let rev: String = head.chars().rev().take_while(|&c| is_ident(c)).collect();
            rev.chars().rev().collect()
        };
        if receiver.is_empty() || receiver.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        calls.push((receiver, method, dot));
    }
    calls
}

/// Scans named sources (`(name, text)`) for AWS SDK calls.
fn scan_sources(files: &[(String, String)]) -> Scan {
    let mut facts: Vec<(String, String, FileFacts)> = files
        .iter()
        .map(|(name, text)| {
            let text = without_comment_lines(text);
            let facts = file_facts(&text);
            (name.clone(), text, facts)
        })
        .collect();
    // A field declared in one file (a struct) may be used in another (its impl).
    let mut everywhere: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, _, f) in &facts {
        for (name, sdk) in &f.clients {
            everywhere.entry(name.clone()).or_default().insert(sdk.clone());
        }
    }
    for (_, _, f) in &mut facts {
        for (name, other) in f.aliases.clone() {
            let known = everywhere.get(&other).filter(|k| k.len() == 1).and_then(|k| k.iter().next());
            if let Some(sdk) = f.clients.get(&other).or(known).cloned() {
                f.clients.insert(name, sdk);
            }
        }
    }
    let mut scan = Scan::default();
    for (name, text, f) in &facts {
        for (receiver, method, offset) in method_calls(text) {
            if NOT_OPERATIONS.contains(&method.as_str()) {
                continue;
            }
            let line = text[..offset].matches('\n').count() + 1;
            let at = format!("{name}:{line}");
            let known = everywhere.get(&receiver).cloned().unwrap_or_default();
            let sdk = if let Some(sdk) = f.clients.get(&receiver) {
                sdk.clone()
            } else if f.others.contains(&receiver) {
                continue;
            } else if !known.is_empty() || (receiver.to_ascii_lowercase().contains("client") && !f.crates.is_empty()) {
                if f.crates.len() == 1 {
                    f.crates.iter().next().expect("one").clone()
                } else if known.len() == 1 {
                    known.iter().next().expect("one").clone()
                } else {
                    scan.unresolved.push(format!(
                        "{at}: {receiver}.{method}(): cannot tell which AWS service `{receiver}` is a client of \
                         (declare it with its aws_sdk_<service>::Client type in this file)"
                    ));
                    continue;
                }
            } else {
                continue;
            };
            match iam_prefix(&sdk) {
                Some(prefix) => scan.calls.push(Call { action: iam_action(prefix, &pascal_case(&method)), at }),
                None => scan.unresolved.push(format!(
                    "{at}: {receiver}.{method}(): aws_sdk_{sdk} has no IAM prefix in this test; add it to iam_prefix()"
                )),
            }
        }
    }
    scan.calls.sort();
    scan.calls.dedup();
    scan
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository").to_path_buf()
}

/// Every `server/src/**/*.rs` (or `BERTH_IAM_SCAN_DIR`), scanned.
fn scan_product() -> Scan {
    let root = repo_root();
    let dir = std::env::var_os("BERTH_IAM_SCAN_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("server/src"));
    let mut paths = Vec::new();
    rust_files(&dir, &mut paths);
    assert!(!paths.is_empty(), "no Rust sources under {}", dir.display());
    let files: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            let name = p.strip_prefix(&root).unwrap_or(p).display().to_string();
            (name, std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())))
        })
        .collect();
    scan_sources(&files)
}

// -------------------------------------------------------------------------------- policy

/// `*` (any run of characters) and `?` (one), without regard to case, as IAM matches actions.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

struct Statement {
    sid: String,
    allow: bool,
    actions: Vec<String>,
    /// `NotAction`: the statement covers every action but these.
    not_actions: Option<Vec<String>>,
    conditional: bool,
}

impl Statement {
    fn covers(&self, action: &str) -> bool {
        match &self.not_actions {
            Some(not) => !not.iter().any(|p| wildcard_match(p, action)),
            None => self.actions.iter().any(|p| wildcard_match(p, action)),
        }
    }
}

fn statements(policy: &Value) -> Vec<Statement> {
    let list = match &policy["Statement"] {
        Value::Array(items) => items.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    list.iter()
        .map(|s| Statement {
            sid: s["Sid"].as_str().unwrap_or_default().to_string(),
            allow: s["Effect"] == "Allow",
            actions: strings(s.get("Action")),
            not_actions: s.get("NotAction").map(|v| strings(Some(v))),
            conditional: s.get("Condition").is_some(),
        })
        .collect()
}

/// The Sid of a statement allowing `action`, unless an unconditional Deny covers it.
fn allowed_by(statements: &[Statement], action: &str) -> Option<String> {
    if statements.iter().any(|s| !s.allow && !s.conditional && s.covers(action)) {
        return None;
    }
    statements.iter().find(|s| s.allow && s.covers(action)).map(|s| s.sid.clone())
}

/// The calls no statement allows, as `file:line action`.
fn uncovered(scan: &Scan, statements: &[Statement]) -> Vec<String> {
    scan.calls.iter().filter(|c| allowed_by(statements, &c.action).is_none()).map(|c| format!("{} {}", c.at, c.action)).collect()
}

fn policy() -> Value {
    let path = repo_root().join("iam/berth-policy.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

// --------------------------------------------------------------------------------- tests

/// The CloudFormation operations Berth's deployment engine is known to call.
const KNOWN_CLOUDFORMATION: &[&str] = &[
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "cloudformation:CreateStack",
    "cloudformation:DeleteStack",
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteChangeSet",
];

#[test]
fn the_policy_allows_every_aws_call_the_code_makes() {
    let scan = scan_product();
    assert!(scan.unresolved.is_empty(), "AWS calls the scan cannot attribute to a service:\n{}", scan.unresolved.join("\n"));
    let missing = uncovered(&scan, &statements(&policy()));
    assert!(
        missing.is_empty(),
        "iam/berth-policy.json does not allow these AWS calls of the code; add them to a Berth* statement \
         (and to iam/README.md):\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_scan_finds_the_known_cloudformation_calls() {
    let scan = scan_product();
    for call in &scan.calls {
        eprintln!("{} {}", call.at, call.action);
    }
    let found = scan.actions();
    let lost: Vec<_> = KNOWN_CLOUDFORMATION.iter().filter(|a| !found.contains(**a)).collect();
    assert!(lost.is_empty(), "the scan no longer finds {lost:?} (found {found:?}): is the scanner broken?");
}

/// The policy's two parts stay honest: Berth's own calls are granted by the `Berth*`
/// statements, not only by what CloudFormation needs on Berth's behalf (`Cfn*`).
#[test]
fn berths_own_calls_are_granted_by_the_berth_statements() {
    let scan = scan_product();
    let own: Vec<Statement> = statements(&policy()).into_iter().filter(|s| s.sid.starts_with("Berth")).collect();
    let missing = uncovered(&scan, &own);
    assert!(missing.is_empty(), "calls no Berth* statement allows (Cfn* statements are for what CloudFormation does on Berth's behalf); grant them in a Berth* statement:\n{}", missing.join("\n"));
}

#[test]
fn the_policy_is_a_well_formed_managed_policy() {
    let policy = policy();
    assert_eq!(policy["Version"], "2012-10-17");
    let all = statements(&policy);
    assert!(!all.is_empty());
    let mut sids = BTreeSet::new();
    for (s, raw) in all.iter().zip(policy["Statement"].as_array().expect("a list of statements")) {
        assert!(!s.sid.is_empty() && s.sid.chars().all(|c| c.is_ascii_alphanumeric()), "bad Sid {:?}", s.sid);
        assert!(sids.insert(s.sid.clone()), "Sid {} appears twice", s.sid);
        assert!(s.sid.starts_with("Berth") || s.sid.starts_with("Cfn"), "{}: Sids start with Berth or Cfn", s.sid);
        assert!(matches!(raw["Effect"].as_str(), Some("Allow" | "Deny")), "{}: Effect", s.sid);
        assert!(!s.actions.is_empty(), "{}: no Action", s.sid);
        for action in &s.actions {
            let (service, name) = action.split_once(':').unwrap_or_else(|| panic!("{}: {action} is not service:Action", s.sid));
            assert!(!service.is_empty() && service.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{action}");
            assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '*'), "{action}");
            assert!(name != "*", "{}: {action} grants a whole service", s.sid);
        }
        let resources = strings(raw.get("Resource"));
        assert!(!resources.is_empty(), "{}: no Resource", s.sid);
        for r in resources {
            assert!(r == "*" || r.starts_with("arn:aws:"), "{}: resource {r}", s.sid);
        }
    }
    // IAM's limit for a customer managed policy: 6,144 characters, white space not counted.
    let size = serde_json::to_string(&policy).expect("serializes").chars().filter(|c| !c.is_whitespace()).count();
    assert!(size <= 6144, "the policy has {size} characters; a managed policy holds at most 6,144");
}

// Checks of the checker itself, on inline sources and policies.

fn scan_of(source: &str) -> Scan {
    scan_sources(&[("snippet.rs".to_string(), source.to_string())])
}

#[test]
fn an_uncovered_call_is_reported() {
    let source = r#"
        use aws_sdk_ecs::Client;
        pub struct SdkEcs { client: Client }
        impl SdkEcs {
            async fn tasks(&self) {
                let _ = self.client.describe_services().cluster("c").send().await;
                let _ = self.client
                    .run_task()
                    .cluster("c")
                    .send()
                    .await;
            }
        }
    "#;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Reads", "Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}]
    });
    let scan = scan_of(source);
    assert_eq!(scan.actions(), BTreeSet::from(["ecs:DescribeServices".to_string(), "ecs:RunTask".to_string()]));
    // The line of the `.` before the operation.
    assert_eq!(uncovered(&scan, &statements(&policy)), vec!["snippet.rs:8 ecs:RunTask".to_string()]);
}

#[test]
fn each_client_is_mapped_to_the_service_of_its_type() {
    let source = r#"
        use aws_sdk_cloudformation::Client as CfnClient;
        use aws_sdk_elasticloadbalancingv2 as elb;
        use aws_sdk_ecs::{types::DesiredStatus, Client as EcsClient};
        // self.nothing.create_bucket() is only a comment
        pub struct Health { cfn: CfnClient, ecs: EcsClient, elb: elb::Client, http: reqwest::Client }
        impl Health {
            pub fn new(config: &aws_config::SdkConfig) -> Self {
                let lb = aws_sdk_elasticloadbalancingv2::Client::new(config);
                let _ = lb.describe_target_groups();
                Health { cfn: CfnClient::new(config), ecs: EcsClient::new(config), elb: lb, http: reqwest::Client::new() }
            }
            async fn read(&self) {
                let _ = self.cfn.describe_stacks().send().await;
                let tasks = &self.ecs;
                let _ = tasks.list_tasks().desired_status(DesiredStatus::Stopped).send().await;
                let _ = self.elb.describe_target_health().send().await;
                let _ = self.ecs.clone();
                let _ = self.http.get("http://example.com").send().await;
                let _ = self.http.clone();
            }
        }
    "#;
    let scan = scan_of(source);
    assert!(scan.unresolved.is_empty(), "{:?}", scan.unresolved);
    assert_eq!(
        scan.actions(),
        BTreeSet::from(
            [
                "cloudformation:DescribeStacks",
                "ecs:ListTasks",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
            ]
            .map(String::from)
        )
    );
}

#[test]
fn a_client_field_declared_in_another_file_is_followed() {
    let files = [
        ("mod.rs".to_string(), "pub struct Ecs { pub(crate) svc: aws_sdk_ecs::Client }".to_string()),
        ("reads.rs".to_string(), "impl super::Ecs { async fn f(&self) { self.svc.describe_tasks().send().await; } }".to_string()),
    ];
    let scan = scan_sources(&files);
    assert!(scan.unresolved.is_empty(), "{:?}", scan.unresolved);
    assert_eq!(scan.actions(), BTreeSet::from(["ecs:DescribeTasks".to_string()]));
}

#[test]
fn a_client_of_unknown_service_fails_instead_of_passing() {
    // Two SDK crates in one file and a client the scan cannot place.
    let source = r#"
        use aws_sdk_ecs as ecs;
        use aws_sdk_ec2 as ec2;
        fn f(x: X) { let _ = x.client.terminate_instances(); }
    "#;
    let scan = scan_of(source);
    assert_eq!(scan.unresolved.len(), 1, "{:?}", scan);
    assert!(scan.unresolved[0].contains("terminate_instances"));
    // An SDK crate the test has no IAM prefix for.
    let scan = scan_of("struct A { client: aws_sdk_kafka::Client } fn f(a: A) { a.client.list_clusters(); }");
    assert_eq!(scan.unresolved.len(), 1, "{:?}", scan);
    assert!(scan.unresolved[0].contains("aws_sdk_kafka"));
}

#[test]
fn policy_matching_follows_iam() {
    assert!(wildcard_match("cloudformation:Describe*", "cloudformation:DescribeStacks"));
    assert!(wildcard_match("ecs:describeservices", "ecs:DescribeServices"));
    assert!(wildcard_match("ec2:UpdateSecurityGroupRuleDescriptions*", "ec2:UpdateSecurityGroupRuleDescriptionsIngress"));
    assert!(wildcard_match("ecs:Describe?asks", "ecs:DescribeTasks"));
    assert!(wildcard_match("*", "s3:GetObject"));
    assert!(!wildcard_match("cloudformation:Describe*", "cloudformation:DeleteStack"));
    assert!(!wildcard_match("ecs:DescribeService", "ecs:DescribeServices"));
    assert!(!wildcard_match("ecs:Describe*", "ec2:DescribeVpcs"));

    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "All", "Effect": "Allow", "Action": ["cloudformation:*"], "Resource": "*"},
        {"Sid": "NoDeletes", "Effect": "Deny", "Action": "cloudformation:Delete*", "Resource": "*"},
        {"Sid": "MaybeTags", "Effect": "Deny", "Action": "cloudformation:TagResource", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}},
        {"Sid": "AllButIam", "Effect": "Allow", "NotAction": ["iam:*", "cloudformation:*"], "Resource": "*"}
    ]});
    let s = statements(&policy);
    assert_eq!(allowed_by(&s, "cloudformation:CreateStack").as_deref(), Some("All"));
    assert_eq!(allowed_by(&s, "cloudformation:DeleteStack"), None);
    assert_eq!(allowed_by(&s, "cloudformation:TagResource").as_deref(), Some("All"));
    assert_eq!(allowed_by(&s, "ecs:ListTasks").as_deref(), Some("AllButIam"));
    assert_eq!(allowed_by(&s, "iam:PassRole"), None);
}

#[test]
fn snake_case_operations_become_iam_actions() {
    assert_eq!(iam_action("cloudformation", &pascal_case("describe_stack_events")), "cloudformation:DescribeStackEvents");
    assert_eq!(iam_action("elasticloadbalancing", &pascal_case("describe_target_health")), "elasticloadbalancing:DescribeTargetHealth");
    assert_eq!(iam_action("s3", &pascal_case("list_objects_v2")), "s3:ListBucket");
}

fn json_file(path: &str) -> Value {
    let path = repo_root().join(path);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).expect("JSON")
}

/// The role a target account gives Berth (iam/target-account-role.json) allows exactly what
/// Berth's own policy does, but for `berth doctor`'s statement (which runs in Berth's own
/// account), so a statement added to one and not the other fails here; and Berth's identity
/// may assume that role by its default name.
#[test]
fn the_target_account_role_allows_what_berths_own_policy_does() {
    let template = json_file("iam/target-account-role.json");
    let granted = &template["Resources"]["BerthPermissions"]["Properties"]["PolicyDocument"]["Statement"];
    let own: Vec<Value> = policy()["Statement"].as_array().unwrap().iter().filter(|s| s["Sid"] != "BerthDoctor").cloned().collect();
    assert_eq!(granted.as_array().unwrap(), &own, "iam/target-account-role.json's statements differ from iam/berth-policy.json's");
    let role_name = template["Parameters"]["RoleName"]["Default"].as_str().unwrap();
    assert!(!role_name.starts_with("berth-"), "the role Berth acts as must not be one CfnRoles lets Berth change: {role_name}");
    let assume = json_file("iam/berth-assume-policy.json");
    let statement = &assume["Statement"][0];
    assert_eq!((statement["Effect"].as_str(), statement["Action"].as_str()), (Some("Allow"), Some("sts:AssumeRole")));
    assert_eq!(statement["Resource"], format!("arn:aws:iam::*:role/{role_name}"));
    // The trust policy names Berth and, when given, the external id.
    let trust = &template["Resources"]["BerthRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"]["AWS"]["Ref"], "BerthPrincipalArn");
    assert_eq!(trust["Condition"]["Fn::If"][1]["StringEquals"]["sts:ExternalId"]["Ref"], "ExternalId");
}
