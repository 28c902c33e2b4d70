//! The binary's side of the admin plane's outside world: [`ControlLive`] asks the running
//! server over its control socket (`<data_dir>/control.sock`), [`NetChecks`] looks up TXT
//! records and probes outbound connectors with the gateway's DNS and SMTP client,
//! [`ServerMetrics`] renders this process's metrics and its trace writer's.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use admin::live::{ProbeStepView, QueueEntryView, ThrottleView, ThrottledIp};
use admin::{
    AllowList, CertificateCheck, LiveError, LiveState, MetricsSource, Network, ProbeTarget, TxtCheck,
};
use directory::OutboundRoute;
use gateway::delivery::outbound::{
    ClientConfig, ProbeRequest, ProbeRoute, StepOutcome, TestMessage, TlsMode, probe, trust_roots,
};
use gateway::dns::{Dns, Verification};

/// How long the server may take to answer one request.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// Answers read at most.
const ANSWER_BYTES_MAX: u64 = 16 << 20;

/// The running server, through its control socket.
#[derive(Debug, Clone)]
pub struct ControlLive {
    pub socket: Option<PathBuf>,
}

impl ControlLive {
    fn ask(&self, request: &str) -> Result<String, LiveError> {
        let Some(path) = &self.socket else {
            return Err(LiveError::NotRunning("no control socket configured".into()));
        };
        let not_running = |e: std::io::Error| {
            LiveError::NotRunning(format!(
                "{} ({e}); is `sluice serve` running with this config?",
                path.display()
            ))
        };
        let mut stream = UnixStream::connect(path).map_err(not_running)?;
        stream.set_read_timeout(Some(ANSWER_TIMEOUT)).map_err(not_running)?;
        stream.set_write_timeout(Some(ANSWER_TIMEOUT)).map_err(not_running)?;
        stream.write_all(format!("{request}\n").as_bytes()).map_err(not_running)?;
        let mut answer = String::new();
        stream.take(ANSWER_BYTES_MAX).read_to_string(&mut answer).map_err(not_running)?;
        match answer.strip_prefix("error: ") {
            Some(message) => Err(LiveError::Refused(message.trim().to_string())),
            None => Ok(answer),
        }
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self, request: &str) -> Result<T, LiveError> {
        let answer = self.ask(request)?;
        serde_json::from_str(&answer)
            .map_err(|e| LiveError::Garbled(format!("{e}: {}", answer.chars().take(200).collect::<String>())))
    }
}

#[derive(serde::Deserialize)]
struct QueueAnswer {
    total: usize,
    messages: Vec<QueueEntryView>,
}

impl LiveState for ControlLive {
    fn throttle_explain(&self, ip: IpAddr) -> Result<ThrottleView, LiveError> {
        self.json(&format!("throttle-show-json {ip}"))
    }

    fn throttled(&self, window_s: u64) -> Result<Vec<ThrottledIp>, LiveError> {
        self.json(&format!("throttled-json {window_s}"))
    }

    fn throttle_counters(&self) -> Result<Vec<(String, u64)>, LiveError> {
        let answer = self.ask("stats")?;
        answer
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let (name, value) =
                    line.rsplit_once(' ').ok_or_else(|| LiveError::Garbled(line.to_string()))?;
                let value = value.parse().map_err(|_| LiveError::Garbled(line.to_string()))?;
                Ok((name.to_string(), value))
            })
            .collect()
    }

    fn queue_list(&self, limit: usize) -> Result<(usize, Vec<QueueEntryView>), LiveError> {
        let answer: QueueAnswer = self.json(&format!("queue-list-json {limit}"))?;
        Ok((answer.total, answer.messages))
    }

    fn queue_flush(&self) -> Result<usize, LiveError> {
        let answer = self.ask("queue-flush")?;
        answer
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| LiveError::Garbled(answer.trim().to_string()))
    }

    fn queue_retry(&self, id: &str) -> Result<(), LiveError> {
        self.ask(&format!("queue-retry {id}")).map(|_| ())
    }

    fn queue_delete(&self, id: &str, recipients: &[String], bounce: bool) -> Result<String, LiveError> {
        let mode = if bounce { "bounce" } else { "silent" };
        let mut request = format!("queue-delete {id} {mode}");
        for address in recipients {
            request.push(' ');
            request.push_str(address);
        }
        self.ask(&request)
    }
}

