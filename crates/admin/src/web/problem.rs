//! A refused value in the admin's words. The operations name fields as the API does
//! (`connector.add_ip`) and give the validator's reason in English; a page shows the
//! field's label, the value and the reason in the page's language ("IP range 10.0.0.0/33
//! is not valid: a prefix length for IPv4 is at most 32"). A reason this table does not
//! know is shown as the server wrote it, marked as English.

use maud::{Markup, html};

use super::i18n::{Words, fill};
use crate::error::AdminError;

/// The label of an operation's field (`connector.add_ip` is an IP range).
pub fn label(w: &Words, field: &str) -> &'static str {
    let (object, key) = field.split_once('.').unwrap_or(("", field));
    let key = key.strip_prefix("add_").or_else(|| key.strip_prefix("remove_")).unwrap_or(key);
    match (object, key) {
        (_, "ip" | "cidr") => w.f_ip,
        (_, "certificate_name") => w.f_cert,
        (_, "sender_domain" | "restrict_sender_domain") => w.f_sender_domain,
        (_, "restrict_sender_domains") => w.f_restrict,
        (_, "recipient_domain") => w.f_recipient_domain,
        (_, "smart_host") => w.f_smart_host,
        (_, "tls") => w.f_tls,
        (_, "tls_domain") => w.f_tls_domain,
        ("connector", "name") => w.f_connector_name,
        ("connector", "kind") => w.f_connector_kind,
        ("connector", "direction") => w.f_direction,
        ("domain", "name") => w.f_domain,
        (_, "justification") => w.f_justification,
        (_, "note") => w.f_note,
        (_, "since" | "until") => w.f_date,
        (_, "address" | "sender" | "recipient") => w.f_address,
        (_, "recipients") => w.q_recipients,
        _ => w.f_value,
    }
}

/// Reasons given word for word by the validators, in the admin's words.
fn fixed(w: &Words, reason: &str) -> Option<&'static str> {
    let table = [
        ("not an IPv4 or IPv6 address", w.r_not_ip),
        ("expected an IPv4 or IPv6 address", w.r_not_ip),
        ("the prefix length after / is not a number", w.r_prefix_nan),
        ("listed twice", w.r_twice),
        ("not listed", w.r_not_listed),
        ("already listed", w.r_already_listed),
        ("the port must be 1 to 65535", w.r_port),
        ("empty", w.r_empty),
        ("must not be empty", w.r_empty),
        ("control characters are not allowed", w.r_control),
        ("an IP address is not a domain name", w.r_ip_not_domain),
        ("not a valid internationalised domain name (IDNA 2008 / UTS #46)", w.r_idna),
        ("needs at least two labels (e.g. example.com)", w.r_two_labels),
        ("the top-level label cannot be numeric", w.r_numeric_top),
        ("empty label (two dots in a row, or a leading dot)", w.r_empty_label),
        ("only the left-most label may be `*`", w.r_wildcard_left),
        ("a wildcard must be a whole left-most label, as in *.mail.example.com", w.r_wildcard_whole),
        ("must be 1 to 64 characters without control characters", w.r_connector_name),
        (
            "an on-premises connector may relay to any domain, so it must be recognised by IP ranges or a certificate name",
            w.r_on_premises,
        ),
        (
            "give IP ranges, certificate names or (partner) sender domains to recognise the connector",
            w.r_identify,
        ),
        ("restricting sender domains needs sender domains and IP ranges or a certificate name", w.r_restrict),
        ("a smart-host route needs at least one host (or route by MX instead)", w.r_smart_host_needed),
        ("verify-domain needs the domain the certificate must be valid for", w.r_tls_domain_needed),
        ("expected opportunistic, required, verify-certificate or verify-domain", w.r_tls_mode),
        ("expected partner or on-premises", w.r_connector_kind),
        ("choose where mail comes from and goes to", w.r_direction),
        ("expected Unix seconds or an age such as 2h or 7d", w.r_date),
    ];
    table.iter().find(|(text, _)| *text == reason).map(|(_, words)| *words)
}

