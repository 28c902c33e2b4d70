//! The `/api/v1` handlers: each documents itself for OpenAPI and calls one operation.

use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiResult, Body, Caller, Input, LimitedCaller, Params, call};
use crate::live::{HeldMessageView, ThrottleView, ThrottledIp};
use crate::views::*;

impl Input for TenantInput {
    const OBJECT: &'static str = "tenant";
}
impl Input for DomainInput {
    const OBJECT: &'static str = "domain";
}
impl Input for RecipientInput {
    const OBJECT: &'static str = "recipient";
}
impl Input for ConnectorInput {
    const OBJECT: &'static str = "connector";
}
impl Input for ConnectorEdit {
    const OBJECT: &'static str = "connector";
}
impl Input for ConnectorAuditParams {
    const OBJECT: &'static str = "audit";
}
impl Input for ValidateInput {
    const OBJECT: &'static str = "validate";
}
impl Input for ReputationInput {
    const OBJECT: &'static str = "reputation";
}
impl Input for ReleaseInput {
    const OBJECT: &'static str = "release";
}
impl Input for TokenInput {
    const OBJECT: &'static str = "token";
}
impl Input for RequestInput {
    const OBJECT: &'static str = "request";
}
impl Input for DecisionInput {
    const OBJECT: &'static str = "decision";
}
impl Input for AuditParams {
    const OBJECT: &'static str = "audit";
}
impl Input for TraceParams {
    const OBJECT: &'static str = "trace";
}
impl Input for RequestParams {
    const OBJECT: &'static str = "request";
}
impl Input for AllowInput {
    const OBJECT: &'static str = "throttle";
}
impl Input for FlowParams {
    const OBJECT: &'static str = "flow";
}
impl Input for ClientParams {
    const OBJECT: &'static str = "clients";
}
impl Input for CheckInput {
    const OBJECT: &'static str = "connector";
}
impl Input for QueueParams {
    const OBJECT: &'static str = "queue";
}
impl Input for QueueDeleteParams {
    const OBJECT: &'static str = "queue";
}
impl Input for HistoryParams {
    const OBJECT: &'static str = "history";
}
impl Input for ThrottledParams {
    const OBJECT: &'static str = "throttle";
}
impl Input for QuarantineParams {
    const OBJECT: &'static str = "quarantine";
}

pub(super) fn routes(doc: utoipa::openapi::OpenApi) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(doc)
        .routes(routes!(list_tenants, add_tenant))
        .routes(routes!(get_tenant))
        .routes(routes!(suspend_tenant))
        .routes(routes!(resume_tenant))
        .routes(routes!(list_domains, add_domain))
        .routes(routes!(get_domain, remove_domain))
        .routes(routes!(verify_domain))
        .routes(routes!(list_recipients, add_recipient))
        .routes(routes!(remove_recipient))
        .routes(routes!(list_connectors, add_connector))
        .routes(routes!(get_connector, edit_connector, remove_connector))
        .routes(routes!(audit_connectors))
        .routes(routes!(enable_connector))
        .routes(routes!(disable_connector))
        .routes(routes!(validate_connector))
        .routes(routes!(check_connector))
        .routes(routes!(outbound_state))
        .routes(routes!(release_outbound))
        .routes(routes!(list_tenant_requests, create_request))
        .routes(routes!(list_requests))
        .routes(routes!(get_request))
        .routes(routes!(approve_request))
        .routes(routes!(deny_request))
        .routes(routes!(list_reputation, set_reputation))
        .routes(routes!(remove_reputation))
        .routes(routes!(throttle_explain))
        .routes(routes!(throttle_history))
        .routes(routes!(throttled))
        .routes(routes!(throttle_counters))
        .routes(routes!(list_allowed, allow_network))
        .routes(routes!(remove_allowed))
        .routes(routes!(search_trace))
        .routes(routes!(trace_message))
        .routes(routes!(trace_refusals))
        .routes(routes!(mail_flow))
        .routes(routes!(clients))
        .routes(routes!(queue_list))
        .routes(routes!(queue_flush))
        .routes(routes!(queue_retry))
        .routes(routes!(queue_delete))
        .routes(routes!(list_quarantine))
        .routes(routes!(preview_quarantined, delete_quarantined))
        .routes(routes!(release_quarantined))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(list_audit))
}

