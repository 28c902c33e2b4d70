//! Reads of what the mail flow did and does: the message trace, the throttle and the queue.

use std::net::IpAddr;

use access::Permission;
use directory::TenantId;
use trace::{Cursor, Direction, MessageStatus, RefusalQuery, TraceQuery};

use super::records::{parse_lifetime, parse_when};
use super::{Admin, Context};
use crate::error::{AdminError, ErrorKind};
use crate::live::{LiveError, ThrottleView, ThrottledIp};
use crate::views::{
    AllowInput, AllowView, CounterView, Done, QueueDeleteParams, QueueDeleted, QueueView, RefusalPage,
    RefusalView, TraceDetailView, TraceMessageView, TracePage, TraceParams,
};

/// Searches look this far back unless told otherwise.
const TRACE_WINDOW_DEFAULT_S: u64 = 48 * 3_600;
const TRACE_PAGE_DEFAULT: usize = 50;
/// How far back a tenant's trace must show an IP for the tenant to see its throttle state.
const SEEN_WINDOW_S: u64 = 10 * 86_400;
const QUEUE_LIST_DEFAULT: usize = 100;
/// The longest window of the throttled list: the server keeps a day of deferral counts.
const THROTTLED_WINDOW_MAX_S: u64 = 86_400;

fn live(e: LiveError) -> AdminError {
    match e {
        LiveError::NotRunning(_) => AdminError::new(ErrorKind::Unavailable, e.to_string()),
        LiveError::Refused(message) if message.contains("unknown message") => {
            AdminError::new(ErrorKind::NotFound, message)
        }
        LiveError::Refused(message) => AdminError::new(ErrorKind::Unavailable, message),
        LiveError::Garbled(_) => AdminError::new(ErrorKind::Internal, e.to_string()),
    }
}

fn ip(field: &'static str, text: &str) -> Result<IpAddr, AdminError> {
    text.trim().parse().map_err(|_| {
        AdminError::invalid(field, format!("invalid {field} {text:?}: expected an IPv4 or IPv6 address"))
    })
}

/// The filters both searches share, checked.
struct Window {
    tenant: Option<TenantId>,
    client_ip: Option<IpAddr>,
    since_ms: u64,
    until_ms: Option<u64>,
    cursor: Option<Cursor>,
    limit: usize,
}

impl Admin {
    fn trace_window(&self, cx: &Context, p: &TraceParams) -> Result<Window, AdminError> {
        let tenant = self.scope(cx, p.tenant.as_deref())?;
        self.allow(cx, Permission::ReadTrace, tenant.as_ref(), "search the message trace")?;
        let now = self.now();
        let since = match &p.since {
            Some(t) => parse_when("trace.since", t, now)?,
            None => now.saturating_sub(TRACE_WINDOW_DEFAULT_S),
        };
        Ok(Window {
            tenant,
            client_ip: p.ip.as_deref().map(|t| ip("trace.ip", t)).transpose()?,
            since_ms: since.saturating_mul(1000),
            until_ms: p
                .until
                .as_deref()
                .map(|t| parse_when("trace.until", t, now))
                .transpose()?
                .map(|s| s.saturating_mul(1000) + 999),
            cursor: p.cursor.as_deref().map(Cursor::decode).transpose()?,
            limit: p.limit.unwrap_or(TRACE_PAGE_DEFAULT),
        })
    }

    /// Messages matching the filters, newest first, a page at a time.
    pub fn search_trace(&self, cx: &Context, p: &TraceParams) -> Result<TracePage, AdminError> {
        let w = self.trace_window(cx, p)?;
        let status = match p.status.as_deref() {
            Some(s) => Some(MessageStatus::parse(s).ok_or_else(|| {
                AdminError::invalid(
                    "trace.status",
                    format!("invalid trace.status {s:?}: expected received, deferred, delivered or failed"),
                )
            })?),
            None => None,
        };
        let direction = match p.direction.as_deref() {
            Some(d) => Some(Direction::parse(d).ok_or_else(|| {
                AdminError::invalid(
                    "trace.direction",
                    format!("invalid trace.direction {d:?}: expected inbound or outbound"),
                )
            })?),
            None => None,
        };
        let query = TraceQuery {
            tenant: w.tenant,
            sender: p.sender.clone(),
            recipient: p.recipient.clone(),
            message_id: p.message_id.clone(),
            client_ip: w.client_ip,
            status,
            direction,
            since_unix_ms: Some(w.since_ms),
            until_unix_ms: w.until_ms,
            cursor: w.cursor,
            limit: w.limit,
        };
        let page = self.trace()?.search(&query)?;
        Ok(TracePage { items: page.items.iter().map(TraceMessageView::from).collect(), next: page.next })
    }

