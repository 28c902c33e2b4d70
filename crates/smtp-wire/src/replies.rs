//! The fixed replies of the SMTP server, in one place so that every text is reviewed
//! together and covered by the transcript tests.

use crate::command::ForeignProtocol;
use crate::reply::{Reply, code};
use std::net::IpAddr;

pub fn greeting(hostname: &str) -> Reply {
    Reply::plain(220, vec![format!("{hostname} ESMTP Sluice")])
}

pub fn ok() -> Reply {
    Reply::new(250, code(2, 0, 0), "Ok")
}

pub fn sender_ok() -> Reply {
    Reply::new(250, code(2, 1, 0), "Ok")
}

pub fn recipient_ok() -> Reply {
    Reply::new(250, code(2, 1, 5), "Ok")
}

pub fn start_data() -> Reply {
    Reply::plain(354, vec!["End data with <CR><LF>.<CR><LF>".into()])
}

pub fn queued(id: &str) -> Reply {
    Reply::new(250, code(2, 0, 0), format!("Ok: queued as {id}"))
}

pub fn bye() -> Reply {
    Reply::new(221, code(2, 0, 0), "Bye")
}

pub fn ready_to_start_tls() -> Reply {
    Reply::new(220, code(2, 0, 0), "Ready to start TLS")
}

pub fn help() -> Reply {
    Reply {
        code: 214,
        enhanced: Some(code(2, 0, 0)),
        lines: vec![
            "Sluice SMTP gateway. Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT STARTTLS VRFY HELP"
                .into(),
            "RFC 5321 describes the protocol; this server supports the ESMTP extensions listed by EHLO"
                .into(),
        ],
    }
}

pub fn vrfy_disabled() -> Reply {
    Reply::new(252, code(2, 5, 0), "VRFY is disabled; send the message and delivery will be attempted")
}

pub fn expn_disabled() -> Reply {
    Reply::new(502, code(5, 5, 1), "EXPN is disabled")
}

pub fn auth_not_offered() -> Reply {
    Reply::new(502, code(5, 5, 1), "AUTH is not offered by this server")
}

pub fn bdat_not_offered() -> Reply {
    Reply::new(502, code(5, 5, 1), "BDAT is not supported: CHUNKING is not offered, use DATA")
}

pub fn starttls_not_offered() -> Reply {
    Reply::new(502, code(5, 5, 1), "STARTTLS is not offered by this server")
}

pub fn already_tls() -> Reply {
    Reply::new(503, code(5, 5, 1), "Already using TLS")
}

pub fn need_helo() -> Reply {
    Reply::new(503, code(5, 5, 1), "Send EHLO or HELO first")
}

pub fn nested_mail() -> Reply {
    Reply::new(503, code(5, 5, 1), "Nested MAIL command: send RSET or finish the current message first")
}

pub fn need_mail() -> Reply {
    Reply::new(503, code(5, 5, 1), "Send MAIL FROM first")
}

pub fn no_valid_recipients() -> Reply {
    Reply::new(554, code(5, 5, 1), "No valid recipients")
}

pub fn parameters_need_ehlo() -> Reply {
    Reply::new(555, code(5, 5, 4), "ESMTP parameters are not allowed after HELO; use EHLO")
}

pub fn too_many_recipients(max: usize) -> Reply {
    Reply::new(
        452,
        code(4, 5, 3),
        format!("Too many recipients: at most {max} per message, send the rest in another message"),
    )
}

pub fn message_too_big(max: usize) -> Reply {
    Reply::new(552, code(5, 3, 4), format!("Message size exceeds the fixed maximum of {max} bytes"))
}

pub fn utf8_needs_smtputf8() -> Reply {
    Reply::new(553, code(5, 6, 7), "Non-ASCII address requires the SMTPUTF8 parameter on MAIL FROM")
}

pub fn bare_line_ending() -> Reply {
    Reply::new(
        554,
        code(5, 6, 0),
        "Message refused: bare LF or CR in content; lines must end with CRLF (RFC 5321 2.3.8)",
    )
}

pub fn nul_in_content() -> Reply {
    Reply::new(
        554,
        code(5, 6, 0),
        "Message refused: NUL byte in content; send binary data encoded (base64 or quoted-printable)",
    )
}

