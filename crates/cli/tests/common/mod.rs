//! What the CLI tests share: running the binary as users run it, and checking its answers.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// What a run of the binary gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `keyscope args…` with no KEYSCOPE_* variables but `env`.
pub fn keyscope_with(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyscope"));
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("KEYSCOPE_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    let output = command.output().expect("run keyscope");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

pub fn keyscope(args: &[&str]) -> Run {
    keyscope_with(args, &[])
}

/// The run failed with `code` and exactly one line on stderr that contains every one of `needles`.
pub fn assert_error(run: &Run, code: i32, needles: &[&str]) {
    assert_eq!(
        run.code, code,
        "exit code; stdout: {} stderr: {}",
        run.stdout, run.stderr
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {:?}", run.stderr);
    assert!(lines[0].starts_with("keyscope: error: "), "{:?}", lines[0]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "{needle:?} not in {:?}",
            lines[0]
        );
    }
}

pub fn json(run: &Run) -> Value {
    assert_eq!(
        run.code, 0,
        "exit code; stdout: {} stderr: {}",
        run.stdout, run.stderr
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// A fresh directory for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keyscope-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}