    /// One message's timeline.
    pub fn trace_message(&self, cx: &Context, id: &str) -> Result<TraceDetailView, AdminError> {
        self.allow(cx, Permission::ReadTrace, cx.principal.tenant.as_ref(), "read the message trace")?;
        let found = self.trace()?.message(id, cx.principal.tenant.as_ref())?;
        found.map(|t| TraceDetailView::from(&t)).ok_or_else(|| AdminError::not_found(format!("message {id}")))
    }

    /// Refusals at SMTP time, per client IP, sender, recipient domain, reply and minute.
    pub fn trace_refusals(&self, cx: &Context, p: &TraceParams) -> Result<RefusalPage, AdminError> {
        let w = self.trace_window(cx, p)?;
        for (field, given) in [
            ("trace.status", p.status.is_some()),
            ("trace.message_id", p.message_id.is_some()),
            ("trace.direction", p.direction.is_some()),
        ] {
            if given {
                return Err(AdminError::invalid(
                    field,
                    format!(
                        "invalid {field}: refusals are searched by ip, sender, recipient domain and time only"
                    ),
                ));
            }
        }
        let query = RefusalQuery {
            tenant: w.tenant,
            client_ip: w.client_ip,
            sender: p.sender.clone(),
            recipient_domain: p
                .recipient
                .as_deref()
                .map(|r| r.rsplit_once('@').map_or(r, |(_, d)| d).to_string()),
            since_unix_ms: Some(w.since_ms),
            until_unix_ms: w.until_ms,
            cursor: w.cursor,
            limit: w.limit,
        };
        let page = self.trace()?.refusals(&query)?;
        Ok(RefusalPage { items: page.items.iter().map(RefusalView::from).collect(), next: page.next })
    }

    /// Whether a tenant role may look at `ip`'s throttle state: only IPs that sent to it.
    fn ip_visible(&self, cx: &Context, ip: IpAddr) -> Result<bool, AdminError> {
        match &cx.principal.tenant {
            None => Ok(true),
            Some(t) => {
                let since = self.now().saturating_sub(SEEN_WINDOW_S).saturating_mul(1000);
                Ok(self.trace.is_some() && self.trace()?.ip_seen_by(ip, t, since)?)
            }
        }
    }

    /// What the next recipient from `ip` would get, and why.
    pub fn throttle_explain(&self, cx: &Context, ip_text: &str) -> Result<ThrottleView, AdminError> {
        self.allow(cx, Permission::Read, cx.principal.tenant.as_ref(), "read the throttle")?;
        let ip = ip("throttle.ip", ip_text)?;
        if !self.ip_visible(cx, ip)? {
            return Err(AdminError::not_found(format!(
                "client {ip} (no mail from it to this tenant in 10 days)"
            )));
        }
        let mut view = self.live.throttle_explain(ip).map_err(live)?;
        if let Some(tenant) = &cx.principal.tenant {
            view.connectors.retain(|c| c.tenant == tenant.as_str());
        }
        Ok(view)
    }

    /// IPs and prefixes deferred within the last day, most deferred first; a tenant sees the
    /// IPs that sent to it, and no prefix (its counts are other IPs' too).
    pub fn throttled(&self, cx: &Context) -> Result<Vec<ThrottledIp>, AdminError> {
        self.throttled_since(cx, None)
    }

    /// The same within `since` (an age such as `1h` or `30m`, at most a day; default a day).
    pub fn throttled_since(&self, cx: &Context, since: Option<&str>) -> Result<Vec<ThrottledIp>, AdminError> {
        self.allow(cx, Permission::Read, cx.principal.tenant.as_ref(), "read the throttle")?;
        let window_s = match since {
            None => THROTTLED_WINDOW_MAX_S,
            Some(text) => match parse_lifetime("throttle.since", text)? {
                s if s <= THROTTLED_WINDOW_MAX_S => s,
                _ => {
                    return Err(AdminError::invalid(
                        "throttle.since",
                        format!(
                            "invalid throttle.since {text:?}: at most 24h (the server keeps a day of deferral counts)"
                        ),
                    ));
                }
            },
        };
        let all = self.live.throttled(window_s).map_err(live)?;
        let mut shown = Vec::with_capacity(all.len());
        for entry in all {
            let prefix = entry.kind == "prefix";
            if cx.principal.tenant.is_none() || (!prefix && self.ip_visible(cx, entry.ip)?) {
                shown.push(entry);
            }
        }
        Ok(shown)
    }

