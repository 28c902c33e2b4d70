//! The delivery queue (operators): messages with state, age, attempts and next attempt;
//! retry one now, or every waiting one; delete one (or some of its recipients) with a bounce
//! or silently, after a confirmation page.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::super::i18n::fill;
use super::super::{Viewer, done, form::PostForm, layout, run};
use super::{now_s, query, seg};
use crate::http::AppState;
use crate::views::QueueDeleteParams;

pub async fn page(State(state): State<AppState>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let ok = query(raw).get("ok").map(str::to_owned);
    run(&state, v, move |a, v| {
        let w = v.w();
        let q = a.queue_list(&v.cx, Some(200))?;
        let now = now_s();
        let body = html! {
            h1 { (w.queue_title) }
            @match ok.as_deref() {
                Some("deleted") => (layout::notice(w.queue_deleted)),
                Some(_) => (layout::notice(w.done)),
                None => {}
            }
            p { (fill(w.queue_total, &[&q.total, &q.messages.len()])) }
            form.inline method="post" action="/queue/flush" {
                (layout::csrf(v))
                button.secondary type="submit" { (w.flush) }
            }
            @if q.messages.is_empty() { p { (w.nothing_yet) } } @else {
                div.scroll { table.responsive {
                    thead { tr {
                        th scope="col" { "ID" } th scope="col" { (w.state) } th scope="col" { (w.age) }
                        th scope="col" { (w.attempts) } th scope="col" { (w.next) } th scope="col" { (w.sender) }
                        th scope="col" { (w.recipient) } th scope="col" { (w.actions) }
                    } }
                    tbody {
                        @for m in &q.messages {
                            tr {
                                td data-label="ID" { a href=(format!("/trace/{}", seg(&m.id))) { code { (m.id) } } }
                                td data-label=(w.state) { (m.state) }
                                td data-label=(w.age) { (layout::when(w, m.received_at_unix_ms / 1000, now)) }
                                td data-label=(w.attempts) { (m.attempts) }
                                td data-label=(w.next) {
                                    @match m.next_attempt_unix_ms { Some(at) => (layout::date(at / 1000)), None => "—" }
                                }
                                td data-label=(w.sender) { (m.sender.as_deref().unwrap_or("")) }
                                td data-label=(w.recipient) { (m.recipients.join(", ")) " (" (m.pending) ")" }
                                td data-label=(w.actions) {
                                    @if m.state == "waiting" {
                                        form.inline method="post" action=(format!("/queue/{}/retry", seg(&m.id))) {
                                            (layout::csrf(v))
                                            button.secondary type="submit" aria-label=(format!("{} {}", w.retry_now, m.id)) { (w.retry_now) }
                                        }
                                    }
                                    @if m.state == "waiting" || m.state == "ready" {
                                        " "
                                        a.button.secondary href=(format!("/queue/{}/delete", seg(&m.id))) aria-label=(format!("{} {}", w.queue_delete, m.id)) { (w.queue_delete) }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        };
        Ok(layout::page(v, w.queue_title, body).into_response())
    })
    .await
}

pub async fn flush(State(state): State<AppState>, form: PostForm) -> Response {
    run(&state, form.v, move |a, v| {
        a.queue_flush(&v.cx)?;
        Ok(done("/queue?ok=flushed"))
    })
    .await
}

pub async fn retry(State(state): State<AppState>, Path(id): Path<String>, form: PostForm) -> Response {
    run(&state, form.v, move |a, v| {
        a.queue_retry(&v.cx, &id)?;
        Ok(done("/queue?ok=retried"))
    })
    .await
}

/// How far down the queue the confirmation page looks for the message.
const DELETE_LOOKUP_MAX: usize = 10_000;

/// The confirmation step of a deletion: the message, its recipients (all ticked) and the
/// bounce (ticked), with the help page the bounce links to.
pub async fn confirm_delete(State(state): State<AppState>, v: Viewer, Path(id): Path<String>) -> Response {
    run(&state, v, move |a, v| {
        let w = v.w();
        let q = a.queue_list(&v.cx, Some(DELETE_LOOKUP_MAX))?;
        let Some(m) = q.messages.into_iter().find(|m| m.id == id) else {
            return Err(crate::AdminError::not_found(format!("message {id}")));
        };
        let title = fill(w.queue_delete_title, &[&m.id]);
        let body = html! {
            h1 { (title) }
            p { (w.queue_delete_q) }
            dl {
                dt { (w.sender) } dd { (m.sender.as_deref().unwrap_or("")) }
                dt { (w.age) } dd { (layout::when(w, m.received_at_unix_ms / 1000, now_s())) }
                dt { (w.attempts) } dd { (m.attempts) }
            }
            form method="post" action=(format!("/queue/{}/delete", seg(&m.id))) {
                (layout::csrf(v))
                fieldset {
                    legend { (w.queue_delete_recipients) }
                    @for (n, r) in m.recipients.iter().enumerate() {
                        div.choice {
                            input id=(format!("rcpt-{n}")) type="checkbox" name="recipient" value=(r) checked;
                            label for=(format!("rcpt-{n}")) { (r) }
                        }
                    }
                }
                div.choice {
                    input #bounce type="checkbox" name="bounce" value="yes" checked aria-describedby="bounce-hint";
                    label for="bounce" { (w.queue_bounce) }
                }
                p #bounce-hint.hint { (w.queue_bounce_hint) " " (layout::help_link(v, "5.3.0")) }
                button.danger type="submit" { (w.confirm) }
                " "
                a.button.secondary href="/queue" { (w.cancel) }
            }
        };
        Ok(layout::page(v, &title, body).into_response())
    })
    .await
}

pub async fn delete(State(state): State<AppState>, Path(id): Path<String>, form: PostForm) -> Response {
    run(&state, form.v, move |a, v| {
        let ticked = form.f.all("recipient");
        let shown = a.queue_list(&v.cx, Some(DELETE_LOOKUP_MAX))?.messages.into_iter().find(|m| m.id == id);
        // Every recipient ticked is "the whole message": those already finished are skipped.
        let every = shown.is_some_and(|m| m.recipients.iter().all(|r| ticked.contains(r)));
        if ticked.is_empty() {
            return Err(crate::AdminError::invalid(
                "queue.recipients",
                "invalid queue.recipients: tick at least one recipient to remove",
            ));
        }
        let params = QueueDeleteParams {
            bounce: Some(form.f.checked("bounce")),
            recipients: (!every).then(|| ticked.join(",")),
        };
        a.queue_delete(&v.cx, &id, &params)?;
        Ok(done("/queue?ok=deleted"))
    })
    .await
}