/// Reasons that carry a value (`prefix length 33 is longer than 32`).
fn with_values(w: &Words, reason: &str) -> Option<String> {
    if let Some((len, max)) =
        reason.strip_prefix("prefix length ").and_then(|r| r.split_once(" is longer than "))
    {
        let family = if max == "32" { "IPv4" } else { "IPv6" };
        return len.parse::<u8>().is_ok().then(|| fill(w.r_prefix_max, &[&family, &max]));
    }
    if let Some(network) = reason.strip_prefix("host bits are set; the network is ") {
        return Some(fill(w.r_host_bits, &[&network]));
    }
    if let Some((family, min)) = reason
        .strip_prefix("too broad: an ")
        .and_then(|r| r.strip_suffix(" or longer"))
        .and_then(|r| r.split_once(" range must be /"))
    {
        return Some(fill(w.r_too_broad, &[&family, &min]));
    }
    if let Some(max) = reason.strip_prefix("at most ").and_then(|r| r.strip_suffix(" allowed")) {
        return Some(fill(w.r_at_most, &[&max]));
    }
    if let Some(max) = reason.strip_prefix("longer than ").and_then(|r| r.strip_suffix(" characters")) {
        return Some(fill(w.r_longer_than, &[&max]));
    }
    if reason.starts_with("only verify-domain takes a domain") {
        return Some(w.r_tls_domain_only.to_string());
    }
    let (label, rest) = reason.strip_prefix("label ")?.split_once("\" ")?;
    let label = format!("{label}\"");
    if let Some(max) = rest.strip_prefix("is longer than ").and_then(|r| r.strip_suffix(" characters")) {
        return Some(fill(w.r_label_long, &[&label, &max]));
    }
    let template = match rest {
        "may hold only letters, digits and hyphens" => w.r_label_chars,
        "cannot start or end with a hyphen" => w.r_label_hyphen,
        "is an empty punycode label" => w.r_punycode,
        _ => return None,
    };
    Some(fill(template, &[&label]))
}

/// The reason in the admin's words, when this table knows it.
pub fn reason(w: &Words, reason: &str) -> Option<String> {
    fixed(w, reason).map(str::to_string).or_else(|| with_values(w, reason))
}

/// The message less its `invalid <field>:` opening (the label says which field).
fn without_field(error: &AdminError) -> &str {
    let field = error.field.as_deref().unwrap_or("");
    let message = error.message.as_str();
    message
        .strip_prefix("invalid ")
        .and_then(|m| m.strip_prefix(field))
        .map_or(message, |m| m.trim_start_matches(':').trim_start())
}

/// What is wrong with the field `error` is about, for the text under it.
pub fn describe(w: &Words, error: &AdminError) -> Markup {
    let field = label(w, error.field.as_deref().unwrap_or(""));
    let Some(p) = &error.problem else {
        return html! { (fill(w.bad_field_plain, &[&field])) " " span lang="en" { (without_field(error)) } };
    };
    let value = p.value.trim();
    match (reason(w, &p.reason), value.is_empty()) {
        (Some(why), false) => html! { (fill(w.bad_value, &[&field, &value, &why])) },
        (Some(why), true) => html! { (fill(w.bad_field, &[&field, &why])) },
        (None, false) => html! { (fill(w.bad_value, &[&field, &value, &""])) span lang="en" { (p.reason) } },
        (None, true) => html! { (fill(w.bad_field, &[&field, &""])) span lang="en" { (p.reason) } },
    }
}

#[cfg(test)]
mod tests {
    use directory::{CertName, Cidr, Connector, ConnectorKind, DomainName, NextHop, TenantId};

    use super::*;
    use crate::web::i18n::{EN, FR};

    fn error(e: directory::DirectoryError) -> AdminError {
        AdminError::from(e)
    }

    fn text(w: &Words, e: &AdminError) -> String {
        describe(w, e).into_string()
    }

