//! The table in `server/tests/README.md` names, for every rule of SECURITY.md, the tests
//! that fail when the rule breaks. This keeps the table true: every rule has a row with
//! at least one test, and every test it names exists, so renaming or deleting a test
//! cannot leave a rule silently untested.

use std::path::{Path, PathBuf};

/// SECURITY.md's rule ids, in its order.
const RULES: &[&str] = &[
    "A1", "A2", "A3", "A4", "S1", "S2", "S3", "S4", "S5", "S6", "K1", "K2", "K3", "K4", "K5", "K6",
    "K7", "K8", "K9", "Z1", "Z2", "Z3", "Z4", "Z5", "Z6", "T1", "T2", "T3", "T4", "I1", "I2", "R1",
    "R2", "R3", "R4", "R5", "W1", "W2", "W4", "W5", "W3", "L1", "L2", "L3", "L4",
];

/// L5 (credits) waits for the quota feature (issue 30): its row says NONE, and no other may.
const NOT_YET: &[&str] = &["L5"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether `file` defines a function named `name`.
fn defines(file: &Path, name: &str) -> bool {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
    text.contains(&format!("fn {name}(")) || text.contains(&format!("fn {name}<"))
}

#[test]
fn every_rule_names_tests_that_exist() {
    let readme = std::fs::read_to_string(root().join("server/tests/README.md")).unwrap();
    let mut seen = Vec::new();
    for line in readme
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Rule"))
    {
        let cells: Vec<&str> = line.split(" | ").collect();
        let rule = cells[0].trim_start_matches("| ").trim();
        let tests = cells.get(2).copied().unwrap_or_default();
        seen.push(rule.to_owned());
        if NOT_YET.contains(&rule) {
            assert_eq!(tests.trim(), "NONE", "{rule}");
            continue;
        }
        let names: Vec<&str> = tests.split('`').skip(1).step_by(2).collect();
        assert!(!names.is_empty(), "{rule} names no test");
        for name in names {
            if let Some((spec, title)) = name.split_once(": \"") {
                let title = title.trim_end_matches('"');
                let text = std::fs::read_to_string(root().join(spec)).unwrap();
                assert!(text.contains(title), "{rule}: no test {title:?} in {spec}");
                continue;
            }
            let (file, function) = name
                .split_once("::")
                .unwrap_or_else(|| panic!("{rule}: {name} is not file::function"));
            let path = if file.contains('/') {
                root().join(file)
            } else {
                root().join("server/tests").join(file)
            };
            assert!(defines(&path, function), "{rule}: {name} does not exist");
        }
    }
    let expected: Vec<String> = RULES
        .iter()
        .chain(NOT_YET)
        .map(|r| (*r).to_owned())
        .collect();
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    assert_eq!(sorted_seen, sorted_expected, "one row per rule");
}
