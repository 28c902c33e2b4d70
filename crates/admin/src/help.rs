//! The public help pages: `GET /help` (an index) and `GET /help/<code>`, one page per code
//! that a reply or a bounce of Sluice links to, in the language asked for (`?lang=`, else
//! `Accept-Language`, else English). The texts are the bounce crate's ([`bounce::help`]),
//! the same the bounces quote, so a page and a bounce cannot disagree. No token needed.

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bounce::{HELP_CODES, HelpText, Lang};
use serde::Deserialize;

/// The words around the texts, per language tag; other languages get English ones.
struct Chrome {
    index_title: &'static str,
    index_intro: &'static str,
    why: &'static str,
    sender: &'static str,
    admin: &'static str,
    recipient: &'static str,
    back: &'static str,
    unknown: &'static str,
}

const ENGLISH: Chrome = Chrome {
    index_title: "Sluice help: status codes",
    index_intro: "Each code below is one that a reply or a delivery report of this gateway can carry. Open one to see what happened and how to fix it.",
    why: "Why did I get this?",
    sender: "I'm the sender: what do I do?",
    admin: "I'm the email admin: how do I fix this?",
    recipient: "I'm the email admin of the organisation the mail was for: a sender I know is throttled",
    back: "All codes",
    unknown: "There is no help page for this code.",
};

const FRENCH: Chrome = Chrome {
    index_title: "Aide de Sluice : codes d'état",
    index_intro: "Chaque code ci-dessous peut figurer dans une réponse ou un rapport de remise de cette passerelle. Ouvrez-en un pour savoir ce qui s'est passé et comment y remédier.",
    why: "Pourquoi ai-je reçu ce message ?",
    sender: "Je suis l'expéditeur : que dois-je faire ?",
    admin: "Je suis l'administrateur de messagerie : comment corriger cela ?",
    recipient: "Je suis l'administrateur de messagerie de l'organisation destinataire : un expéditeur que je connais est limité",
    back: "Tous les codes",
    unknown: "Il n'existe pas de page d'aide pour ce code.",
};

fn chrome(lang: Lang) -> &'static Chrome {
    match lang.tag() {
        "fr" => &FRENCH,
        _ => &ENGLISH,
    }
}

pub fn router() -> Router {
    Router::new().route("/help", get(index)).route("/help/{code}", get(page))
}

#[derive(Debug, Deserialize)]
struct LangParam {
    lang: Option<String>,
}

/// `?lang=` first, then the best `Accept-Language` entry Sluice has, then English.
pub fn choose_language(param: Option<&str>, accept_language: Option<&str>) -> Lang {
    if let Some(lang) = param.and_then(Lang::from_tag) {
        return lang;
    }
    let mut offers: Vec<(f32, &str)> = accept_language
        .unwrap_or("")
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (!tag.is_empty() && q > 0.0).then_some((q, tag))
        })
        .collect();
    offers.sort_by(|a, b| b.0.total_cmp(&a.0));
    offers.iter().find_map(|(_, tag)| Lang::from_tag(tag)).unwrap_or_else(Lang::fallback)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(lang: Lang, status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"{tag}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}code{{font-size:1.1em}}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        tag = lang.tag(),
        title = escape(title),
    );
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Ok(tag) = HeaderValue::from_str(lang.tag()) {
        headers.insert(header::CONTENT_LANGUAGE, tag);
    }
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    response
}

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

async fn index(Query(q): Query<LangParam>, headers: HeaderMap) -> Response {
    let lang = choose_language(q.lang.as_deref(), accept_language(&headers));
    let words = chrome(lang);
    let mut body =
        format!("<h1>{}</h1>\n<p>{}</p>\n<ul>\n", escape(words.index_title), escape(words.index_intro));
    for code in HELP_CODES {
        let title = bounce::help(code, lang).map(|h| h.title).unwrap_or_default();
        body.push_str(&format!(
            "<li><a href=\"/help/{code}?lang={tag}\"><code>{code}</code></a> {}</li>\n",
            escape(&title),
            tag = lang.tag()
        ));
    }
    body.push_str("</ul>\n");
    html(lang, StatusCode::OK, words.index_title, &body)
}

fn help_body(help: &HelpText, words: &Chrome, lang: Lang) -> String {
    let recipient = help.recipient_admin.as_ref().map_or(String::new(), |text| {
        format!("<h2>{}</h2>\n<p>{}</p>\n", escape(words.recipient), escape(text))
    });
    let body = format!(
        "<p><a href=\"/help?lang={tag}\">{back}</a></p>\n<h1><code>{code}</code> {title}</h1>\n<h2>{why_h}</h2>\n<p>{why}</p>\n<h2>{sender_h}</h2>\n<p>{sender}</p>\n<h2>{admin_h}</h2>\n<p>{admin}</p>\n",
        tag = lang.tag(),
        back = escape(words.back),
        code = help.code,
        title = escape(&help.title),
        why_h = escape(words.why),
        why = escape(&help.why),
        sender_h = escape(words.sender),
        sender = escape(&help.sender),
        admin_h = escape(words.admin),
        admin = escape(&help.admin),
    );
    body + &recipient
}

async fn page(Path(code): Path<String>, Query(q): Query<LangParam>, headers: HeaderMap) -> Response {
    let lang = choose_language(q.lang.as_deref(), accept_language(&headers));
    let words = chrome(lang);
    match bounce::help(&code, lang) {
        Some(help) => {
            let title = format!("{} {}", help.code, help.title);
            html(lang, StatusCode::OK, &title, &help_body(&help, words, lang))
        }
        None => {
            let body = format!(
                "<h1>{}</h1>\n<p><code>{}</code></p>\n<p><a href=\"/help?lang={}\">{}</a></p>\n",
                escape(words.unknown),
                escape(&code),
                lang.tag(),
                escape(words.back)
            );
            html(lang, StatusCode::NOT_FOUND, words.unknown, &body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_chosen_by_parameter_then_header() {
        assert_eq!(choose_language(Some("fr"), Some("en")).tag(), "fr");
        assert_eq!(choose_language(None, Some("de-DE, fr-CA;q=0.8, en;q=0.5")).tag(), "fr");
        assert_eq!(choose_language(None, Some("en;q=0.2, fr;q=0.9")).tag(), "fr");
        assert_eq!(choose_language(Some("xx"), None).tag(), "en");
        assert_eq!(choose_language(None, Some("fr;q=0")).tag(), "en");
    }

    #[test]
    fn throttling_pages_have_a_part_for_the_receiving_admin() {
        for lang in bounce::Lang::all() {
            let words = chrome(lang);
            let page = |code| help_body(&bounce::help(code, lang).expect("page"), words, lang);
            let throttled = page("AS501");
            assert!(throttled.contains(&format!("<h2>{}</h2>", escape(words.recipient))), "{throttled}");
            assert!(!page("5.1.1").contains(&escape(words.recipient)), "only the throttling pages");
        }
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
