//! The README stays true to the code: every setting of the configuration is in its
//! reference table, every `BERTH_*` variable the server reads is named, and the two
//! commands it tells newcomers to run exist.

use berth_tests::workspace;

/// The `pub` fields of `struct name` in the source, except those serde skips.
fn fields(source: &str, name: &str) -> Vec<String> {
    let start = source.find(&format!("pub struct {name} {{")).unwrap_or_else(|| panic!("struct {name} in config.rs"));
    let body = &source[start..source[start..].find("\n}").map(|end| start + end).unwrap()];
    let mut skip_next = false;
    let mut out = Vec::new();
    for line in body.lines().skip(1).map(str::trim) {
        if line.starts_with("#[serde(skip") {
            skip_next = true;
        } else if let Some(rest) = line.strip_prefix("pub ") {
            let field = rest.split(':').next().unwrap().trim().to_string();
            if !std::mem::take(&mut skip_next) {
                out.push(field);
            }
        }
    }
    out
}

#[test]
fn every_setting_is_in_the_readme() {
    let config = std::fs::read_to_string(workspace().join("server/src/config.rs")).unwrap();
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let mut missing = Vec::new();
    let settings = fields(&config, "Config");
    assert!(settings.len() >= 15 && settings.contains(&"deploy_poll_ms".to_string()), "{settings:?}");
    for field in settings.iter().chain(fields(&config, "DefaultEnvironment").iter()).chain(fields(&config, "Oidc").iter()) {
        // Tables of the file are written as they appear in TOML.
        let named = [format!("`{field}`"), format!("`[{field}]`"), format!("`[[{field}]]`")];
        if !named.iter().any(|n| readme.contains(n.as_str())) {
            missing.push(field.clone());
        }
    }
    for var in config.split('"').filter(|s| s.starts_with("BERTH_") && s.chars().all(|c| c.is_ascii_uppercase() || c == '_')) {
        if !readme.contains(var) {
            missing.push(var.to_string());
        }
    }
    assert!(missing.is_empty(), "not in README.md's configuration reference: {missing:?}");
}

#[test]
fn the_readme_commands_exist() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    for command in ["scripts/run", "scripts/test"] {
        assert!(readme.contains(command));
        let path = workspace().join(command);
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
        assert!(mode & 0o111 != 0, "{command} is executable");
    }
    let ci = std::fs::read_to_string(workspace().join(".ci/run")).unwrap();
    assert!(ci.contains("scripts/test"), ".ci/run runs the README's test command");
}
