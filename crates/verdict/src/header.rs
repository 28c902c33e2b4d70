//! Header fields Sluice writes about a message, and the removal of ones it must not trust:
//! `Authentication-Results:` (RFC 8601) under the server's own name (its authserv-id), and
//! forged copies of it. RFC 8601 5: a border MTA removes headers that claim its
//! authserv-id, since only it may write them and a downstream reader trusts them.

use crate::auth::{AuthResults, RESULT_TEXT_BYTES_MAX, SpfScope};

/// Header section bytes searched for headers to remove; a longer header section is left as
/// it is beyond this point (the message is refused long before by any sane size limit on
/// headers, but the scan itself stays bounded).
pub const HEADER_SECTION_BYTES_MAX: usize = 1024 * 1024;

/// Keeps only what may stand in a header field value: printable ASCII and spaces (other
/// bytes become `?`), no parentheses (they would end a comment), at most
/// [`RESULT_TEXT_BYTES_MAX`] bytes.
pub fn sanitise(text: &str) -> String {
    text.chars()
        .take(RESULT_TEXT_BYTES_MAX)
        .map(|c| match c {
            '(' | ')' | '\\' => ' ',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// A `pvalue` (RFC 8601 2.2): a domain or `local@domain` whose characters are safe in a
/// token, else only the domain part (which always is, once sanitised).
fn pvalue(text: &str) -> String {
    let safe = |s: &str| {
        !s.is_empty()
            && s.len() <= RESULT_TEXT_BYTES_MAX
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._+=@".contains(&b))
            && s.bytes().filter(|b| *b == b'@').count() <= 1
    };
    if safe(text) {
        return text.to_string();
    }
    let domain = text.rsplit('@').next().unwrap_or("");
    if safe(domain) { domain.to_string() } else { "unknown".into() }
}

/// The `Authentication-Results:` header (with its CRLF) for `results`, under `authserv_id`
/// (the server's hostname), one method per folded line.
pub fn authentication_results(authserv_id: &str, results: &AuthResults) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(why) = &results.skipped {
        parts.push(format!("none ({})", sanitise(why)));
    } else {
        parts.push(spf_part(results));
        parts.extend(dkim_parts(results));
        parts.push(format!("arc={}", results.arc));
        parts.push(dmarc_part(results));
    }
    let mut header = format!("Authentication-Results: {}", pvalue(authserv_id));
    for part in parts {
        header.push_str(";\r\n\t");
        header.push_str(&part);
    }
    header.push_str("\r\n");
    header
}

fn spf_part(results: &AuthResults) -> String {
    let spf = &results.spf;
    let property = match spf.scope {
        SpfScope::MailFrom => "smtp.mailfrom",
        SpfScope::Helo => "smtp.helo",
    };
    format!("spf={} {property}={}", spf.result, pvalue(&spf.identity))
}

fn dkim_parts(results: &AuthResults) -> Vec<String> {
    if results.dkim.is_empty() {
        return vec!["dkim=none".into()];
    }
    results
        .dkim
        .iter()
        .map(|d| {
            let reason = d.reason.as_deref().map(|r| format!(" ({})", sanitise(r))).unwrap_or_default();
            let b = d.signature_prefix.chars().filter(|c| c.is_ascii_alphanumeric() || "+/".contains(*c));
            format!(
                "dkim={}{reason} header.d={} header.s={} header.b={}",
                d.result,
                pvalue(&d.domain),
                pvalue(&d.selector),
                b.take(8).collect::<String>()
            )
        })
        .collect()
}

fn dmarc_part(results: &AuthResults) -> String {
    let dmarc = &results.dmarc;
    let policy = dmarc.policy.map(|p| format!(" (p={p})")).unwrap_or_default();
    if dmarc.from_domain.is_empty() {
        return format!("dmarc={}{policy}", dmarc.result);
    }
    format!("dmarc={}{policy} header.from={}", dmarc.result, pvalue(&dmarc.from_domain))
}

/// The end of the header section: the offset of the blank line's first byte, or the
/// content's length when there is no body.
fn header_section_end(content: &[u8]) -> usize {
    let mut offset = 0;
    for line in content.split_inclusive(|b| *b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            return offset;
        }
        offset += line.len();
    }
    content.len()
}

/// Removes every header field (with its folded continuation lines) for which `remove`
/// says yes, given the field's name and its unfolded value. `None` when none matched, so
/// the caller keeps its bytes.
pub fn strip_headers(content: &[u8], remove: impl Fn(&str, &str) -> bool) -> Option<Vec<u8>> {
    let end = header_section_end(content).min(HEADER_SECTION_BYTES_MAX);
    let mut fields: Vec<(usize, usize)> = Vec::new();
    let mut offset = 0;
    for line in content[..end].split_inclusive(|b| *b == b'\n') {
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        match fields.last_mut() {
            Some(field) if continuation => field.1 = offset + line.len(),
            _ => fields.push((offset, offset + line.len())),
        }
        offset += line.len();
    }
    let doomed: Vec<(usize, usize)> = fields
        .into_iter()
        .filter(|&(start, stop)| {
            let text = String::from_utf8_lossy(&content[start..stop]);
            let Some((name, value)) = text.split_once(':') else { return false };
            let unfolded = value.replace(['\r', '\n'], "");
            remove(name.trim(), unfolded.trim())
        })
        .collect();
    if doomed.is_empty() {
        return None;
    }
    let mut kept = Vec::with_capacity(content.len());
    let mut from = 0;
    for (start, stop) in doomed {
        kept.extend_from_slice(&content[from..start]);
        from = stop;
    }
    kept.extend_from_slice(&content[from..]);
    Some(kept)
}

/// Removes `Authentication-Results:` headers whose authserv-id is `authserv_id` (any case,
/// with or without a version): from outside, such a header is forged. `None` when there
/// was none.
pub fn strip_forged_results(content: &[u8], authserv_id: &str) -> Option<Vec<u8>> {
    strip_headers(content, |name, value| {
        if !name.eq_ignore_ascii_case("Authentication-Results") {
            return false;
        }
        let id = value.split(';').next().unwrap_or("").split_whitespace().next().unwrap_or("");
        id.trim_end_matches('.').eq_ignore_ascii_case(authserv_id.trim_end_matches('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::*;

    fn results() -> AuthResults {
        AuthResults {
            spf: SpfCheck {
                result: SpfResult::Pass,
                scope: SpfScope::MailFrom,
                identity: "ann@partner.example".into(),
                domain: "partner.example".into(),
            },
            dkim: vec![DkimCheck {
                result: DkimResult::Fail,
                domain: "partner.example".into(),
                selector: "s1".into(),
                signature_prefix: "abcdEFGH1234".into(),
                reason: Some("body hash (bh=) mismatch\r\nX-Evil: 1".into()),
            }],
            arc: ArcResult::None,
            dmarc: DmarcCheck {
                result: DmarcResult::Pass,
                from_domain: "partner.example".into(),
                policy: Some(DmarcPolicy::Reject),
                spf_aligned: true,
                dkim_aligned: false,
            },
            skipped: None,
        }
    }

    #[test]
    fn the_header_names_each_method_on_its_own_line() {
        let header = authentication_results("mx.sluice.test", &results());
        assert_eq!(
            header,
            "Authentication-Results: mx.sluice.test;\r\n\tspf=pass smtp.mailfrom=ann@partner.example;\r\n\
             \tdkim=fail (body hash  bh=  mismatch??X-Evil: 1) header.d=partner.example header.s=s1 header.b=abcdEFGH;\r\n\
             \tarc=none;\r\n\tdmarc=pass (p=reject) header.from=partner.example\r\n"
        );
    }

    #[test]
    fn odd_identities_fall_back_to_their_domain() {
        let mut r = results();
        r.spf.identity = "\"a b\"@partner.example".into();
        let header = authentication_results("mx.sluice.test", &r);
        assert!(header.contains("smtp.mailfrom=partner.example;"), "{header}");
        r.skipped = Some("the lookups took longer than 5 s".into());
        assert_eq!(
            authentication_results("mx.sluice.test", &r),
            "Authentication-Results: mx.sluice.test;\r\n\tnone (the lookups took longer than 5 s)\r\n"
        );
    }

    #[test]
    fn forged_results_under_our_name_are_removed_and_others_kept() {
        let message = b"Authentication-Results: MX.sluice.test;\r\n\tdkim=pass header.d=bank.example\r\n\
            Authentication-Results: mx.sluice.test 1; spf=pass\r\n\
            Authentication-Results: mx.other.example; spf=fail\r\n\
            Subject: hi\r\n\r\nAuthentication-Results: mx.sluice.test; in the body\r\n";
        let kept = strip_forged_results(message, "mx.sluice.test").expect("two removed");
        assert_eq!(
            String::from_utf8(kept).unwrap(),
            "Authentication-Results: mx.other.example; spf=fail\r\nSubject: hi\r\n\r\n\
             Authentication-Results: mx.sluice.test; in the body\r\n"
        );
        assert_eq!(strip_forged_results(b"Subject: x\r\n\r\nbody", "mx.sluice.test"), None);
        assert_eq!(strip_forged_results(b"", "mx.sluice.test"), None);
    }
}
