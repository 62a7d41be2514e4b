//! CLI ergonomics (issue 19): shell completions and man pages generated from the clap
//! definitions, and enum values accepted in any case.

use std::process::Command;

fn palisade(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .env_remove("PALISADE_DB")
        .output()
        .expect("running palisade")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn completions_for_every_shell_name_every_subcommand() {
    for (shell, marker) in [
        ("bash", "complete -F _palisade"),
        ("zsh", "#compdef palisade"),
        ("fish", "complete -c palisade"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[palisade]"),
    ] {
        let out = palisade(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for sub in ["sbom", "scan", "gate", "verify", "serve", "completions"] {
            assert!(script.contains(sub), "{shell}: no {sub}");
        }
    }
    // The bash script is valid bash, and completes `palisade sc` to `scan`.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("palisade.bash");
    std::fs::write(&script, stdout(&palisade(&["completions", "bash"]))).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(palisade sc); COMP_CWORD=1; _palisade palisade sc palisade; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out).trim(), "scan");
    // Any case; an unknown shell is refused with the list.
    assert!(palisade(&["completions", "ZSH"]).status.success());
    let bad = palisade(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bash"));
}

#[test]
fn man_pages_for_the_command_and_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let out = palisade(&["man", "--output-dir", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    for page in [
        "palisade.1",
        "palisade-scan.1",
        "palisade-db-update.1",
        "palisade-serve.1",
    ] {
        let text =
            std::fs::read_to_string(out_dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH palisade"), "{page}");
        assert!(text.contains(".SH NAME"), "{page}");
    }
    let scan = std::fs::read_to_string(out_dir.join("palisade-scan.1")).unwrap();
    assert!(scan.contains("min\\-cvss"), "the options are documented");
    // man itself renders it, when installed.
    if Command::new("man")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let out = Command::new("man")
            .arg("-l")
            .arg(out_dir.join("palisade-scan.1"))
            .env("MANPAGER", "cat")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = stdout(&out)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(text.contains("List the known vulnerabilities"), "{text}");
    }
}

#[test]
fn enum_values_are_accepted_in_any_case() {
    // Parsing succeeds (the error is the missing database, not the spelling).
    let out = palisade(&[
        "scan",
        "/nonexistent",
        "--severity",
        "CRITICAL,High",
        "--format",
        "JSON",
        "--db",
        "/nonexistent/vuln.db",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("invalid value"), "{stderr}");
    let out = palisade(&["scan", "/x", "--severity", "severe"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid value") && stderr.to_ascii_lowercase().contains("critical"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn exclude_leaves_paths_of_a_directory_out() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let put = |path: &str, text: &str| {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    put(
        "usr/lib/python3/dist-packages/alpha-1.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: alpha\nVersion: 1.0\n",
    );
    put(
        "home/u/.local/lib/python3.11/site-packages/beta-2.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: beta\nVersion: 2.0\n",
    );
    put(
        "opt/app/node_modules/lodash/package.json",
        r#"{"name":"lodash","version":"4.17.15"}"#,
    );
    let names = |extra: &[&str]| -> Vec<String> {
        let source = format!("dir:{}", root.display());
        let mut args = vec!["sbom", source.as_str(), "--format", "json", "--no-cache"];
        args.extend_from_slice(extra);
        let out = palisade(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut n: Vec<String> = v["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&[]), ["alpha", "beta", "lodash"]);
    assert_eq!(names(&["--exclude", "home"]), ["alpha", "lodash"]);
    assert_eq!(names(&["--exclude", "/home/"]), ["alpha", "lodash"]);
    assert_eq!(
        names(&["--exclude", "**/node_modules", "--exclude", "./home/**"]),
        ["alpha"]
    );
    assert_eq!(names(&["--exclude", "usr/lib/*"]), ["beta", "lodash"]);
    // Only for directories, and only valid globs.
    let out = palisade(&["sbom", "oci-archive:/nonexistent.tar", "--exclude", "home"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--exclude applies to a directory"));
    let source = format!("dir:{}", root.display());
    let out = palisade(&["sbom", &source, "--exclude", "a/***"]);
    assert_eq!(out.status.code(), Some(2));
}