/// A cross-protocol request: answered like Postfix's forbidden commands, then closed.
pub fn foreign_protocol(protocol: ForeignProtocol) -> Reply {
    let text = match protocol {
        ForeignProtocol::Http => {
            "Protocol error: this is an SMTP server, HTTP requests are refused; closing connection"
        }
        ForeignProtocol::Tls => {
            "Protocol error: TLS handshake without STARTTLS; send EHLO, then STARTTLS; closing connection"
        }
    };
    Reply::new(554, code(5, 7, 0), text)
}

pub fn line_too_long(max: usize) -> Reply {
    Reply::new(500, code(5, 5, 2), format!("Syntax error: command line longer than {max} bytes"))
}

pub fn bare_line_ending_in_command() -> Reply {
    Reply::new(500, code(5, 5, 2), "Syntax error: command lines must end with CRLF (bare LF or CR received)")
}

pub fn too_many_errors() -> Reply {
    Reply::new(421, code(4, 7, 0), "Too many errors in this session, closing connection")
}

pub fn too_many_junk_commands() -> Reply {
    Reply::new(421, code(4, 7, 0), "Too many commands without sending mail, closing connection")
}

pub fn pregreet() -> Reply {
    Reply::new(554, code(5, 5, 1), "Protocol error: client sent data before the greeting")
}

/// A trusted load balancer's connection that did not start with a valid PROXY header.
pub fn proxy_header_expected() -> Reply {
    Reply::new(
        421,
        code(4, 7, 0),
        "PROXY protocol header expected from this load balancer, closing connection",
    )
}

/// A PROXY header from an address that is not a trusted load balancer.
pub fn proxy_header_untrusted(ip: IpAddr) -> Reply {
    Reply::new(
        554,
        code(5, 7, 0),
        format!("PROXY protocol header from [{ip}], which is not a trusted load balancer of this server"),
    )
}

pub fn timeout(hostname: &str) -> Reply {
    Reply::new(421, code(4, 4, 2), format!("{hostname} Timeout exceeded, closing connection"))
}

pub fn too_many_connections() -> Reply {
    Reply::new(421, code(4, 7, 0), "Too many connections to this server, try again later")
}

pub fn too_many_connections_from(ip: IpAddr) -> Reply {
    Reply::new(421, code(4, 7, 0), format!("Too many connections from [{ip}], try again later"))
}

/// `network` is a CIDR such as `2001:db8:1:2::/64`.
pub fn too_many_connections_from_network(network: &str) -> Reply {
    Reply::new(
        421,
        code(4, 7, 0),
        format!("Too many connections from your network {network}, try again later"),
    )
}

pub fn shutting_down(hostname: &str) -> Reply {
    Reply::new(421, code(4, 3, 2), format!("{hostname} Service shutting down, try again later"))
}

/// The memory budget of DATA transfers is used up: the client should come back later.
pub fn data_memory_exhausted() -> Reply {
    Reply::new(
        452,
        code(4, 3, 1),
        "Insufficient system resources: too many messages are being received now, try again later",
    )
}

/// The session has lasted its whole allowed time; the client reconnects to go on.
pub fn session_too_long(hostname: &str) -> Reply {
    Reply::new(421, code(4, 4, 2), format!("{hostname} Session time limit exceeded, closing connection"))
}

/// The tenant directory cannot be trusted now: a refusal decided from it would be wrong for
/// good, so the client is told to come back.
pub fn directory_unavailable() -> Reply {
    Reply::new(
        451,
        code(4, 3, 0),
        "Temporary failure: the directory of this server's domains is unavailable, try again later",
    )
}

pub fn spool_unavailable() -> Reply {
    Reply::new(451, code(4, 3, 0), "Temporary failure: the message could not be stored, try again later")
}

pub fn relay_denied(domain: &str) -> Reply {
    Reply::new(
        550,
        code(5, 7, 1),
        format!("Relay access denied: this server does not accept mail for {domain}"),
    )
}

pub fn unknown_user(address: &str) -> Reply {
    Reply::new(550, code(5, 1, 1), format!("Recipient address rejected: <{address}> does not exist here"))
}
