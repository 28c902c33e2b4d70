//! The delivery queue (operators): messages with state, age, attempts and next attempt;
//! retry one now, or every waiting one.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::super::i18n::fill;
use super::super::{Viewer, done, form::PostForm, layout, run};
use super::{now_s, query, seg};
use crate::http::AppState;

pub async fn page(State(state): State<AppState>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let ok = query(raw).get("ok").is_some();
    run(&state, v, move |a, v| {
        let w = v.w();
        let q = a.queue_list(&v.cx, Some(200))?;
        let now = now_s();
        let body = html! {
            h1 { (w.queue_title) }
            @if ok { (layout::notice(w.done)) }
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
