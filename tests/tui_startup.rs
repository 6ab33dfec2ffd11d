//! Start-up errors are clear and happen before the terminal is touched: a bad user keymap
//! names its file and line, a bad theme names itself, no terminal is refused. Runs the demo
//! binary without a TTY.

use std::process::Command;

fn demo(config_home: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rookery-tui-demo"))
        .args(args)
        .env("XDG_CONFIG_HOME", config_home)
        .env_remove("NO_COLOR")
        .output()
        .expect("run the demo binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn invalid_user_keymap_is_an_error_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("rookery")).expect("mkdir");
    let keymap = dir.path().join("rookery/keymap.toml");
    std::fs::write(&keymap, "[live]\n\"+\" = \"rate_up\"\nw = \"warp_speed\"\n").expect("write");
    let (code, stderr) = demo(dir.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    let expected = format!(
        "rookery-tui-demo: keymap: {}:3: unknown action `warp_speed` for key `w`",
        keymap.display()
    );
    assert_eq!(stderr.trim(), expected);
}

#[test]
fn unknown_or_broken_theme_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, stderr) = demo(dir.path(), &["--theme", "solarized"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("unknown theme `solarized`"), "{stderr}");

    let theme = dir.path().join("mine.toml");
    std::fs::write(
        &theme,
        "name = \"mine\"\n[styles]\nbase = { fg = \"not-a-colour\" }\n",
    )
    .expect("write");
    let (code, stderr) = demo(dir.path(), &["--theme", &theme.display().to_string()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "theme {}: TOML parse error at line 3",
            theme.display()
        )),
        "{stderr}"
    );
}

#[test]
fn without_a_terminal_it_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, stderr) = demo(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr.trim(),
        "rookery-tui-demo: terminal: stdout is not a terminal: the monitor needs one \
         (use --headless for a summary)"
    );
}