/// DNS and outbound SMTP with the config's resolver, hostname and trust roots.
#[derive(Debug, Clone)]
pub struct NetChecks {
    pub resolver: Option<SocketAddr>,
    pub hostname: String,
    pub mx_port: u16,
    pub tls_ca_file: Option<PathBuf>,
    /// `[tls] client_ca_file`: what client certificates must chain to.
    pub client_ca_file: Option<PathBuf>,
}

/// Runs `future` to completion from blocking code: on the server's runtime when called
/// from one of its blocking threads, else on a runtime of its own (the CLI).
fn block_on<T>(future: impl std::future::Future<Output = T>) -> Result<T, String> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Ok(handle.block_on(future)),
        Err(_) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            Ok(runtime.block_on(future))
        }
    }
}

impl Network for NetChecks {
    fn check_txt(&self, domain: &str, token: &str) -> Result<TxtCheck, String> {
        let resolver = self.resolver;
        let outcome = block_on(async move {
            let dns = Dns::new(resolver).map_err(|e| e.to_string())?;
            dns.verify_domain(domain, token).await.map_err(|e| e.to_string())
        })??;
        Ok(match outcome {
            Verification::Verified => TxtCheck::Found,
            Verification::NoRecords => TxtCheck::NoRecords,
            Verification::TokenMissing { found } => TxtCheck::Missing { found },
        })
    }

    fn probe(&self, target: &ProbeTarget) -> Result<Vec<ProbeStepView>, String> {
        let c = &target.connector;
        let route = match &c.route {
            OutboundRoute::SmartHosts(hosts) => ProbeRoute::SmartHosts(hosts.clone()),
            OutboundRoute::Mx => {
                let from_to = target
                    .to
                    .as_deref()
                    .and_then(|to| to.rsplit_once('@'))
                    .map(|(_, d)| d.to_ascii_lowercase());
                let domain = from_to
                    .or_else(|| c.recipient_domains.first().map(ToString::to_string))
                    .unwrap_or_default();
                ProbeRoute::Mx { domain, port: self.mx_port }
            }
        };
        let from = target.from.clone().unwrap_or_else(|| format!("postmaster@{}", self.hostname));
        let request = ProbeRequest {
            route,
            tls: TlsMode::from(&c.tls),
            message: target.to.as_ref().map(|to| TestMessage {
                from,
                to: to.trim().to_string(),
                subject: format!("Sluice connector validation: {} of tenant {}", c.name, c.tenant),
            }),
        };
        let roots =
            trust_roots(self.tls_ca_file.as_deref()).map_err(|e| format!("delivery.tls_ca_file: {e}"))?;
        // Shorter than delivery's RFC 5321 timeouts: a person is waiting.
        let client = ClientConfig {
            connect_timeout: Duration::from_secs(10),
            reply_timeout: Duration::from_secs(30),
            data_end_timeout: Duration::from_secs(60),
            ..ClientConfig::new(self.hostname.clone(), roots)
        };
        let resolver = self.resolver;
        let report = block_on(async move {
            let dns = Dns::new(resolver).map_err(|e| e.to_string())?;
            Ok::<_, String>(probe(&dns, &client, &request).await)
        })??;
        Ok(report
            .steps
            .iter()
            .map(|s| ProbeStepView {
                step: s.kind.to_string(),
                target: s.target.clone(),
                passed: matches!(s.outcome, StepOutcome::Passed),
                detail: s.detail.clone(),
                reply: s.reply.as_ref().map(ToString::to_string),
                check: match &s.outcome {
                    StepOutcome::Failed { check } => Some(check.clone()),
                    StepOutcome::Passed => None,
                },
            })
            .collect())
    }

