//! The admin API over loopback against a real `sluice serve`, with a real HTTP client
//! (ureq): every endpoint, bad input naming each field, tokens and roles, the rate limit,
//! the help pages, the OpenAPI document (validated by `openapi-spec-validator` and matched
//! against the routes served) and the tenant-isolation suite generated from that document.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Server, Settings, require_tool};
use crate::peers::DnsServer;

/// The API of one server, as a client sees it.
pub struct Api {
    base: String,
    agent: ureq::Agent,
}

/// One answer: status, `Retry-After`, body (JSON when it is JSON, else a string).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
    pub text: String,
}

impl Api {
    pub fn new(server: &Server) -> Api {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let api = Api { base: format!("http://127.0.0.1:{}", server.admin_port), agent };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", server.admin_port)).is_err() {
            assert!(Instant::now() < deadline, "the admin API did not listen:\n{}", server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        api
    }

    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Answer {
        let mut request = ureq::http::Request::builder().method(method).uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let payload = match body {
            Some(b) => {
                request = request.header("Content-Type", "application/json");
                b.to_string()
            }
            None => String::new(),
        };
        let request = request.body(payload).expect("request");
        let mut response = self.agent.run(request).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let retry_after =
            response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        Answer { status, retry_after, body, text }
    }

    pub fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, Some(token), None)
    }

    pub fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("POST", path, Some(token), Some(&body))
    }

    /// A call that must answer 200; its JSON.
    pub fn ok(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        let a = self.call(method, path, Some(token), body.as_ref());
        assert_eq!(a.status, 200, "{method} {path}: {}", a.text);
        a.body
    }

    pub fn language_page(&self, path: &str, accept_language: &str) -> (u16, String, String) {
        let request = ureq::http::Request::builder()
            .uri(format!("{}{path}", self.base))
            .header("Accept-Language", accept_language)
            .body(())
            .expect("request");
        let mut response = self.agent.run(request).expect("help page");
        let lang = response
            .headers()
            .get("content-language")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (response.status().as_u16(), lang, response.body_mut().read_to_string().unwrap_or_default())
    }
}

/// A token made with the CLI: the secret is the line starting `sluice_`.
pub fn cli_token(server: &Server, args: &[&str]) -> String {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    let out = server.cli_ok(&all);
    out.lines()
        .find(|l| l.starts_with("sluice_"))
        .unwrap_or_else(|| panic!("no token in:\n{out}"))
        .to_string()
}

/// The error's code and field.
fn error(a: &Answer) -> (u16, String, String) {
    let e = &a.body["error"];
    (a.status, e["code"].as_str().unwrap_or("").to_string(), e["field"].as_str().unwrap_or("").to_string())
}