    pub fn throttle_counters(&self, cx: &Context) -> Result<Vec<CounterView>, AdminError> {
        self.allow_global_read(cx, "read the throttle counters")?;
        let counters = self.live.throttle_counters().map_err(live)?;
        Ok(counters.into_iter().map(|(name, value)| CounterView { name, value }).collect())
    }

    pub fn queue_list(&self, cx: &Context, limit: Option<usize>) -> Result<QueueView, AdminError> {
        self.allow(cx, Permission::Operate, None, "read the queue")?;
        let (total, messages) = self.live.queue_list(limit.unwrap_or(QUEUE_LIST_DEFAULT)).map_err(live)?;
        Ok(QueueView { total, messages })
    }

    pub fn queue_flush(&self, cx: &Context) -> Result<Done, AdminError> {
        self.allow(cx, Permission::Operate, None, "flush the queue")?;
        let n = self.live.queue_flush().map_err(live)?;
        let mut store = self.store();
        self.audit(&mut **store, cx, super::Change::new(None, "queue.flush", format!("{n} messages")));
        Ok(Done { message: format!("{n} waiting messages are due now") })
    }

    pub fn queue_retry(&self, cx: &Context, id: &str) -> Result<Done, AdminError> {
        self.allow(cx, Permission::Operate, None, "retry queued messages")?;
        queue_id(id)?;
        self.live.queue_retry(id).map_err(live)?;
        let mut store = self.store();
        self.audit(&mut **store, cx, super::Change::new(None, "queue.retry", id));
        Ok(Done { message: format!("message {id} is due now") })
    }
}

impl Admin {
    /// Removes a queued message, or some of its recipients, with a bounce to the sender
    /// unless `bounce=false` (operators; a tenant role is told no such message exists). The
    /// queue manager that owns the message does it, and the answer comes once it is
    /// durable; the audit entry names the message, the recipients and the bounce.
    pub fn queue_delete(
        &self,
        cx: &Context,
        id: &str,
        p: &QueueDeleteParams,
    ) -> Result<QueueDeleted, AdminError> {
        if cx.principal.role.is_tenant_role() {
            return Err(AdminError::not_found(format!("message {id}")));
        }
        self.allow(cx, Permission::Operate, None, "delete queued messages")?;
        queue_id(id)?;
        let recipients = queue_recipients(p.recipients.as_deref())?;
        let bounce = p.bounce.unwrap_or(true);
        let message = self.live.queue_delete(id, &recipients, bounce).map_err(queue_refusal)?;
        let deleted =
            QueueDeleted { id: id.to_string(), bounced: bounce, message: message.trim().to_string() };
        let mut store = self.store();
        self.audit(&mut **store, cx, super::Change::new(None, "queue.delete", id).after(&deleted));
        Ok(deleted)
    }
}

/// Recipients a removal may name at once: they travel on one control-socket line.
const QUEUE_DELETE_RECIPIENTS_MAX: usize = 16;

fn queue_id(id: &str) -> Result<(), AdminError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(AdminError::invalid(
            "queue.id",
            format!("invalid queue.id {id:?}: expected a queue id as `sluice queue list` shows it"),
        ));
    }
    Ok(())
}

/// The recipients a removal names, checked as addresses (`queue.recipients`).
fn queue_recipients(text: Option<&str>) -> Result<Vec<String>, AdminError> {
    let list: Vec<String> =
        text.unwrap_or("").split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect();
    if list.len() > QUEUE_DELETE_RECIPIENTS_MAX {
        return Err(AdminError::invalid(
            "queue.recipients",
            format!(
                "invalid queue.recipients: {} addresses, at most {QUEUE_DELETE_RECIPIENTS_MAX} at once (name none to remove every recipient)",
                list.len()
            ),
        ));
    }
    for address in &list {
        let plausible = address.len() <= 254
            && address.rsplit_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
            && !address.chars().any(|c| c.is_whitespace() || c.is_control());
        if !plausible {
            return Err(AdminError::invalid(
                "queue.recipients",
                format!(
                    "invalid queue.recipients {address:?}: expected an email address of the message's recipients"
                ),
            ));
        }
    }
    Ok(list)
}

