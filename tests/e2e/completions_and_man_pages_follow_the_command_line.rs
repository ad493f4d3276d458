//! `tracespool completions` and `tracespool man` are generated from the
//! command table, so they follow it: bash completes the commands and the
//! newest flags, and every command has a man page that renders without a
//! warning and names the environment variables.
use std::process::Command;

use tracespool_tests::skip;

fn tracespool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tracespool"))
}

/// What bash's completion function offers for `words` (the last one is
/// being typed).
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        "source {script}\n\
         COMP_WORDS=({line}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
         _tracespool tracespool '{cur}' '{prev}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script = script.display(),
        cword = words.len() - 1,
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_commands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = tracespool().args(["completions", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let script = dir.path().join("tracespool.bash");
    std::fs::write(&script, &out.stdout).unwrap();

    let commands = bash_completes(&script, &["tracespool", "ins"]);
    assert_eq!(commands, ["inspect"]);
    let flags = bash_completes(&script, &["tracespool", "upload", "--header"]);
    assert!(flags.contains(&"--header".to_owned()), "{flags:?}");
    assert!(flags.contains(&"--header-file".to_owned()), "{flags:?}");
    let sinks = bash_completes(&script, &["tracespool", "upload", "--sink", ""]);
    assert_eq!(sinks, ["cloudtrace", "otlp"]);

    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = tracespool().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("header-file"),
            "{shell}"
        );
    }
    let out = tracespool().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(64),
        "an unknown shell is a usage error"
    );
}

#[test]
fn every_command_has_a_man_page_that_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out = tracespool()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help =
        String::from_utf8_lossy(&tracespool().arg("--help").output().unwrap().stdout).into_owned();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 11, "{commands:?}");
    for c in &commands {
        assert!(
            dir.path().join(format!("tracespool-{c}.1")).exists(),
            "no page for {c}"
        );
    }
    let upload = std::fs::read_to_string(dir.path().join("tracespool-upload.1")).unwrap();
    assert!(
        upload.contains("TRACESPOOL_HEADERS"),
        "env vars in the page"
    );
    let main = tracespool().arg("man").output().unwrap();
    let main_page = String::from_utf8_lossy(&main.stdout);
    assert!(main_page.starts_with(".ie"), "{main_page}");
    assert!(main_page.contains("64 usage error"));

    let Some(()) = (if which("groff") {
        Some(())
    } else {
        skip("groff is not installed (apt install groff-base)")
    }) else {
        return;
    };
    for page in std::fs::read_dir(dir.path()).unwrap() {
        let page = page.unwrap().path();
        let out = Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-b"])
            .arg(&page)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", page.display());
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(warnings.is_empty(), "{}: {warnings}", page.display());
        assert!(!out.stdout.is_empty());
    }
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}