    /// Real refusals of the directory's validators, each put in words in both languages
    /// (nothing left in the validator's English).
    #[test]
    fn the_validators_reasons_are_in_the_admins_words() {
        let on_premises = {
            let tenant = TenantId::parse("acme").expect("tenant");
            Connector::new(tenant, "own", ConnectorKind::OnPremises).validate().expect_err("no ranges")
        };
        let cases: Vec<(AdminError, &str, &str)> = vec![
            (
                error(Cidr::parse("connector.add_ip", "10.0.0.0/33").expect_err("/33")),
                "IP range 10.0.0.0/33 is not valid: a prefix length for IPv4 is at most 32",
                "Plage d'adresses IP 10.0.0.0/33 non valable : une longueur de préfixe IPv4 vaut au plus 32",
            ),
            (
                error(Cidr::parse("connector.ip", "2001:db8::/200").expect_err("/200")),
                "a prefix length for IPv6 is at most 128",
                "une longueur de préfixe IPv6 vaut au plus 128",
            ),
            (
                error(Cidr::parse("connector.ip", "10.0.0.300").expect_err("octet")),
                "not an IPv4 or IPv6",
                "pas une adresse",
            ),
            (
                error(Cidr::parse("request.cidr", "10.0.0.1/x").expect_err("x")),
                "must be a number",
                "doit être un nombre",
            ),
            (
                error(Cidr::parse("connector.ip", "10.0.0.1/8").expect_err("host bits")),
                "the network is 10.0.0.0/8",
                "le réseau est 10.0.0.0/8",
            ),
            (
                error(DomainName::parse("domain.name", "not a domain!").expect_err("space")),
                "Domain not a domain! is not valid: ",
                "Domaine not a domain! non valable : ",
            ),
            (
                error(DomainName::parse("domain.name", "localhost").expect_err("one label")),
                "two parts",
                "deux parties",
            ),
            (
                error(DomainName::parse("domain.name", "a..b").expect_err("empty label")),
                "two dots",
                "deux points",
            ),
            (
                error(DomainName::parse("domain.name", "192.0.2.1").expect_err("ip")),
                "an IP address",
                "une adresse IP",
            ),
            (error(DomainName::parse("domain.name", "-a.example").expect_err("hyphen")), "hyphen", "tiret"),
            (error(CertName::parse("a.*.example").expect_err("star")), "wildcard", "joker"),
            (
                error(NextHop::parse("connector.smart_host", "mx.example:0", 25).expect_err("port")),
                "Smart host mx.example:0",
                "Hôte relais",
            ),
            (
                error(on_premises),
                "IP range: a connector from your own mail server",
                "Plage d'adresses IP : un connecteur depuis",
            ),
            (
                AdminError::invalid_value("connector.remove_ip", "192.0.2.0/24", "not listed"),
                "IP range 192.0.2.0/24 is not valid: it is not in the list",
                "n'est pas dans la liste",
            ),
        ];
        for (e, en, fr) in cases {
            let (in_en, in_fr) = (text(&EN, &e), text(&FR, &e));
            assert!(in_en.contains(en), "{e:?}: {in_en}");
            assert!(in_fr.contains(fr), "{e:?}: {in_fr}");
            for t in [&in_en, &in_fr] {
                assert!(
                    !t.contains("lang=\"en\"") && !t.contains("connector.") && !t.contains("domain.name"),
                    "{t}"
                );
            }
        }
    }

    #[test]
    fn an_unknown_reason_is_shown_as_english_under_the_fields_label() {
        let e = AdminError::invalid_value("connector.ip", "x", "a reason no table knows");
        let fr = text(&FR, &e);
        assert!(fr.starts_with("Plage d'adresses IP x non valable : <span lang=\"en\">a reason"), "{fr}");
        let plain = AdminError::invalid("quarantine.id", "invalid quarantine.id \"zz\": expected an id");
        assert!(
            text(&EN, &plain).starts_with("Value is not valid. <span lang=\"en\">"),
            "{}",
            text(&EN, &plain)
        );
    }
}