/// The queue manager's refusals, each with the error kind that fits.
fn queue_refusal(e: LiveError) -> AdminError {
    match e {
        LiveError::Refused(message) if message.starts_with("busy:") => {
            AdminError::new(ErrorKind::Conflict, message.trim_start_matches("busy:").trim())
        }
        LiveError::Refused(message) if message.starts_with("invalid recipient") => AdminError::invalid(
            "queue.recipients",
            message.replacen("invalid recipient", "invalid queue.recipients", 1),
        ),
        other => live(other),
    }
}

/// The operator allow list's CIDR, with errors naming `throttle.cidr`.
fn allow_cidr(text: &str) -> Result<throttle::Cidr, AdminError> {
    text.trim().parse::<throttle::Cidr>().map_err(|e| {
        AdminError::invalid(
            "throttle.cidr",
            format!("invalid throttle.cidr {text:?}: {e}; e.g. 203.0.113.0/24"),
        )
    })
}

impl Admin {
    fn allow_file(&self) -> Result<&dyn crate::live::AllowList, AdminError> {
        self.allow_list.as_deref().ok_or_else(|| {
            AdminError::new(
                ErrorKind::Unavailable,
                "throttling is disabled in this config (throttle.enabled = false)",
            )
        })
    }

    /// The throttle's operator allow list (operators and support).
    pub fn list_allowed(&self, cx: &Context) -> Result<Vec<AllowView>, AdminError> {
        self.allow_global_read(cx, "read the throttle allow list")?;
        let entries = self.allow_file()?.entries().map_err(|e| AdminError::new(ErrorKind::Internal, e))?;
        Ok(entries.into_iter().map(|(cidr, note)| AllowView { cidr: cidr.to_string(), note }).collect())
    }

    /// Never throttles a network (operators); a running server re-reads the list within seconds.
    pub fn allow_network(&self, cx: &Context, input: &AllowInput) -> Result<AllowView, AdminError> {
        self.allow(cx, Permission::Operate, None, "change the throttle allow list")?;
        let cidr = allow_cidr(&input.cidr)?;
        let note = input.note.clone().unwrap_or_default().replace(['\n', '\r', '#'], " ").trim().to_string();
        let file = self.allow_file()?;
        // The store's lock orders this read-modify-write with every other change.
        let mut store = self.store();
        let mut entries = file.entries().map_err(|e| AdminError::new(ErrorKind::Internal, e))?;
        if entries.iter().any(|(c, _)| *c == cidr) {
            return Err(AdminError::new(
                ErrorKind::Conflict,
                format!("{cidr} is already on the throttle allow list"),
            ));
        }
        entries.push((cidr, note.clone()));
        file.replace(&entries).map_err(|e| AdminError::new(ErrorKind::Internal, e))?;
        let view = AllowView { cidr: cidr.to_string(), note };
        self.audit(
            &mut **store,
            cx,
            super::Change::new(None, "throttle.allow", cidr.to_string()).after(&view),
        );
        Ok(view)
    }

    pub fn remove_allowed(&self, cx: &Context, cidr: &str) -> Result<(), AdminError> {
        self.allow(cx, Permission::Operate, None, "change the throttle allow list")?;
        let cidr = allow_cidr(cidr)?;
        let file = self.allow_file()?;
        let mut store = self.store();
        let mut entries = file.entries().map_err(|e| AdminError::new(ErrorKind::Internal, e))?;
        let Some(at) = entries.iter().position(|(c, _)| *c == cidr) else {
            return Err(AdminError::not_found(format!("{cidr} on the throttle allow list")));
        };
        let (_, note) = entries.remove(at);
        file.replace(&entries).map_err(|e| AdminError::new(ErrorKind::Internal, e))?;
        let before = AllowView { cidr: cidr.to_string(), note };
        self.audit(
            &mut **store,
            cx,
            super::Change::new(None, "throttle.unallow", cidr.to_string()).before(&before),
        );
        Ok(())
    }
}