    fn client_certificate(&self, pem: &str) -> Result<CertificateCheck, String> {
        self.judge_certificate(pem)
    }
}

impl NetChecks {
    /// A client certificate judged as the server judges one after STARTTLS.
    fn judge_certificate(&self, pem: &str) -> Result<CertificateCheck, String> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| gateway::tls::problems::pem_problem(&e, "certificate"))?;
        let Some(end_entity) = chain.first() else {
            return Err("it holds no certificate: expected a PEM block BEGIN CERTIFICATE (the client's own \
                        certificate first, then its chain)"
                .into());
        };
        let names = gateway::tls::certificate_names(end_entity);
        let untrusted = match &self.client_ca_file {
            None => {
                Some("no [tls] client_ca_file is configured, so no client certificate counts".to_string())
            }
            Some(path) => {
                let ca =
                    gateway::tls::ClientCa::load(path).map_err(|e| format!("tls.client_ca_file: {e}"))?;
                ca.verified_names(&chain).err().map(|e| e.reason)
            }
        };
        Ok(CertificateCheck { names, untrusted })
    }
}

/// The throttle allow list in its file (`<data_dir>/throttle/allow.txt`), which the running
/// server re-reads when it changes.
#[derive(Debug, Clone)]
pub struct AllowFile {
    pub path: PathBuf,
}

impl AllowList for AllowFile {
    fn entries(&self) -> Result<Vec<(throttle::Cidr, String)>, String> {
        let entries = gateway::allow_list::read(&self.path).map_err(|e| e.to_string())?;
        Ok(entries.into_iter().map(|e| (e.cidr, e.note)).collect())
    }

    fn replace(&self, entries: &[(throttle::Cidr, String)]) -> Result<(), String> {
        let entries: Vec<gateway::allow_list::AllowEntry> = entries
            .iter()
            .map(|(cidr, note)| gateway::allow_list::AllowEntry { cidr: *cidr, note: note.clone() })
            .collect();
        gateway::allow_list::write(&self.path, &entries).map_err(|e| e.to_string())
    }
}

/// `GET /metrics` of `sluice serve`: the gateway's metrics (this process's) and how the
/// trace writer keeps up.
#[derive(Debug)]
pub struct ServerMetrics {
    pub trace: Option<std::sync::Arc<store::TraceWriter>>,
}

impl MetricsSource for ServerMetrics {
    fn render(&self) -> String {
        use metrics::Kind;
        use std::sync::atomic::Ordering::Relaxed;
        let mut out = metrics::Exposition::new();
        gateway::metrics::global().render(&mut out);
        if let Some(writer) = &self.trace {
            let stats = writer.stats();
            let f = "sluice_trace_events_total";
            let help = "Trace events: recorded, dropped (the writer's queue was full: mail went on, its trace did not), failed (a batch could not be written).";
            out.family(f, Kind::Counter, help);
            for (result, counter) in
                [("recorded", &stats.recorded), ("dropped", &stats.dropped), ("failed", &stats.failed)]
            {
                out.sample(f, &[("result", result)], counter.load(Relaxed));
            }
            let f = "sluice_trace_queue_events";
            out.family(f, Kind::Gauge, "Trace events waiting for the writer.");
            out.sample(f, &[], stats.queued.load(Relaxed));
            let f = "sluice_trace_lag_seconds";
            out.family(
                f,
                Kind::Gauge,
                "How long the oldest event of the latest trace batch waited to be written.",
            );
            out.sample(f, &[], stats.lag_ms.load(Relaxed) as f64 / 1000.0);
        }
        out.finish()
    }
}