/// Tenants the caller sees.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = Vec<TenantView>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn list_tenants(State(s): State<AppState>, Caller(cx): Caller) -> ApiResult<Vec<TenantView>> {
    call(&s, move |a| a.list_tenants(&cx)).await
}

/// Creates a tenant with its service domain (operators).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])), request_body = TenantInput,
    responses((status = 200, body = TenantView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn add_tenant(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Body(input): Body<TenantInput>,
) -> ApiResult<TenantView> {
    call(&s, move |a| a.add_tenant(&cx, &input)).await
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}", tag = "tenants", security(("bearer" = [])), params(("tenant" = String, Path)),
    responses((status = 200, body = TenantView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn get_tenant(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
) -> ApiResult<TenantView> {
    call(&s, move |a| a.tenant(&cx, &tenant)).await
}

/// Refuses the tenant's mail for now (451 4.2.1: senders retry) until resumed (operators).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/suspend", tag = "tenants", security(("bearer" = [])), params(("tenant" = String, Path)),
    responses((status = 200, body = TenantView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn suspend_tenant(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
) -> ApiResult<TenantView> {
    call(&s, move |a| a.set_tenant_suspended(&cx, &tenant, true)).await
}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/resume", tag = "tenants", security(("bearer" = [])), params(("tenant" = String, Path)),
    responses((status = 200, body = TenantView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn resume_tenant(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
) -> ApiResult<TenantView> {
    call(&s, move |a| a.set_tenant_suspended(&cx, &tenant, false)).await
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/domains", tag = "domains", security(("bearer" = [])), params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<DomainView>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn list_domains(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
) -> ApiResult<Vec<DomainView>> {
    call(&s, move |a| a.list_domains(&cx, Some(&tenant))).await
}

/// Adds a domain (pending); the answer holds the TXT record to publish.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/domains", tag = "domains", security(("bearer" = [])), params(("tenant" = String, Path)),
    request_body = DomainInput, responses((status = 200, body = DomainView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn add_domain(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
    Body(input): Body<DomainInput>,
) -> ApiResult<DomainView> {
    call(&s, move |a| a.add_domain(&cx, &tenant, &input)).await
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/domains/{domain}", tag = "domains", security(("bearer" = [])),
    params(("tenant" = String, Path), ("domain" = String, Path)),
    responses((status = 200, body = DomainView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn get_domain(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path((tenant, domain)): Path<(String, String)>,
) -> ApiResult<DomainView> {
    call(&s, move |a| a.domain(&cx, &tenant, &domain)).await
}

/// Removes a domain and its recipients.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/domains/{domain}", tag = "domains", security(("bearer" = [])),
    params(("tenant" = String, Path), ("domain" = String, Path)),
    responses((status = 200, body = Done), (status = "4XX", body = crate::error::ErrorBody)))]
async fn remove_domain(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path((tenant, domain)): Path<(String, String)>,
) -> ApiResult<Done> {
    call(&s, move |a| {
        a.remove_domain(&cx, Some(&tenant), &domain)?;
        Ok(Done { message: format!("domain {domain} removed with its recipients") })
    })
    .await
}

/// Looks the TXT record up; 422 `check_failed` says what DNS showed.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/domains/{domain}/verify", tag = "domains", security(("bearer" = [])),
    params(("tenant" = String, Path), ("domain" = String, Path)),
    responses((status = 200, body = VerifyView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn verify_domain(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path((tenant, domain)): Path<(String, String)>,
) -> ApiResult<VerifyView> {
    call(&s, move |a| a.verify_domain(&cx, Some(&tenant), &domain)).await
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/recipients", tag = "recipients", security(("bearer" = [])), params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<RecipientView>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn list_recipients(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
) -> ApiResult<Vec<RecipientView>> {
    call(&s, move |a| a.list_recipients(&cx, &tenant)).await
}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/recipients", tag = "recipients", security(("bearer" = [])), params(("tenant" = String, Path)),
    request_body = RecipientInput, responses((status = 200, body = RecipientView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn add_recipient(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
    Body(input): Body<RecipientInput>,
) -> ApiResult<RecipientView> {
    call(&s, move |a| a.add_recipient(&cx, &tenant, &input)).await
}

/// Removes a recipient (by its primary address) with its aliases.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/recipients/{address}", tag = "recipients", security(("bearer" = [])),
    params(("tenant" = String, Path), ("address" = String, Path)),
    responses((status = 200, body = Done), (status = "4XX", body = crate::error::ErrorBody)))]
async fn remove_recipient(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path((tenant, address)): Path<(String, String)>,
) -> ApiResult<Done> {
    call(&s, move |a| {
        a.remove_recipient(&cx, Some(&tenant), &address)?;
        Ok(Done { message: format!("recipient {address} removed with its aliases") })
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/connectors", tag = "connectors", security(("bearer" = [])), params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<ConnectorView>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn list_connectors(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
) -> ApiResult<Vec<ConnectorView>> {
    call(&s, move |a| a.list_connectors(&cx, Some(&tenant))).await
}

/// Creates an inbound or outbound connector.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/connectors", tag = "connectors", security(("bearer" = [])), params(("tenant" = String, Path)),
    request_body = ConnectorInput, responses((status = 200, body = ConnectorView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn add_connector(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
    Body(input): Body<ConnectorInput>,
) -> ApiResult<ConnectorView> {
    call(&s, move |a| a.add_connector(&cx, &tenant, &input)).await
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/connectors/{name}", tag = "connectors", security(("bearer" = [])),
    params(("tenant" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = ConnectorView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn get_connector(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path((tenant, name)): Path<(String, String)>,
) -> ApiResult<ConnectorView> {
    call(&s, move |a| a.connector(&cx, &tenant, &name)).await
}

/// Changes a connector in place (lists added to or removed from, rules set); the change
/// record keeps who, when and what changed, the audit log the before and after.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/connectors/{name}", tag = "connectors", security(("bearer" = [])),
    params(("tenant" = String, Path), ("name" = String, Path)), request_body = ConnectorEdit,
    responses((status = 200, body = ConnectorView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn edit_connector(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path((tenant, name)): Path<(String, String)>,
    Body(edit): Body<ConnectorEdit>,
) -> ApiResult<ConnectorView> {
    call(&s, move |a| a.edit_connector(&cx, &tenant, &name, &edit)).await
}

/// Risk flags on every connector the caller sees: very broad ranges, ranges shared with
/// other tenants, on-premises connectors without TLS, recent creations and changes (who,
/// when), disabled ones, certificate wildcards on a public suffix.
#[utoipa::path(get, path = "/api/v1/connectors/audit", tag = "connectors", security(("bearer" = [])),
    params(ConnectorAuditParams),
    responses((status = 200, body = AuditReportView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn audit_connectors(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Params(p): Params<ConnectorAuditParams>,
) -> ApiResult<AuditReportView> {
    call(&s, move |a| a.audit_connectors(&cx, p.tenant.as_deref())).await
}

#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/connectors/{name}", tag = "connectors", security(("bearer" = [])),
    params(("tenant" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Done), (status = "4XX", body = crate::error::ErrorBody)))]
async fn remove_connector(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path((tenant, name)): Path<(String, String)>,
) -> ApiResult<Done> {
    call(&s, move |a| {
        a.remove_connector(&cx, &tenant, &name)?;
        Ok(Done { message: format!("connector {name:?} of tenant {tenant} removed") })
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/connectors/{name}/enable", tag = "connectors", security(("bearer" = [])),
    params(("tenant" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = ConnectorView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn enable_connector(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path((tenant, name)): Path<(String, String)>,
) -> ApiResult<ConnectorView> {
    call(&s, move |a| a.set_connector_enabled(&cx, &tenant, &name, true)).await
}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/connectors/{name}/disable", tag = "connectors", security(("bearer" = [])),
    params(("tenant" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = ConnectorView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn disable_connector(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path((tenant, name)): Path<(String, String)>,
) -> ApiResult<ConnectorView> {
    call(&s, move |a| a.set_connector_enabled(&cx, &tenant, &name, false)).await
}

/// Tests an outbound connector step by step (resolve, connect, banner, EHLO, STARTTLS,
/// optionally a test message, QUIT); for an inbound connector, explains step by step how a
/// session from the described client (`client_ip`, `client_cert`) would be treated for the
/// tenant's recipients, with the exact reply for `to` (nothing is sent).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/connectors/{name}/validate", tag = "connectors", security(("bearer" = [])),
    params(("tenant" = String, Path), ("name" = String, Path)), request_body = ValidateInput,
    responses((status = 200, body = ValidationView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn validate_connector(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path((tenant, name)): Path<(String, String)>,
    Body(input): Body<ValidateInput>,
) -> ApiResult<ValidationView> {
    call(&s, move |a| a.validate_connector(&cx, &tenant, &name, &input)).await
}

/// Checks a connector before it is saved (the wizard's last step): its settings, its name,
/// then what the trace and the throttle show of an inbound connector's addresses, or the
/// step-by-step probe of an outbound connector's servers. Nothing is saved.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/connectors-check", tag = "connectors", security(("bearer" = [])),
    params(("tenant" = String, Path)), request_body = CheckInput,
    responses((status = 200, body = ValidationView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn check_connector(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
    Body(input): Body<CheckInput>,
) -> ApiResult<ValidationView> {
    call(&s, move |a| a.check_connector(&cx, &tenant, &input.connector, input.to.as_deref())).await
}

/// The tenant's outbound protection state: the 5.7.705 block and past releases.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/outbound", tag = "outbound protection", security(("bearer" = [])), params(("tenant" = String, Path)),
    responses((status = 200, body = OutboundView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn outbound_state(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
) -> ApiResult<OutboundView> {
    call(&s, move |a| a.outbound_state(&cx, &tenant)).await
}

/// Lifts the 5.7.705 block (support and operators), with the reason on record.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/outbound/release", tag = "outbound protection", security(("bearer" = [])),
    params(("tenant" = String, Path)), request_body = ReleaseInput,
    responses((status = 200, body = OutboundView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn release_outbound(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
    Body(input): Body<ReleaseInput>,
) -> ApiResult<OutboundView> {
    call(&s, move |a| a.release_outbound(&cx, &tenant, &input)).await
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/requests", tag = "requests", security(("bearer" = [])),
    params(("tenant" = String, Path), RequestParams),
    responses((status = 200, body = Vec<RequestView>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn list_tenant_requests(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
    Params(p): Params<RequestParams>,
) -> ApiResult<Vec<RequestView>> {
    call(&s, move |a| a.list_requests(&cx, Some(&tenant), &p)).await
}

/// Asks for a 5.7.708 exception or the release of a 5.7.705 block.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/requests", tag = "requests", security(("bearer" = [])), params(("tenant" = String, Path)),
    request_body = RequestInput, responses((status = 200, body = RequestView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn create_request(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(tenant): Path<String>,
    Body(input): Body<RequestInput>,
) -> ApiResult<RequestView> {
    call(&s, move |a| a.create_request(&cx, &tenant, &input)).await
}

/// Requests the caller sees, newest first.
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", security(("bearer" = [])), params(RequestParams),
    responses((status = 200, body = Vec<RequestView>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn list_requests(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Params(p): Params<RequestParams>,
) -> ApiResult<Vec<RequestView>> {
    call(&s, move |a| a.list_requests(&cx, None, &p)).await
}

fn request_id(text: &str) -> Result<u64, crate::AdminError> {
    text.parse().map_err(|_| {
        crate::AdminError::invalid("request.id", format!("invalid request.id {text:?}: expected a number"))
    })
}

#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RequestView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn get_request(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(id): Path<String>,
) -> ApiResult<RequestView> {
    call(&s, move |a| a.request(&cx, request_id(&id)?)).await
}

/// Approves a pending request and carries it out (support and operators).
#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", tag = "requests", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DecisionInput, responses((status = 200, body = RequestView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn approve_request(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(id): Path<String>,
    Body(input): Body<DecisionInput>,
) -> ApiResult<RequestView> {
    call(&s, move |a| a.decide_request(&cx, request_id(&id)?, true, &input)).await
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/deny", tag = "requests", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DecisionInput, responses((status = 200, body = RequestView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn deny_request(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(id): Path<String>,
    Body(input): Body<DecisionInput>,
) -> ApiResult<RequestView> {
    call(&s, move |a| a.decide_request(&cx, request_id(&id)?, false, &input)).await
}

/// The operator's low-reputation list (5.7.708): blocks and exceptions.
#[utoipa::path(get, path = "/api/v1/reputation", tag = "reputation", security(("bearer" = [])),
    responses((status = 200, body = Vec<ReputationView>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn list_reputation(State(s): State<AppState>, Caller(cx): Caller) -> ApiResult<Vec<ReputationView>> {
    call(&s, move |a| a.list_reputation(&cx)).await
}

/// Adds or replaces a block or an exception (operators).
#[utoipa::path(post, path = "/api/v1/reputation", tag = "reputation", security(("bearer" = [])), request_body = ReputationInput,
    responses((status = 200, body = ReputationView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn set_reputation(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Body(input): Body<ReputationInput>,
) -> ApiResult<ReputationView> {
    call(&s, move |a| a.set_reputation(&cx, &input)).await
}

/// Removes an entry; the CIDR's slash is sent as %2F.
#[utoipa::path(delete, path = "/api/v1/reputation/{cidr}", tag = "reputation", security(("bearer" = [])), params(("cidr" = String, Path)),
    responses((status = 200, body = Done), (status = "4XX", body = crate::error::ErrorBody)))]
async fn remove_reputation(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(cidr): Path<String>,
) -> ApiResult<Done> {
    call(&s, move |a| {
        a.remove_reputation(&cx, &cidr)?;
        Ok(Done { message: format!("{cidr} removed from the reputation list") })
    })
    .await
}

/// What the next recipient from this IP would get, and why (tenants: IPs that sent to them).
#[utoipa::path(get, path = "/api/v1/throttle/ips/{ip}", tag = "throttle", security(("bearer" = [])), params(("ip" = String, Path)),
    responses((status = 200, body = ThrottleView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn throttle_explain(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(ip): Path<String>,
) -> ApiResult<ThrottleView> {
    call(&s, move |a| a.throttle_explain(&cx, &ip)).await
}

/// An address's or network's (`203.0.113.0%2F24`) history hour by hour over the last days:
/// recipients accepted and deferred by throttling, the deferred share, and its allowance now
/// (past allowance is not kept). Tenants: their own mail, from IPs that sent to them.
#[utoipa::path(get, path = "/api/v1/throttle/ips/{ip}/history", tag = "throttle", security(("bearer" = [])), params(("ip" = String, Path), HistoryParams),
    responses((status = 200, body = ThrottleHistoryView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn throttle_history(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(ip): Path<String>,
    Params(p): Params<HistoryParams>,
) -> ApiResult<ThrottleHistoryView> {
    call(&s, move |a| a.throttle_history(&cx, &ip, &p)).await
}

/// IPs and prefixes deferred within `since` (default the last day), most deferred first, with
/// their counts per AS token (tenants: IPs that sent to them, no prefixes).
#[utoipa::path(get, path = "/api/v1/throttle/throttled", tag = "throttle", security(("bearer" = [])), params(ThrottledParams),
    responses((status = 200, body = Vec<ThrottledIp>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn throttled(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Params(p): Params<ThrottledParams>,
) -> ApiResult<Vec<ThrottledIp>> {
    call(&s, move |a| a.throttled_since(&cx, p.since.as_deref())).await
}

/// Decision counters per verdict and AS token (operators and support).
#[utoipa::path(get, path = "/api/v1/throttle/counters", tag = "throttle", security(("bearer" = [])),
    responses((status = 200, body = Vec<CounterView>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn throttle_counters(State(s): State<AppState>, Caller(cx): Caller) -> ApiResult<Vec<CounterView>> {
    call(&s, move |a| a.throttle_counters(&cx)).await
}

/// The operator allow list: networks never throttled nor counted (operators and support).
#[utoipa::path(get, path = "/api/v1/throttle/allow", tag = "throttle", security(("bearer" = [])),
    responses((status = 200, body = Vec<AllowView>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn list_allowed(State(s): State<AppState>, Caller(cx): Caller) -> ApiResult<Vec<AllowView>> {
    call(&s, move |a| a.list_allowed(&cx)).await
}

/// Never throttles a network (operators); the running server picks it up within seconds.
#[utoipa::path(post, path = "/api/v1/throttle/allow", tag = "throttle", security(("bearer" = [])), request_body = AllowInput,
    responses((status = 200, body = AllowView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn allow_network(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Body(input): Body<AllowInput>,
) -> ApiResult<AllowView> {
    call(&s, move |a| a.allow_network(&cx, &input)).await
}

/// Takes a network off the allow list; the CIDR's slash is sent as %2F.
#[utoipa::path(delete, path = "/api/v1/throttle/allow/{cidr}", tag = "throttle", security(("bearer" = [])), params(("cidr" = String, Path)),
    responses((status = 200, body = Done), (status = "4XX", body = crate::error::ErrorBody)))]
async fn remove_allowed(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(cidr): Path<String>,
) -> ApiResult<Done> {
    call(&s, move |a| {
        a.remove_allowed(&cx, &cidr)?;
        Ok(Done { message: format!("{cidr} removed from the throttle allow list") })
    })
    .await
}

/// Searches messages (default: the last 48 hours), newest first. Rate limited per token.
#[utoipa::path(get, path = "/api/v1/trace/messages", tag = "trace", security(("bearer" = [])), params(TraceParams),
    responses((status = 200, body = TracePage), (status = "4XX", body = crate::error::ErrorBody)))]
async fn search_trace(
    State(s): State<AppState>,
    LimitedCaller(cx): LimitedCaller,
    Params(p): Params<TraceParams>,
) -> ApiResult<TracePage> {
    call(&s, move |a| a.search_trace(&cx, &p)).await
}

/// One message's timeline.
#[utoipa::path(get, path = "/api/v1/trace/messages/{id}", tag = "trace", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TraceDetailView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn trace_message(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(id): Path<String>,
) -> ApiResult<TraceDetailView> {
    call(&s, move |a| a.trace_message(&cx, &id)).await
}

/// Refusals at SMTP time, counted per client IP, sender, recipient domain, reply and minute.
#[utoipa::path(get, path = "/api/v1/trace/refusals", tag = "trace", security(("bearer" = [])), params(TraceParams),
    responses((status = 200, body = RefusalPage), (status = "4XX", body = crate::error::ErrorBody)))]
async fn trace_refusals(
    State(s): State<AppState>,
    LimitedCaller(cx): LimitedCaller,
    Params(p): Params<TraceParams>,
) -> ApiResult<RefusalPage> {
    call(&s, move |a| a.trace_refusals(&cx, &p)).await
}

/// Mail flow per time bucket: accepted, throttled, refused, delivered, bounced (tenants: their own).
#[utoipa::path(get, path = "/api/v1/trace/flow", tag = "trace", security(("bearer" = [])), params(FlowParams),
    responses((status = 200, body = FlowView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn mail_flow(
    State(s): State<AppState>,
    LimitedCaller(cx): LimitedCaller,
    Params(p): Params<FlowParams>,
) -> ApiResult<FlowView> {
    call(&s, move |a| a.mail_flow(&cx, &p)).await
}

/// The busiest client addresses (tenants: those that sent to them). Rate limited per token.
#[utoipa::path(get, path = "/api/v1/trace/clients", tag = "trace", security(("bearer" = [])), params(ClientParams),
    responses((status = 200, body = Vec<ClientView>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn clients(
    State(s): State<AppState>,
    LimitedCaller(cx): LimitedCaller,
    Params(p): Params<ClientParams>,
) -> ApiResult<Vec<ClientView>> {
    call(&s, move |a| a.clients(&cx, &p)).await
}

/// The running server's queue, oldest first (operators).
#[utoipa::path(get, path = "/api/v1/queue", tag = "queue", security(("bearer" = [])), params(QueueParams),
    responses((status = 200, body = QueueView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn queue_list(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Params(p): Params<QueueParams>,
) -> ApiResult<QueueView> {
    call(&s, move |a| a.queue_list(&cx, p.limit)).await
}

/// Makes every waiting message due now (operators).
#[utoipa::path(post, path = "/api/v1/queue/flush", tag = "queue", security(("bearer" = [])),
    responses((status = 200, body = Done), (status = "4XX", body = crate::error::ErrorBody)))]
async fn queue_flush(State(s): State<AppState>, Caller(cx): Caller) -> ApiResult<Done> {
    call(&s, move |a| a.queue_flush(&cx)).await
}

/// Makes one waiting message due now (operators).
#[utoipa::path(post, path = "/api/v1/queue/{id}/retry", tag = "queue", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Done), (status = "4XX", body = crate::error::ErrorBody)))]
async fn queue_retry(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Done> {
    call(&s, move |a| a.queue_retry(&cx, &id)).await
}

/// Removes a queued message, or some of its recipients, bouncing them to the sender unless
/// `bounce=false` (operators; audited). Answers once the removal is durable.
#[utoipa::path(delete, path = "/api/v1/queue/{id}", tag = "queue", security(("bearer" = [])), params(("id" = String, Path), QueueDeleteParams),
    responses((status = 200, body = QueueDeleted), (status = "4XX", body = crate::error::ErrorBody)))]
async fn queue_delete(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(id): Path<String>,
    Params(p): Params<QueueDeleteParams>,
) -> ApiResult<QueueDeleted> {
    call(&s, move |a| a.queue_delete(&cx, &id, &p)).await
}

/// Held messages the caller may see, newest first.
#[utoipa::path(get, path = "/api/v1/quarantine", tag = "quarantine", security(("bearer" = [])), params(QuarantineParams),
    responses((status = 200, body = Vec<HeldMessageView>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn list_quarantine(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Params(p): Params<QuarantineParams>,
) -> ApiResult<Vec<HeldMessageView>> {
    call(&s, move |a| a.list_quarantine(&cx, p.tenant.as_deref())).await
}

/// A held message with its headers and the start of its text (tenant admins, operators).
#[utoipa::path(get, path = "/api/v1/quarantine/{id}", tag = "quarantine", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = HeldMessagePreview), (status = "4XX", body = crate::error::ErrorBody)))]
async fn preview_quarantined(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(id): Path<String>,
) -> ApiResult<HeldMessagePreview> {
    call(&s, move |a| {
        let (message, preview) = a.preview_quarantined(&cx, &id)?;
        Ok(HeldMessagePreview { message, preview })
    })
    .await
}

/// Delivers a held message to its held recipients, exactly once (409 when already released).
#[utoipa::path(post, path = "/api/v1/quarantine/{id}/release", tag = "quarantine", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = HeldMessageView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn release_quarantined(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(id): Path<String>,
) -> ApiResult<HeldMessageView> {
    call(&s, move |a| a.release_quarantined(&cx, &id)).await
}

/// Deletes a held message.
#[utoipa::path(delete, path = "/api/v1/quarantine/{id}", tag = "quarantine", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Done), (status = "4XX", body = crate::error::ErrorBody)))]
async fn delete_quarantined(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Done> {
    call(&s, move |a| a.delete_quarantined(&cx, &id)).await
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenView>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn list_tokens(State(s): State<AppState>, Caller(cx): Caller) -> ApiResult<Vec<TokenView>> {
    call(&s, move |a| a.list_tokens(&cx)).await
}

/// Creates a token (operators); the secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])), request_body = TokenInput,
    responses((status = 200, body = CreatedToken), (status = "4XX", body = crate::error::ErrorBody)))]
async fn create_token(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Body(input): Body<TokenInput>,
) -> ApiResult<CreatedToken> {
    call(&s, move |a| a.create_token(&cx, &input)).await
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TokenView), (status = "4XX", body = crate::error::ErrorBody)))]
async fn revoke_token(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Path(id): Path<String>,
) -> ApiResult<TokenView> {
    call(&s, move |a| a.revoke_token(&cx, &id)).await
}

/// The audit log, newest first (tenants: their own entries).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditParams),
    responses((status = 200, body = Vec<AuditView>), (status = "4XX", body = crate::error::ErrorBody)))]
async fn list_audit(
    State(s): State<AppState>,
    Caller(cx): Caller,
    Params(p): Params<AuditParams>,
) -> ApiResult<Vec<AuditView>> {
    call(&s, move |a| a.list_audit(&cx, &p)).await
}
