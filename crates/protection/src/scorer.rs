//! Spam scoring: a trait so a deployment can plug in a real classifier, and a small
//! built-in heuristic.

/// Scores an outbound message. Called once per accepted message, outside any lock, with
/// the whole RFC 5322 message as queued. Must not panic on any input.
pub trait SpamScorer: Send + Sync + std::fmt::Debug {
    /// 0.0 ham .. 1.0 spam.
    fn score(&self, message: &[u8]) -> f32;
}

/// A deliberately simple scorer: a few rules with fixed weights, summed and capped at 1.0.
/// It catches crude spam; it is no match for a trained classifier and makes no claim to
/// be. The rules, on the header section and the first [`HeuristicScorer::BYTES_MAX`] bytes:
///
/// | rule | weight |
/// |---|---|
/// | each phrase of [`HeuristicScorer::PHRASES`] in the subject or body (case-insensitive), at most 3 | 0.2 each |
/// | subject of 8 letters or more, at least 80% of them capitals | 0.25 |
/// | subject with `!!`, `$$` or `€€` | 0.1 |
/// | no `Date:` header | 0.15 |
/// | no `Message-ID:` header | 0.15 |
/// | more than 10 links (`http://` or `https://`) | 0.2 |
///
/// So a message from a real mail client (which always adds `Date` and `Message-ID`) needs
/// three phrases, or two and a shouted subject, to reach the default `spam_score_min` 0.6.
/// Encoded words (`=?utf-8?...?=`) in the subject are not decoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeuristicScorer;

impl HeuristicScorer {
    /// How much of the message is read.
    pub const BYTES_MAX: usize = 64 * 1024;
    /// Phrases typical of crude spam and phishing, lower case.
    pub const PHRASES: &'static [&'static str] = &[
        "viagra",
        "lottery",
        "you have won",
        "claim your prize",
        "click here",
        "act now",
        "limited time offer",
        "100% free",
        "risk-free",
        "wire transfer",
        "dear friend",
        "verify your account",
        "your password has expired",
        "bitcoin investment",
        "work from home",
        "no credit check",
    ];
}

impl SpamScorer for HeuristicScorer {
    fn score(&self, message: &[u8]) -> f32 {
        let message = &message[..message.len().min(Self::BYTES_MAX)];
        let text = String::from_utf8_lossy(message).to_ascii_lowercase();
        let headers = Headers::of(message);
        let mut score = 0.0f32;
        let phrases = Self::PHRASES.iter().filter(|p| text.contains(*p)).count().min(3);
        score += 0.2 * phrases as f32;
        if let Some(subject) = &headers.subject {
            score += subject_score(subject);
        }
        if !headers.date {
            score += 0.15;
        }
        if !headers.message_id {
            score += 0.15;
        }
        if text.matches("http://").count() + text.matches("https://").count() > 10 {
            score += 0.2;
        }
        score.min(1.0)
    }
}

fn subject_score(subject: &str) -> f32 {
    let letters: Vec<char> = subject.chars().filter(|c| c.is_alphabetic()).collect();
    let capitals = letters.iter().filter(|c| c.is_uppercase()).count();
    let mut score = 0.0;
    if letters.len() >= 8 && capitals * 5 >= letters.len() * 4 {
        score += 0.25;
    }
    if ["!!", "$$", "€€"].iter().any(|s| subject.contains(s)) {
        score += 0.1;
    }
    score
}

/// The few header facts the rules need.
#[derive(Debug, Default)]
struct Headers {
    subject: Option<String>,
    date: bool,
    message_id: bool,
}

impl Headers {
    fn of(message: &[u8]) -> Headers {
        let mut h = Headers::default();
        let mut in_subject = false;
        for line in message.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break;
            }
            let line = String::from_utf8_lossy(line);
            if line.starts_with([' ', '\t']) {
                if in_subject && let Some(s) = h.subject.as_mut() {
                    s.push_str(&line);
                }
                continue;
            }
            // Split at the colon rather than slice by the trimmed name's length: trimming
            // removes Unicode spaces too, and a slice by that length can fall inside one.
            let (name, value) = line.split_once(':').unwrap_or((&line, ""));
            let name = name.trim();
            in_subject = name.eq_ignore_ascii_case("subject");
            if in_subject {
                h.subject = Some(value.to_string());
            }
            h.date |= name.eq_ignore_ascii_case("date");
            h.message_id |= name.eq_ignore_ascii_case("message-id");
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HAM: &str = "From: Ann <ann@acme.example>\r\nTo: bob@partner.example\r\nSubject: Minutes of Tuesday's meeting\r\n\
        Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@acme.example>\r\n\r\nHi Bob,\r\nattached are the minutes. \
        See https://acme.example/wiki for the agenda.\r\nAnn\r\n";

    #[test]
    fn ordinary_mail_scores_zero() {
        assert_eq!(HeuristicScorer.score(HAM.as_bytes()), 0.0);
    }

    #[test]
    fn each_rule_has_its_weight() {
        let s = |m: &str| (HeuristicScorer.score(m.as_bytes()) * 100.0).round() as u32;
        assert_eq!(s(&HAM.replace("Date:", "X-Date:")), 15);
        assert_eq!(s(&HAM.replace("Message-ID:", "X-Id:")), 15);
        assert_eq!(s(&HAM.replace("Minutes of Tuesday's meeting", "MINUTES OF TUESDAY'S MEETING")), 25);
        assert_eq!(s(&HAM.replace("Minutes of", "Minutes!! of")), 10);
        assert_eq!(s(&HAM.replace("Hi Bob", "Dear friend, click here")), 40);
        assert_eq!(s(&HAM.replace("Hi Bob", &"https://x.example ".repeat(11))), 20);
        // Folded subject lines are read whole.
        assert_eq!(s(&HAM.replace("Minutes of Tuesday's meeting", "MINUTES\r\n OF TUESDAY")), 25);
    }

    #[test]
    fn crude_spam_reaches_the_default_threshold() {
        let spam = "From: x@acme.example\r\nSubject: YOU HAVE WON THE LOTTERY!!\r\n\r\n\
            Dear friend, you have won. Click here to claim your prize: http://x.example\r\n";
        let score = HeuristicScorer.score(spam.as_bytes());
        assert_eq!(
            score, 1.0,
            "3 phrases 0.6 + capitals 0.25 + !! 0.1 + no Date 0.15 + no Message-ID 0.15, capped"
        );
        assert!(HeuristicScorer.score(b"") <= 1.0);
        assert!(HeuristicScorer.score(&[0xff; 100]) <= 1.0);
    }

    /// Found by the `protection` fuzz target: a header name after Unicode spaces (U+2002)
    /// made the subject be sliced inside a character, a panic.
    #[test]
    fn a_header_name_after_unicode_spaces_does_not_panic() {
        let input = "\u{2002}".repeat(6) + "Subject:Su\0[\u{2002}\u{2002}";
        assert!(HeuristicScorer.score(input.as_bytes()) <= 1.0);
        let subject = Headers::of("\u{2002}Subject: WIN!!\r\n\r\n".as_bytes()).subject;
        assert_eq!(subject.as_deref(), Some(" WIN!!"));
    }
}
