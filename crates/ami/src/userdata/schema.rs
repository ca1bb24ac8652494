//! `#cloud-config` checked against cloud-init's JSON schema, as cloud-init
//! 22.4.2 checks it (`cloudinit/config/schema.py`
//! `validate_cloudconfig_schema`): the schema is
//! `cloudinit/config/schemas/schema-cloud-config-v1.json`, vendored from
//! Debian's `cloud-init` 22.4.2-1+deb12u4 package in `crates/ami/schemas/`
//! with its licence (cloud-init is dual-licensed GPLv3 / Apache-2.0; used
//! here under Apache-2.0), validated as Draft 4 with Python jsonschema's
//! `FormatChecker()`.
//!
//! What cloud-init reports:
//! - *errors* make `cloud-init schema --config-file` print "Error:" and, at
//!   boot, log "Invalid cloud-config provided" — a warning: the modules
//!   still run with what they can use;
//! - *deprecations* (the schema's `deprecated` annotation; keys such as
//!   `apt_update`) are printed, but the file is still "Valid cloud-config".
//!   boot-sim does not report them.
//!
//! Formats: Python's `FormatChecker()` checks only the formats whose
//! dependencies are installed; on Debian bookworm with python3-jsonschema
//! that includes `date` but not `uri` (rfc3987) or `hostname` (fqdn), so
//! those two are not checked here either. Unknown top-level keys are valid
//! (22.4's schema has no `additionalProperties: false` at the top).

use std::sync::OnceLock;

use serde_json::Value;

/// The vendored schema.
pub const SCHEMA: &str = include_str!("../../schemas/schema-cloud-config-v1.json");

/// Errors reported for one document, at most.
pub const MAX_ERRORS: usize = 20;

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("the vendored schema is JSON");
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .with_format("uri", |_| true)
            .with_format("hostname", |_| true)
            .build(&schema)
            .expect("the vendored schema compiles")
    })
}

/// One schema error: where (`users.0.groups`, as cloud-init joins the
/// path) and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SchemaError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() { write!(f, "{}", self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// The schema errors of a loaded `#cloud-config` (at most [`MAX_ERRORS`],
/// sorted by path as cloud-init sorts them).
pub fn validate(config: &Value) -> Vec<SchemaError> {
    let mut v: Vec<SchemaError> = validator()
        .iter_errors(config)
        .take(MAX_ERRORS)
        .map(|e| {
            let path = e.instance_path().to_string();
            let path = path.trim_start_matches('/').split('/').collect::<Vec<_>>().join(".");
            SchemaError { path, message: e.to_string() }
        })
        .collect();
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_and_nested_items_are_checked() {
        assert!(validate(&json!({"runcmd": ["echo hi", ["ls", "-l"]], "packages": ["nginx"]})).is_empty());
        let e = validate(&json!({"runcmd": "echo"}));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "runcmd");
        assert!(!validate(&json!({"package_update": "maybe"})).is_empty());
        assert!(!validate(&json!({"users": [{"name": "a", "groups": 5}]})).is_empty());
        // Unknown keys, deprecated keys, unchecked formats: valid.
        assert!(validate(&json!({"runncmd": ["x"], "apt_update": true, "fqdn": "bad host!"})).is_empty());
        // `date` is checked.
        assert!(!validate(&json!({"users": [{"name": "a", "expiredate": "not a date"}]})).is_empty());
        assert!(validate(&json!({"users": [{"name": "a", "expiredate": "2030-01-31"}]})).is_empty());
    }
}