fn assert_field(api: &Api, token: &str, method: &str, path: &str, body: Value, field: &str) {
    let a = api.call(method, path, Some(token), Some(&body));
    let (status, code, got) = error(&a);
    assert_eq!(
        (status, code.as_str(), got.as_str()),
        (400, "invalid", field),
        "{method} {path} {body}: {}",
        a.text
    );
    assert!(a.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", a.text);
}

fn started(settings: Settings) -> (Server, Api, String) {
    let server = Server::start_with(settings);
    let api = Api::new(&server);
    let operator = cli_token(&server, &["--role", "operator", "--note", "tests"]);
    (server, api, operator)
}

#[test]
fn tenants_domains_recipients_and_connectors_through_the_api() {
    let dns = DnsServer::start(r#"{"other.example": ["v=spf1 -all"]}"#);
    let settings = Settings::default().key("dns", "resolver", format!("\"{}\"", dns.addr));
    let (server, api, op) = started(settings);

    let acme = api.ok(
        "POST",
        "/api/v1/tenants",
        &op,
        Some(json!({"id": "acme", "name": "Acme Corp", "language": "fr"})),
    );
    assert_eq!(
        (acme["id"].as_str(), acme["status"].as_str(), acme["language"].as_str()),
        (Some("acme"), Some("active"), Some("fr"))
    );
    assert_eq!(api.ok("GET", "/api/v1/tenants", &op, None).as_array().map(Vec::len), Some(1));
    assert_eq!(api.ok("GET", "/api/v1/tenants/acme", &op, None)["name"], "Acme Corp");
    assert_eq!(api.ok("POST", "/api/v1/tenants/acme/suspend", &op, None)["status"], "suspended");
    assert_eq!(api.ok("POST", "/api/v1/tenants/acme/resume", &op, None)["status"], "active");

    let domain = api.ok("POST", "/api/v1/tenants/acme/domains", &op, Some(json!({"name": "Acme.Example."})));
    assert_eq!(
        (domain["name"].as_str(), domain["verification"].as_str()),
        (Some("acme.example"), Some("pending"))
    );
    let txt = domain["txt_record"].as_str().expect("txt record").to_string();
    assert!(txt.starts_with("sluice-verification="), "{txt}");
    // No record: 422 check_failed, saying what DNS showed and what to publish.
    let failed = api.call("POST", "/api/v1/tenants/acme/domains/acme.example/verify", Some(&op), None);
    assert_eq!(error(&failed).0, 422, "{}", failed.text);
    assert_eq!(error(&failed).1, "check_failed");
    let message = failed.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("no TXT records") && message.contains(&txt), "{message}");
    let domains = api.ok("GET", "/api/v1/tenants/acme/domains", &op, None);
    assert_eq!(domains.as_array().map(Vec::len), Some(2), "the service domain and acme.example: {domains}");
    assert_eq!(
        api.ok("GET", "/api/v1/tenants/acme/domains/acme.example", &op, None)["kind"],
        "authoritative"
    );
    store_verified(&server, "acme.example");

    let recipient = api.ok(
        "POST",
        "/api/v1/tenants/acme/recipients",
        &op,
        Some(json!({"address": "Bob@acme.example", "alias": ["robert"]})),
    );
    assert_eq!(
        (recipient["address"].as_str(), recipient["target"].as_str()),
        (Some("bob@acme.example"), Some("maildir"))
    );
    assert_eq!(api.ok("GET", "/api/v1/tenants/acme/recipients", &op, None)[0]["aliases"], json!(["robert"]));
    api.ok("DELETE", "/api/v1/tenants/acme/recipients/bob@acme.example", &op, None);
    assert_eq!(api.ok("GET", "/api/v1/tenants/acme/recipients", &op, None), json!([]));

    let partner = json!({"name": "partner relay", "kind": "partner", "ip": ["203.0.113.0/24"]});
    let inbound = api.ok("POST", "/api/v1/tenants/acme/connectors", &op, Some(partner));
    assert_eq!(
        (inbound["direction"].as_str(), inbound["require_tls"].as_bool()),
        (Some("inbound"), Some(true))
    );
    let out = json!({"name": "to-self", "direction": "outbound", "smart_host": [format!("127.0.0.1:{}", server.port)]});
    api.ok("POST", "/api/v1/tenants/acme/connectors", &op, Some(out));
    assert_eq!(api.ok("GET", "/api/v1/tenants/acme/connectors", &op, None).as_array().map(Vec::len), Some(2));
    assert_eq!(
        api.ok("POST", "/api/v1/tenants/acme/connectors/partner%20relay/disable", &op, None)["enabled"],
        false
    );
    assert_eq!(
        api.ok("POST", "/api/v1/tenants/acme/connectors/partner%20relay/enable", &op, None)["enabled"],
        true
    );
    assert_eq!(
        api.ok("GET", "/api/v1/tenants/acme/connectors/to-self", &op, None)["smart_host"][0],
        format!("127.0.0.1:{}", server.port)
    );
    // Validation probes Sluice's own SMTP listener: a real banner, EHLO, STARTTLS, QUIT.
    let report = api.ok("POST", "/api/v1/tenants/acme/connectors/to-self/validate", &op, Some(json!({})));
    let steps: Vec<&str> =
        report["steps"].as_array().expect("steps").iter().filter_map(|s| s["step"].as_str()).collect();
    assert!(steps.contains(&"banner") && steps.contains(&"ehlo") && steps.contains(&"starttls"), "{report}");
    assert_eq!(report["passed"], true, "{report}");
    let inbound_validate = api.call(
        "POST",
        "/api/v1/tenants/acme/connectors/partner%20relay/validate",
        Some(&op),
        Some(&json!({})),
    );
    assert_eq!(
        error(&inbound_validate),
        (400, "invalid".into(), "validate.client_ip".into()),
        "an inbound connector is validated against a described client: {}",
        inbound_validate.text
    );
    api.ok("DELETE", "/api/v1/tenants/acme/connectors/to-self", &op, None);
    assert_eq!(api.call("GET", "/api/v1/tenants/acme/connectors/to-self", Some(&op), None).status, 404);

    let state = api.ok("GET", "/api/v1/tenants/acme/outbound", &op, None);
    assert_eq!((state["block"].clone(), state["releases"].clone()), (Value::Null, json!([])));
    let not_blocked =
        api.call("POST", "/api/v1/tenants/acme/outbound/release", Some(&op), Some(&json!({"reason": "x"})));
    assert_eq!(error(&not_blocked).1, "conflict", "{}", not_blocked.text);

    let block = api.ok(
        "POST",
        "/api/v1/reputation",
        &op,
        Some(json!({"cidr": "198.51.100.0/24", "kind": "block", "note": "spam"})),
    );
    assert_eq!(block["kind"], "block");
    assert_eq!(api.ok("GET", "/api/v1/reputation", &op, None)[0]["cidr"], "198.51.100.0/24");
    api.ok("DELETE", "/api/v1/reputation/198.51.100.0%2F24", &op, None);
    assert_eq!(api.ok("GET", "/api/v1/reputation", &op, None), json!([]));

    api.ok("DELETE", "/api/v1/tenants/acme/domains/acme.example", &op, None);
    // Every change above is in the audit log, with the client's address and before/after.
    let audit = api.ok("GET", "/api/v1/audit?limit=500", &op, None);
    let actions: Vec<&str> =
        audit.as_array().expect("audit").iter().filter_map(|e| e["action"].as_str()).collect();
    for action in [
        "tenant.add",
        "tenant.suspend",
        "domain.add",
        "recipient.add",
        "recipient.remove",
        "connector.add",
        "connector.disable",
        "connector.remove",
        "reputation.set",
        "reputation.remove",
        "domain.remove",
        "token.create",
    ] {
        assert!(actions.contains(&action), "{action} not audited: {actions:?}");
    }
    let disable = audit
        .as_array()
        .and_then(|a| a.iter().find(|e| e["action"] == "connector.disable"))
        .expect("disable entry");
    assert_eq!(
        (disable["before"]["enabled"].as_bool(), disable["after"]["enabled"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(disable["source"].as_str().is_some_and(|s| s.starts_with("127.0.0.1:")), "{disable}");
    assert!(disable["actor"].as_str().is_some_and(|s| s.starts_with("token:")), "{disable}");
    let cli_audit = server.cli_ok(&["audit", "--action", "connector.disable"]);
    assert!(
        cli_audit.contains("connector.disable") && cli_audit.contains("acme/partner relay"),
        "{cli_audit}"
    );
}

/// Marks a domain verified in the store, as `sluice domain verify` would after a good DNS
/// answer (the verification through DNS is covered by `domain_verification_through_the_api`).
fn store_verified(server: &Server, domain: &str) {
    use directory::DirectoryStore;
    let mut store = crate::harness::directory_store(server);
    let name = directory::DomainName::parse("d", domain).expect("domain");
    let claim =
        store.list_domains(None).expect("domains").into_iter().find(|d| d.name == name).expect("claimed");
    store.mark_domain_verified(&claim.tenant, &name).expect("verify");
}

#[test]
fn domain_verification_through_the_api() {
    // The server's resolver listens on a port chosen now; the records (with the token the
    // API hands out) are served once the domains exist.
    let port =
        std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("free port").port();
    let (_server, api, op) =
        started(Settings::default().key("dns", "resolver", format!("\"127.0.0.1:{port}\"")));
    api.ok("POST", "/api/v1/tenants", &op, Some(json!({"id": "acme"})));
    let good = api.ok("POST", "/api/v1/tenants/acme/domains", &op, Some(json!({"name": "good.example"})));
    api.ok("POST", "/api/v1/tenants/acme/domains", &op, Some(json!({"name": "bad.example"})));
    let txt = good["txt_record"].as_str().expect("txt").to_string();
    let records =
        json!({ "good.example": ["v=spf1 -all", txt], "bad.example": ["sluice-verification=0000wrong"] });
    let _dns = DnsServer::start_on(port, &records.to_string());
    let refused = api.call("POST", "/api/v1/tenants/acme/domains/bad.example/verify", Some(&op), None);
    let message = refused.body["error"]["message"].as_str().unwrap_or("").to_string();
    assert_eq!(error(&refused).1, "check_failed", "{}", refused.text);
    assert!(message.contains("sluice-verification=0000wrong"), "what DNS showed: {message}");
    let verified = api.ok("POST", "/api/v1/tenants/acme/domains/good.example/verify", &op, None);
    assert_eq!(
        (verified["verified"].as_bool(), verified["domain"]["verification"].as_str()),
        (Some(true), Some("verified"))
    );
    assert_eq!(
        api.ok("GET", "/api/v1/tenants/acme/domains/good.example", &op, None)["verification"],
        "verified"
    );
    let audit = api.ok("GET", "/api/v1/audit?action=domain.verify", &op, None);
    assert_eq!(audit[0]["after"]["verification"], "verified", "{audit}");
}

#[test]
fn bad_input_names_each_field() {
    let (_server, api, op) = started(Settings::default());
    api.ok("POST", "/api/v1/tenants", &op, Some(json!({"id": "acme"})));
    let cases: &[(&str, &str, Value, &str)] = &[
        ("POST", "/api/v1/tenants", json!({"id": "a.b"}), "tenant.id"),
        ("POST", "/api/v1/tenants", json!({"id": "newco", "name": " "}), "tenant.display_name"),
        ("POST", "/api/v1/tenants", json!({"id": "newco", "language": "xx_YY"}), "tenant.language"),
        (
            "POST",
            "/api/v1/tenants",
            json!({"id": "newco", "service_domain": "bad domain"}),
            "tenant.service_domain",
        ),
        ("POST", "/api/v1/tenants", json!({"name": "no id"}), "tenant.id"),
        ("POST", "/api/v1/tenants", json!({"id": "newco", "colour": "red"}), "tenant.colour"),
        ("POST", "/api/v1/tenants", json!({"id": 7}), "tenant.id"),
        ("POST", "/api/v1/tenants/acme/domains", json!({"name": "not a domain"}), "domain.name"),
        ("POST", "/api/v1/tenants/acme/domains", json!({"name": "x.example", "kind": "open"}), "domain.kind"),
        (
            "POST",
            "/api/v1/tenants/acme/domains",
            json!({"name": "x.example", "match_subdomains": "yes"}),
            "domain.match_subdomains",
        ),
        ("POST", "/api/v1/tenants/acme/recipients", json!({"address": "nobody"}), "recipient.address"),
        (
            "POST",
            "/api/v1/tenants/acme/recipients",
            json!({"address": "a@acme.sluice.test", "alias": ["a"]}),
            "recipient.alias",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/recipients",
            json!({"address": "a@acme.sluice.test", "smtp": "host:0"}),
            "recipient.smtp",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/recipients",
            json!({"address": "a@acme.sluice.test", "lmtp": "host:99999"}),
            "recipient.lmtp",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/connectors",
            json!({"name": "p", "kind": "friend", "ip": ["192.0.2.0/24"]}),
            "connector.kind",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/connectors",
            json!({"name": "p", "kind": "partner", "ip": ["300.0.0.0/8"]}),
            "connector.ip",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/connectors",
            json!({"name": "p", "kind": "partner", "certificate_name": ["*"]}),
            "connector.certificate_name",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/connectors",
            json!({"name": "", "kind": "partner", "ip": ["192.0.2.0/24"]}),
            "connector.name",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/connectors",
            json!({"name": "p", "direction": "sideways"}),
            "connector.direction",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/connectors",
            json!({"name": "p", "kind": "partner", "ip": ["192.0.2.0/24"], "smart_host": ["a:25"]}),
            "connector.smart_host",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/connectors",
            json!({"name": "p", "direction": "outbound", "tls": "maybe"}),
            "connector.tls",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/connectors",
            json!({"name": "p", "direction": "outbound", "recipient_domain": ["-x-"]}),
            "connector.recipient_domain",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/connectors",
            json!({"name": "p", "direction": "outbound", "ip": ["192.0.2.0/24"]}),
            "connector.ip",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/connectors",
            json!({"name": "p", "kind": "partner", "sender_domain": ["x.example"], "restrict_sender_domain": ["x.example"]}),
            "connector.restrict_sender_domains",
        ),
        ("POST", "/api/v1/reputation", json!({"cidr": "nonsense", "kind": "block"}), "reputation.cidr"),
        ("POST", "/api/v1/reputation", json!({"cidr": "192.0.2.0/24", "kind": "maybe"}), "reputation.kind"),
        ("POST", "/api/v1/tenants/acme/outbound/release", json!({"reason": " "}), "release.reason"),
        ("POST", "/api/v1/tokens", json!({"role": "king"}), "token.role"),
        ("POST", "/api/v1/tokens", json!({"role": "tenant-admin"}), "token.tenant"),
        ("POST", "/api/v1/tokens", json!({"role": "support", "expires": "soon"}), "token.expires"),
        ("POST", "/api/v1/tokens", json!({"role": "support", "note": "a\u{7}b"}), "token.note"),
        (
            "POST",
            "/api/v1/tenants/acme/requests",
            json!({"kind": "favour", "justification": "x"}),
            "request.kind",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/requests",
            json!({"kind": "reputation-exception", "justification": "x"}),
            "request.cidr",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/requests",
            json!({"kind": "reputation-exception", "cidr": "x", "justification": "x"}),
            "request.cidr",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/requests",
            json!({"kind": "outbound-release", "justification": ""}),
            "request.justification",
        ),
        ("POST", "/api/v1/requests/1/approve", json!({}), "decision.note"),
        ("POST", "/api/v1/requests/x/deny", json!({"note": "no"}), "request.id"),
        (
            "POST",
            "/api/v1/tenants/acme/connectors/nothing/validate",
            json!({"to": "not an address"}),
            "validate.to",
        ),
    ];
    for (method, path, body, field) in cases {
        assert_field(&api, &op, method, path, body.clone(), field);
    }
    let queries: &[(&str, &str)] = &[
        ("/api/v1/trace/messages?ip=nope", "trace.ip"),
        ("/api/v1/trace/messages?since=soon", "trace.since"),
        ("/api/v1/trace/messages?status=lost", "trace.status"),
        ("/api/v1/trace/messages?direction=up", "trace.direction"),
        ("/api/v1/trace/messages?cursor=zz", "trace.cursor"),
        ("/api/v1/trace/messages?limit=many", "trace.limit"),
        ("/api/v1/trace/messages?colour=red", "trace.colour"),
        ("/api/v1/trace/refusals?status=failed", "trace.status"),
        ("/api/v1/audit?since=later", "audit.since"),
        ("/api/v1/requests?status=open", "request.status"),
        ("/api/v1/throttle/ips/not-an-ip", "throttle.ip"),
        ("/api/v1/throttle/throttled?since=2d", "throttle.since"),
        ("/api/v1/queue/zz!/retry", "queue.id"),
        ("/api/v1/tokens/xyz", "token.id"),
    ];
    for (path, field) in queries {
        let method = if path.ends_with("/retry") {
            "POST"
        } else if path.starts_with("/api/v1/tokens/") {
            "DELETE"
        } else {
            "GET"
        };
        let a = api.call(method, path, Some(&op), None);
        assert_eq!(error(&a), (400, "invalid".to_string(), field.to_string()), "{method} {path}: {}", a.text);
    }
    // Not JSON at all, and no body where one is needed.
    let raw = api.agent.run(
        ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}/api/v1/tenants", api.base))
            .header("Authorization", format!("Bearer {op}"))
            .header("Content-Type", "text/plain")
            .body("id=acme".to_string())
            .expect("request"),
    );
    let mut raw = raw.expect("answer");
    assert_eq!(raw.status().as_u16(), 400);
    let text = raw.body_mut().read_to_string().unwrap_or_default();
    assert!(text.contains("\"field\":\"tenant\"") && text.contains("application/json"), "{text}");
    let broken = api.call("POST", "/api/v1/tenants", Some(&op), Some(&Value::String("{".into())));
    assert_eq!(error(&broken).1, "invalid", "{}", broken.text);
    // Conflicts and unknowns.
    let dup = api.call("POST", "/api/v1/tenants", Some(&op), Some(&json!({"id": "acme"})));
    assert_eq!(error(&dup).1, "conflict", "{}", dup.text);
    for path in [
        "/api/v1/tenants/ghost",
        "/api/v1/tenants/acme/domains/none.example",
        "/api/v1/requests/99",
        "/api/v1/trace/messages/0000000000000000",
        "/api/v1/nothing/here",
    ] {
        assert_eq!(error(&api.get(path, &op)).1, "not_found", "{path}");
    }
}

#[test]
fn tokens_roles_and_the_trace_rate_limit() {
    let (server, api, op) = started(Settings::default().key("admin", "trace_searches_per_minute", 3));
    api.ok("POST", "/api/v1/tenants", &op, Some(json!({"id": "acme"})));
    // No token, a malformed one, an unknown one.
    for token in [
        None,
        Some("nonsense"),
        Some("sluice_0000000000000000_000000000000000000000000000000000000000000000000"),
    ] {
        let a = api.call("GET", "/api/v1/tenants", token, None);
        assert_eq!(error(&a).1, "unauthorized", "{token:?}: {}", a.text);
    }
    let created = api.ok(
        "POST",
        "/api/v1/tokens",
        &op,
        Some(json!({"role": "support", "expires": "1h", "note": "desk"})),
    );
    let support = created["token"].as_str().expect("secret").to_string();
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(
        api.ok("GET", "/api/v1/tenants", &support, None).as_array().map(Vec::len),
        Some(1),
        "support reads"
    );
    let forbidden = api.call("POST", "/api/v1/tenants", Some(&support), Some(&json!({"id": "newco"})));
    assert_eq!(error(&forbidden).1, "forbidden", "support changes no configuration: {}", forbidden.text);
    let listed = api.ok("GET", "/api/v1/tokens", &op, None);
    assert!(listed.as_array().is_some_and(|t| t.iter().any(|t| t["id"] == id.as_str())), "{listed}");
    assert!(!listed.to_string().contains(&support), "the secret is never listed");
    assert!(server.cli_ok(&["token", "list"]).contains(&id));
    assert!(api.ok("DELETE", &format!("/api/v1/tokens/{id}"), &op, None)["revoked_at_unix_s"].is_u64());
    assert_eq!(error(&api.get("/api/v1/tenants", &support)).1, "unauthorized", "revoked");

    let reader = cli_token(&server, &["--role", "tenant-reader", "--tenant", "acme"]);
    assert_eq!(
        error(&api.post("/api/v1/tenants/acme/domains", &reader, json!({"name": "r.example"}))).1,
        "forbidden"
    );
    assert_eq!(api.ok("GET", "/api/v1/tenants", &reader, None)[0]["id"], "acme");

    // Trace searches: 3 a minute per token, then 429 with Retry-After.
    for _ in 0..3 {
        api.ok("GET", "/api/v1/trace/messages", &reader, None);
    }
    let limited = api.get("/api/v1/trace/messages", &reader);
    assert_eq!(error(&limited).1, "rate_limited", "{}", limited.text);
    assert_eq!(limited.status, 429);
    assert!(
        limited
            .retry_after
            .as_deref()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| (1..=20).contains(&s)),
        "{:?}",
        limited.retry_after
    );
    api.ok("GET", "/api/v1/trace/messages", &op, None); // another token has its own allowance
}

#[test]
fn requests_are_asked_by_tenants_and_carried_out_on_approval() {
    let (server, api, op) = started(Settings::default());
    api.ok("POST", "/api/v1/tenants", &op, Some(json!({"id": "acme"})));
    let admin = cli_token(&server, &["--role", "tenant-admin", "--tenant", "acme"]);
    let support = cli_token(&server, &["--role", "support"]);
    api.ok("POST", "/api/v1/reputation", &op, Some(json!({"cidr": "198.51.100.0/24", "kind": "block"})));
    let ask = json!({"kind": "reputation-exception", "cidr": "198.51.100.7/32", "justification": "our partner's relay"});
    let request = api.ok("POST", "/api/v1/tenants/acme/requests", &admin, Some(ask));
    assert_eq!((request["status"].as_str(), request["tenant"].as_str()), (Some("pending"), Some("acme")));
    let id = request["id"].as_u64().expect("id");
    let not_theirs =
        api.post(&format!("/api/v1/requests/{id}/approve"), &admin, json!({"note": "self-service"}));
    assert_eq!(error(&not_theirs).1, "forbidden", "a tenant admin cannot approve: {}", not_theirs.text);
    let approved =
        api.ok("POST", &format!("/api/v1/requests/{id}/approve"), &support, Some(json!({"note": "checked"})));
    assert_eq!((approved["status"].as_str(), approved["note"].as_str()), (Some("approved"), Some("checked")));
    let list = api.ok("GET", "/api/v1/reputation", &op, None);
    assert!(
        list.as_array()
            .is_some_and(|l| l.iter().any(|e| e["cidr"] == "198.51.100.7/32" && e["kind"] == "exception")),
        "{list}"
    );
    let again = api.post(&format!("/api/v1/requests/{id}/deny"), &support, json!({"note": "late"}));
    assert_eq!(error(&again).1, "conflict");
    assert_eq!(
        api.ok("GET", &format!("/api/v1/requests/{id}"), &admin, None)["status"],
        "approved",
        "the requester sees the status"
    );
    assert_eq!(
        api.ok("GET", "/api/v1/tenants/acme/requests", &admin, None).as_array().map(Vec::len),
        Some(1)
    );

    let release = api.ok(
        "POST",
        "/api/v1/tenants/acme/requests",
        &admin,
        Some(json!({"kind": "outbound-release", "justification": "fixed the script"})),
    );
    let listed = server.cli_ok(&["request", "list", "--status", "pending"]);
    assert!(
        listed.contains(&format!("#{}", release["id"])) && listed.contains("fixed the script"),
        "{listed}"
    );
    let denied = server.cli_ok(&["request", "deny", &release["id"].to_string(), "--note", "not blocked"]);
    assert!(denied.contains("denied"), "{denied}");
    assert_eq!(
        api.ok("GET", &format!("/api/v1/requests/{}", release["id"]), &admin, None)["note"],
        "not blocked"
    );
    let audit = api.ok("GET", "/api/v1/audit", &admin, None);
    let actions: Vec<&str> =
        audit.as_array().expect("audit").iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(
        actions.contains(&"request.create")
            && actions.contains(&"request.approve")
            && actions.contains(&"request.deny"),
        "{actions:?}"
    );
    assert!(
        audit.as_array().is_some_and(|a| a.iter().all(|e| e["tenant"] == "acme")),
        "tenants see their own entries only: {audit}"
    );
}

/// A message in the trace store of `server`, as the gateway's recorder will write it.
pub fn record_trace(server: &Server, events: Vec<trace::TraceEvent>) {
    use trace::TraceStore;
    let mut store = store::SqliteTraceStore::open(&server.data_dir().join("trace.db")).expect("trace db");
    store.record(&events).expect("record");
}

pub fn trace_message(id: &str, ip: &str, tenant: &str, rcpt: &str, at_ms: u64) -> trace::TraceEvent {
    trace::TraceEvent::Received(trace::Received {
        message: id.into(),
        at_unix_ms: at_ms,
        client_ip: ip.parse().expect("ip"),
        helo: "sender.example".into(),
        tls: None,
        client_cert: None,
        connector: None,
        tenant: None,
        tenants: vec![directory::TenantId::parse(tenant).expect("tenant")],
        direction: trace::Direction::Inbound,
        sender: format!("someone@{tenant}-partner.example"),
        recipients: vec![rcpt.into()],
        size_bytes: 1234,
        message_id: Some(format!("{id}@{tenant}-partner.example")),
        subject: Some(format!("hello {tenant}")),
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[test]
fn trace_search_timeline_refusals_throttle_and_queue() {
    let (server, api, op) = started(Settings::default().throttled());
    api.ok("POST", "/api/v1/tenants", &op, Some(json!({"id": "acme"})));
    let now = now_ms();
    record_trace(
        &server,
        vec![
            trace_message("00000000000000a1", "192.0.2.10", "acme", "bob@acme.example", now - 60_000),
            trace::TraceEvent::Recipient(trace::RecipientEvent {
                message: "00000000000000a1".into(),
                at_unix_ms: now - 59_000,
                recipient: "bob@acme.example".into(),
                outcome: trace::Outcome::Deferred {
                    reply: "451 4.3.0 later".into(),
                    next_attempt_unix_ms: Some(now + 240_000),
                },
            }),
            trace::TraceEvent::Refused(trace::Refusal {
                at_unix_ms: now - 30_000,
                client_ip: "192.0.2.66".parse().expect("ip"),
                sender: "blast@spam.example".into(),
                recipient_domain: "acme.example".into(),
                reply: "451 4.7.501 Deferred (AS501)".into(),
                tenant: Some(directory::TenantId::parse("acme").expect("t")),
                direction: trace::Direction::Inbound,
            }),
        ],
    );
    let page = api.ok("GET", "/api/v1/trace/messages?sender=someone@acme-partner.example", &op, None);
    assert_eq!(page["items"][0]["status"], "deferred", "{page}");
    assert_eq!(
        api.ok("GET", "/api/v1/trace/messages?ip=192.0.2.10&status=deferred", &op, None)["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        api.ok("GET", "/api/v1/trace/messages?since=1700000000&until=1700000001", &op, None)["items"],
        json!([])
    );
    let detail = api.ok("GET", "/api/v1/trace/messages/00000000000000a1", &op, None);
    assert_eq!(detail["timeline"][0]["step"], "deferred", "{detail}");
    assert_eq!(detail["timeline"][0]["next_attempt_unix_ms"], now + 240_000);
    let refusals = api.ok("GET", "/api/v1/trace/refusals?ip=192.0.2.66", &op, None);
    assert_eq!(refusals["items"][0]["count"], 1, "{refusals}");
    let cli = server.cli_ok(&["trace", "--ip", "192.0.2.10"]);
    assert!(cli.contains("00000000000000a1") && cli.contains("deferred"), "{cli}");
    let cli_json =
        server.cli_ok(&["trace", "--message-id", "<00000000000000a1@acme-partner.example>", "--json"]);
    assert!(cli_json.contains("\"timeline\"") && cli_json.contains("451 4.3.0 later"), "{cli_json}");

    // The throttle: a blast from 127.0.0.1 gets deferred; the API sees it live.
    let mut client = server.connect();
    client.greet();
    client.expect("EHLO blaster.example", 250);
    let mut deferred = 0;
    'blast: for batch in 0..20 {
        client.expect("MAIL FROM:<a@blaster.example>", 250);
        for n in 0..100 {
            if client.cmd(&format!("RCPT TO:<b{batch}x{n}@{}>", crate::harness::DOMAIN)).code == 451 {
                deferred = 1;
                break 'blast;
            }
        }
        client.expect("RSET", 250);
    }
    assert_eq!(deferred, 1, "the blast was not throttled");
    let explained = api.ok("GET", "/api/v1/throttle/ips/127.0.0.1", &op, None);
    assert_eq!(explained["verdict"], "defer", "{explained}");
    assert!(explained["token"].as_str().is_some_and(|t| t.starts_with("AS")), "{explained}");
    let throttled = api.ok("GET", "/api/v1/throttle/throttled", &op, None);
    assert_eq!(throttled[0]["ip"], "127.0.0.1", "{throttled}");
    assert_eq!(throttled[0]["deferred_last_hour"], deferred);
    assert_eq!(throttled[0]["throttled_now"], true);
    let recent = api.ok("GET", "/api/v1/throttle/throttled?since=10m", &op, None);
    assert_eq!(
        recent[0]["deferred_by_token"][explained["token"].as_str().unwrap_or("?")],
        deferred,
        "{recent}"
    );
    let counters = api.ok("GET", "/api/v1/throttle/counters", &op, None);
    assert!(counters.to_string().contains("throttle_recipients_deferred"), "{counters}");

    // The operator allow list, as `sluice throttle allow` edits it.
    let allowed =
        api.ok("POST", "/api/v1/throttle/allow", &op, Some(json!({"cidr": "127.0.0.0/8", "note": "tests"})));
    assert_eq!(allowed["cidr"], "127.0.0.0/8");
    let dup = api.call("POST", "/api/v1/throttle/allow", Some(&op), Some(&json!({"cidr": "127.0.0.0/8"})));
    assert_eq!(error(&dup).1, "conflict", "{}", dup.text);
    assert_field(
        &api,
        &op,
        "POST",
        "/api/v1/throttle/allow",
        json!({"cidr": "127.0.0.0/33"}),
        "throttle.cidr",
    );
    assert!(server.cli_ok(&["throttle", "list"]).contains("127.0.0.0/8  # tests"));
    // The running server re-reads the list within seconds.
    let applied = crate::peers::wait_until(Duration::from_secs(30), || {
        let e = api.ok("GET", "/api/v1/throttle/ips/127.0.0.1", &op, None);
        (e["allow_listed"] == true && e["verdict"] == "accept").then_some(e)
    });
    assert!(applied.is_some(), "the allow list was not applied:\n{}", server.log());
    api.ok("DELETE", "/api/v1/throttle/allow/127.0.0.0%2F8", &op, None);
    assert_eq!(api.ok("GET", "/api/v1/throttle/allow", &op, None), json!([]));
    let gone = api.call("DELETE", "/api/v1/throttle/allow/127.0.0.0%2F8", Some(&op), None);
    assert_eq!(error(&gone).1, "not_found", "{}", gone.text);
    let audit = api.ok("GET", "/api/v1/audit?action=throttle", &op, None);
    assert_eq!(audit.as_array().map(Vec::len), Some(2), "{audit}");

    let queue = api.ok("GET", "/api/v1/queue", &op, None);
    assert_eq!(queue["total"], 0, "{queue}");
    assert_eq!(api.ok("POST", "/api/v1/queue/flush", &op, None)["message"], "0 waiting messages are due now");
    let unknown = api.call("POST", "/api/v1/queue/00000000000000ff/retry", Some(&op), None);
    assert_eq!(error(&unknown).1, "not_found", "{}", unknown.text);
}

#[test]
fn help_pages_in_english_and_french() {
    let server = Server::start();
    let api = Api::new(&server);
    let (status, lang, index) = api.language_page("/help", "fr-CA, en;q=0.5");
    assert_eq!((status, lang.as_str()), (200, "fr"));
    for code in bounce::HELP_CODES {
        assert!(index.contains(&format!("/help/{code}?lang=fr")), "{code} missing from the index");
    }
    let (status, lang, page) = api.language_page("/help/5.7.705?lang=en", "fr");
    assert_eq!((status, lang.as_str()), (200, "en"), "?lang= wins over the header");
    assert!(page.contains(&bounce::help("5.7.705", bounce::Lang::fallback()).expect("text").title), "{page}");
    let (status, _, _) = api.language_page("/help/9.9.999", "en");
    assert_eq!(status, 404);
    // Every code the reply and bounce tables can produce has a page in each language.
    for code in crate::admin_api::reply_codes() {
        for tag in ["en", "fr"] {
            let (status, lang, page) = api.language_page(&format!("/help/{code}?lang={tag}"), "");
            assert_eq!((status, lang.as_str()), (200, tag), "/help/{code}?lang={tag}");
            let title = bounce::help(&code, bounce::Lang::from_tag(tag).expect("lang")).expect("text").title;
            let escaped = title
                .replace('&', "&amp;")
                .replace('\'', "&#39;")
                .replace('"', "&quot;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            assert!(page.contains(&escaped), "{code} {tag}: {title}");
        }
    }
}

/// The help codes of every code Sluice's reply tables produce (the SMTP replies, the
/// directory's refusals, throttling's AS tokens, outbound protection's codes) and every
/// code the bounce texts cover, through the bounce crate's own mapping.
pub fn reply_codes() -> Vec<String> {
    let mut codes: Vec<String> = bounce::HELP_CODES.iter().map(|c| c.to_string()).collect();
    for rule in throttle::AS_TABLE {
        codes.push(rule.name.to_string());
    }
    let sources = [
        include_str!("../../../smtp-wire/src/replies.rs"),
        include_str!("../../../directory/src/refusal.rs"),
        include_str!("../../../protection/src/protection.rs"),
    ];
    for source in sources {
        for (class, subject, detail) in enhanced_codes(source) {
            if class == 2 {
                continue;
            }
            let code = smtp_wire::reply::EnhancedCode::new(class, subject, detail);
            codes.push(bounce::help_code_for(code, None).to_string());
        }
    }
    codes.sort();
    codes.dedup();
    codes
}

/// `code(4, 7, 1)` and `(5, 7, 705)` triples in a source file.
fn enhanced_codes(source: &str) -> Vec<(u8, u16, u16)> {
    let mut out = Vec::new();
    for (i, _) in source.match_indices('(') {
        let rest = &source[i + 1..];
        let Some(end) = rest.find(')') else { continue };
        let parts: Vec<&str> = rest[..end].split(',').map(str::trim).collect();
        if let [c, s, d] = parts[..]
            && let (Ok(c), Ok(s), Ok(d)) = (c.parse::<u8>(), s.parse::<u16>(), d.parse::<u16>())
            && (2..=5).contains(&c)
        {
            out.push((c, s, d));
        }
    }
    out
}

#[test]
fn openapi_document_validates_and_matches_the_routes_served() {
    let server = Server::start();
    let api = Api::new(&server);
    let doc = api.call("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true), "OpenAPI 3.1");
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &doc.text).expect("write");
    let validator = require_tool("openapi-spec-validator");
    let out =
        std::process::Command::new(validator).arg(file.path()).output().expect("run openapi-spec-validator");
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let operations = operations(&doc.body);
    assert!(operations.len() >= 40, "{} operations", operations.len());
    for (method, path, _) in &operations {
        let concrete = path.replace(['{', '}'], "");
        let a = api.call(method, &concrete, None, None);
        assert_eq!(error(&a).1, "unauthorized", "{method} {path} is documented but not served: {}", a.text);
    }
    // Served but not under /api/v1 operations: the document, Swagger UI, the help pages.
    let docs = api.call("GET", "/api/docs/", None, None);
    assert!(docs.status == 200 && docs.text.contains("swagger"), "Swagger UI: {}", docs.status);
    assert_eq!(error(&api.call("GET", "/api/v1/undocumented", None, None)).1, "not_found");
}

/// (method, path, operationId) of every operation in the document.
pub fn operations(doc: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                let id = op["operationId"].as_str().unwrap_or("").to_string();
                out.push((method.to_uppercase(), path.clone(), id));
            }
        }
    }
    out
}

/// Everything an operator can read, to prove that nothing changed.
fn snapshot(api: &Api, op: &str) -> BTreeMap<String, Value> {
    let mut state = BTreeMap::new();
    for path in [
        "/api/v1/tenants",
        "/api/v1/reputation",
        "/api/v1/tokens",
        "/api/v1/requests",
        "/api/v1/audit?limit=500",
        "/api/v1/tenants/globex/domains",
        "/api/v1/tenants/globex/recipients",
        "/api/v1/tenants/globex/connectors",
        "/api/v1/tenants/globex/outbound",
        "/api/v1/tenants/acme/domains",
        "/api/v1/tenants/acme/connectors",
        "/api/v1/throttle/allow",
    ] {
        state.insert(path.to_string(), api.ok("GET", path, op, None));
    }
    state
}

#[test]
fn tenant_isolation_generated_from_the_openapi_document() {
    let (server, api, op) = started(Settings::default().throttled());
    for t in ["acme", "globex"] {
        api.ok("POST", "/api/v1/tenants", &op, Some(json!({"id": t})));
        api.ok(
            "POST",
            &format!("/api/v1/tenants/{t}/domains"),
            &op,
            Some(json!({"name": format!("{t}.example")})),
        );
        store_verified(&server, &format!("{t}.example"));
        api.ok(
            "POST",
            &format!("/api/v1/tenants/{t}/recipients"),
            &op,
            Some(json!({"address": format!("user@{t}.example")})),
        );
        let connector = json!({"name": format!("{t}-partner"), "kind": "partner", "ip": [format!("198.51.{}.0/24", t.len())]});
        api.ok("POST", &format!("/api/v1/tenants/{t}/connectors"), &op, Some(connector));
    }
    let globex_admin = cli_token(&server, &["--role", "tenant-admin", "--tenant", "globex"]);
    let globex_request = api.ok(
        "POST",
        "/api/v1/tenants/globex/requests",
        &globex_admin,
        Some(json!({"kind": "outbound-release", "justification": "globex justification"})),
    );
    let globex_token_id = globex_admin.split('_').nth(1).expect("id").to_string();
    record_trace(
        &server,
        vec![trace_message(
            "00000000000000b7",
            "192.0.2.77",
            "globex",
            "user@globex.example",
            now_ms() - 1_000,
        )],
    );

    let values: BTreeMap<&str, String> = BTreeMap::from([
        ("tenant", "globex".to_string()),
        ("domain", "globex.example".to_string()),
        ("address", "user@globex.example".to_string()),
        ("name", "globex-partner".to_string()),
        ("cidr", "198.51.100.0%2F24".to_string()),
        ("ip", "192.0.2.77".to_string()),
    ]);
    // The id of another tenant's object, per path.
    let id_for = |path: &str| -> String {
        if path.starts_with("/api/v1/requests/") {
            globex_request["id"].to_string()
        } else if path.starts_with("/api/v1/tokens/") {
            globex_token_id.clone()
        } else {
            "00000000000000b7".to_string()
        }
    };
    // A valid body for every operation that takes one: a new operation without an entry here
    // fails the test instead of escaping it.
    let bodies: BTreeMap<&str, Value> = BTreeMap::from([
        ("add_tenant", json!({"id": "intruder"})),
        ("add_domain", json!({"name": "intruder.example"})),
        ("add_recipient", json!({"address": "new@globex.example"})),
        ("add_connector", json!({"name": "intruder", "kind": "partner", "ip": ["203.0.113.0/24"]})),
        ("validate_connector", json!({})),
        ("edit_connector", json!({"add_ip": ["203.0.113.0/24"], "note": "intrusion"})),
        (
            "check_connector",
            json!({"connector": {"name": "intruder", "kind": "partner", "ip": ["203.0.113.0/24"]}}),
        ),
        ("release_outbound", json!({"reason": "intrusion"})),
        ("create_request", json!({"kind": "outbound-release", "justification": "intrusion"})),
        ("approve_request", json!({"note": "intrusion"})),
        ("deny_request", json!({"note": "intrusion"})),
        ("set_reputation", json!({"cidr": "203.0.113.0/24", "kind": "exception"})),
        ("create_token", json!({"role": "operator"})),
        ("allow_network", json!({"cidr": "203.0.113.0/24"})),
    ]);
    let doc = api.call("GET", "/api/v1/openapi.json", None, None).body;
    let roles = [
        ("tenant-admin", cli_token(&server, &["--role", "tenant-admin", "--tenant", "acme"])),
        ("tenant-reader", cli_token(&server, &["--role", "tenant-reader", "--tenant", "acme"])),
    ];
    // What only globex's objects hold.
    let globex_txt =
        api.ok("GET", "/api/v1/tenants/globex/domains/globex.example", &op, None)["txt_record"].clone();
    let markers = [
        globex_txt.as_str().expect("txt").to_string(),
        "198.51.6.0/24".to_string(),
        "globex-partner.example".to_string(),
        "globex justification".to_string(),
    ];
    let before = snapshot(&api, &op);
    let mut tried = 0;
    for (method, path, id) in operations(&doc) {
        let takes_body = doc["paths"][&path][method.to_lowercase()]["requestBody"].is_object();
        let body = takes_body.then(|| {
            bodies
                .get(id.as_str())
                .cloned()
                .unwrap_or_else(|| panic!("no body for {id}: add one to the isolation suite"))
        });
        let mut concrete = path.clone();
        for (name, value) in &values {
            concrete = concrete.replace(&format!("{{{name}}}"), value);
        }
        concrete = concrete.replace("{id}", &id_for(&path));
        assert!(!concrete.contains('{'), "{path}: a path parameter the suite does not know");
        for (role, token) in &roles {
            let a = api.call(&method, &concrete, Some(token), body.as_ref());
            tried += 1;
            // A success shows nothing of globex; a refusal may repeat what was asked, no more.
            let leaked =
                if a.status == 200 { vec!["globex"] } else { markers.iter().map(String::as_str).collect() };
            for marker in leaked {
                assert!(!a.text.contains(marker), "{role} {method} {concrete} leaked {marker}: {}", a.text);
            }
            if path.contains("{tenant}")
                || path.contains("{id}")
                    && !path.starts_with("/api/v1/tokens")
                    && !path.starts_with("/api/v1/queue")
                || path.contains("{ip}")
            {
                assert_eq!(error(&a).1, "not_found", "{role} {method} {concrete}: {}", a.text);
            } else if method != "GET" {
                assert!(
                    matches!(error(&a).1.as_str(), "forbidden" | "not_found"),
                    "{role} {method} {concrete}: {}",
                    a.text
                );
            } else {
                assert!(a.status == 200 || a.status == 403, "{role} {method} {concrete}: {}", a.text);
            }
        }
    }
    assert!(tried >= 80, "{tried} calls");
    let after = snapshot(&api, &op);
    for (path, value) in &before {
        assert_eq!(&after[path], value, "{path} changed");
    }
    // A client that sent to acme from globex's connector range: acme sees its throttle state
    // but not globex's connector; the operator sees the connector and whose it is.
    let shared = "198.51.6.9";
    record_trace(
        &server,
        vec![trace_message("00000000000000c8", shared, "acme", "user@acme.example", now_ms())],
    );
    let path = format!("/api/v1/throttle/ips/{shared}");
    // The server picks the connectors up within a second or so of their creation.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let all = api.ok("GET", &path, &op, None);
        if all["connectors"][0]["tenant"] == "globex" {
            assert_eq!(all["connectors"][0]["name"], "globex-partner", "{all}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the server never saw globex's connector: {all}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let seen = api.ok("GET", &path, &roles[0].1, None);
    assert!(seen["connectors"] == json!([]) && !seen.to_string().contains("globex"), "{seen}");
    // And support changes no configuration of the tenant it reads.
    let support = cli_token(&server, &["--role", "support"]);
    let _ = snapshot(&api, &op);
    for (method, path, body) in [
        ("POST", "/api/v1/tenants/globex/domains", json!({"name": "s.example"})),
        ("POST", "/api/v1/tenants/globex/connectors/globex-partner/disable", json!({})),
        ("POST", "/api/v1/reputation", json!({"cidr": "203.0.113.0/24", "kind": "block"})),
    ] {
        let a = api.call(method, path, Some(&support), Some(&body));
        assert_eq!(error(&a).1, "forbidden", "support {method} {path}: {}", a.text);
    }
}

#[test]
fn the_admin_api_serves_https_with_the_smtp_certificate() {
    let server = Server::start_with(Settings::default().key("admin", "tls", true));
    let op = cli_token(&server, &["--role", "operator"]);
    let _ = Api::new(&server); // waits for the port
    // The certificate is the SMTP listener's self-signed one (for the server's hostname, not
    // 127.0.0.1): the handshake and the API over it are what is tested here.
    let tls = ureq::tls::TlsConfig::builder().disable_verification(true).build();
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).tls_config(tls).build().into();
    let url = format!("https://127.0.0.1:{}/api/v1/tenants", server.admin_port);
    let mut answer = agent.get(&url).header("Authorization", format!("Bearer {op}")).call().expect("https");
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(answer.body_mut().read_to_string().expect("body"), "[]");
    // The web pages' cookies are Secure over TLS (and HttpOnly, SameSite=Strict always).
    let login =
        agent.get(&format!("https://127.0.0.1:{}/login", server.admin_port)).call().expect("login page");
    let cookie = login.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let plain = ureq::Agent::config_builder().http_status_as_error(false).build();
    let plain: ureq::Agent = plain.into();
    let refused = plain.get(&format!("http://127.0.0.1:{}/help", server.admin_port)).call();
    assert!(refused.is_err(), "plain HTTP on the TLS port must fail");
    assert!(server.log().contains("admin API listening: https://"), "{}", server.log());
}

#[test]
fn check_config_checks_the_admin_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("sluice.toml");
    let text = "data_dir = \"data\"\n[admin]\ntls = true\ncert_file = \"missing.pem\"\nkey_file = \"missing-key.pem\"\n";
    std::fs::write(&config, text).expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("check-config")
        .arg(&config)
        .output()
        .expect("run sluice");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("admin.cert_file") && text.contains("missing.pem"),
        "{text}"
    );
}

#[test]
fn mail_flow_busiest_clients_and_the_connector_check() {
    let (server, api, op) = started(Settings::default());
    for t in ["acme", "globex"] {
        api.ok("POST", "/api/v1/tenants", &op, Some(json!({"id": t})));
    }
    let now = now_ms();
    let mut tls = trace_message("00000000000000c1", "203.0.113.7", "acme", "a@acme.example", now - 60_000);
    if let trace::TraceEvent::Received(r) = &mut tls {
        r.tls = Some(trace::TlsInfo { version: "TLSv1.3".into(), cipher: "TLS13_AES_128_GCM_SHA256".into() });
    }
    record_trace(
        &server,
        vec![
            tls,
            trace_message("00000000000000c2", "203.0.113.7", "acme", "a@acme.example", now - 30_000),
            trace_message("00000000000000c3", "198.51.100.9", "globex", "g@globex.example", now - 30_000),
            trace::TraceEvent::Refused(trace::Refusal {
                at_unix_ms: now - 20_000,
                client_ip: "203.0.113.7".parse().expect("ip"),
                sender: "news@partner.example".into(),
                recipient_domain: "acme.example".into(),
                reply: "451 4.7.501 Deferred (AS501)".into(),
                tenant: Some(directory::TenantId::parse("acme").expect("t")),
                direction: trace::Direction::Inbound,
            }),
        ],
    );
    let flow = api.ok("GET", "/api/v1/trace/flow?since=2h&bucket=1h", &op, None);
    assert_eq!(flow["bucket_s"], 3600);
    let accepted: u64 =
        flow["buckets"].as_array().expect("buckets").iter().filter_map(|b| b["accepted"].as_u64()).sum();
    assert_eq!(accepted, 3, "{flow}");
    let acme = cli_token(&server, &["--role", "tenant-admin", "--tenant", "acme"]);
    let refused = api.get("/api/v1/trace/flow?since=2h&bucket=1h&tenant=globex", &acme);
    assert_eq!(error(&refused).1, "not_found", "another tenant's flow: {}", refused.text);
    let acme_flow = api.ok("GET", "/api/v1/trace/flow?since=2h&bucket=1h", &acme, None);
    let acme_accepted: u64 =
        acme_flow["buckets"].as_array().expect("buckets").iter().filter_map(|b| b["accepted"].as_u64()).sum();
    assert_eq!(acme_accepted, 2, "a tenant counts its own mail: {acme_flow}");
    assert_field(&api, &op, "GET", "/api/v1/trace/flow?since=2h&bucket=1s", json!(null), "flow.bucket");
    assert_field(&api, &op, "GET", "/api/v1/trace/flow?network=nope", json!(null), "flow.network");

    // The throttling monitor's history of one address and of its network, hour by hour.
    let history = api.ok("GET", "/api/v1/throttle/ips/203.0.113.7/history?days=2", &op, None);
    let hours = history["hours"].as_array().expect("hours");
    assert!((48..=49).contains(&hours.len()), "two days of hours: {}", hours.len());
    let busy: Vec<&Value> = hours.iter().filter(|h| h["accepted"] != 0 || h["deferred"] != 0).collect();
    let (accepted, deferred): (u64, u64) = busy.iter().fold((0, 0), |(a, d), h| {
        (a + h["accepted"].as_u64().unwrap_or(0), d + h["deferred"].as_u64().unwrap_or(0))
    });
    assert_eq!((accepted, deferred), (2, 1), "{history}");
    assert_eq!(
        (&history["accepted"], &history["deferred"], &history["deferred_percent"]),
        (&json!(2), &json!(1), &json!(33)),
        "{history}"
    );
    assert_eq!(history["past_allowance_kept"], false, "{history}");
    assert!(history["allowance_per_hour_now"].is_null(), "throttling is off here: {history}");
    let network = api.ok("GET", "/api/v1/throttle/ips/203.0.113.0%2F24/history", &op, None);
    assert_eq!(
        (&network["network"], &network["days"], &network["accepted"]),
        (&json!("203.0.113.0/24"), &json!(7), &json!(2))
    );
    let seen = api.ok("GET", "/api/v1/throttle/ips/203.0.113.7/history?days=2", &acme, None);
    assert_eq!(seen["accepted"], 2, "acme sees the IP that sent to it: {seen}");
    let unseen = api.get("/api/v1/throttle/ips/198.51.100.9/history", &acme);
    assert_eq!(error(&unseen).1, "not_found", "globex's client: {}", unseen.text);
    assert_field(
        &api,
        &op,
        "GET",
        "/api/v1/throttle/ips/203.0.113.7/history?days=90",
        json!(null),
        "history.days",
    );
    assert_field(&api, &op, "GET", "/api/v1/throttle/ips/nope/history", json!(null), "throttle.ip");

    let clients = api.ok("GET", "/api/v1/trace/clients", &acme, None);
    assert_eq!(
        clients,
        json!([{"ip": "203.0.113.7", "accepted": 2, "accepted_tls": 1, "throttled": 1, "refused": 0,
        "last_seen_unix_s": (now - 20_000) / 1000}]),
        "only the IPs that sent to acme (last seen with the deferral)"
    );

    let check = |body: Value| api.ok("POST", "/api/v1/tenants/acme/connectors-check", &acme, Some(body));
    let partner = json!({"name": "partner", "kind": "partner", "ip": ["203.0.113.0/24"]});
    let checked = check(json!({"connector": partner}));
    let steps: Vec<(String, bool)> = checked["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| (s["step"].as_str().unwrap_or("").to_string(), s["passed"].as_bool().unwrap_or(false)))
        .collect();
    assert_eq!(
        steps,
        [("settings".to_string(), true), ("name".to_string(), true), ("tls".to_string(), false)],
        "one of two messages from the range came without TLS: {checked}"
    );
    assert_eq!(checked["passed"], false);
    let plain_ok = check(
        json!({"connector": {"name": "p", "kind": "partner", "ip": ["203.0.113.0/24"], "require_tls": false}}),
    );
    assert_eq!(plain_ok["passed"], true, "{plain_ok}");
    let bad = check(json!({"connector": {"name": "p", "kind": "partner", "ip": ["nope"]}}));
    assert_eq!(
        (bad["steps"][0]["step"].as_str(), bad["steps"][0]["passed"].as_bool()),
        (Some("settings"), Some(false))
    );
    assert!(bad["steps"][0]["check"].as_str().is_some_and(|c| c.contains("connector.ip")), "{bad}");
    api.ok("POST", "/api/v1/tenants/acme/connectors", &acme, Some(partner.clone()));
    let taken = check(json!({"connector": partner}));
    assert_eq!(
        (taken["steps"][1]["step"].as_str(), taken["steps"][1]["passed"].as_bool()),
        (Some("name"), Some(false))
    );
    assert_eq!(
        api.ok("GET", "/api/v1/tenants/acme/connectors", &acme, None).as_array().map(Vec::len),
        Some(1),
        "checks save nothing"
    );
}
