//! The DATA receiver: finds the end of message content, undoes dot-stuffing and enforces
//! the size limit, fed any split of the input.
//!
//! SMTP smuggling defence: the only end-of-data sequence is `<CRLF>.<CRLF>` where both
//! line ends are real CRLFs (RFC 5321 4.1.1.4). A bare LF or bare CR anywhere in the
//! content (`\n.\n`, `\r.\r`, `\r\n.\r`, `\n.\r\n`, ...) never ends the message, in either
//! [`BareNewline`] mode: [`BareNewline::Reject`] refuses the whole message,
//! [`BareNewline::Normalize`] turns each bare line ending into CRLF, so the stored content
//! holds only CRLF line ends and a look-alike terminator becomes an ordinary `.` line (which
//! the SMTP client dot-stuffs when the message is relayed). Either way no second message can
//! hide behind a non-standard terminator here, nor at a server the content is relayed to
//! that reads terminators loosely. A NUL byte refuses the message in both modes: a next hop
//! that drops NULs could otherwise see a terminator Sluice did not (`\r\n\0.\r\n`).

/// What the receiver does with a CR not followed by LF or an LF not preceded by CR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BareNewline {
    /// Refuse the message (`554 5.6.0`): the safe default.
    #[default]
    Reject,
    /// Accept it as a line end and store CRLF instead (Postfix 3.9's
    /// `smtpd_forbid_bare_newline = normalize`), for sites whose legitimate senders are broken.
    /// Commands ended by a bare LF are accepted too. Only `<CRLF>.<CRLF>` ends the data.
    Normalize,
}

/// Why received content cannot be accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContentProblem {
    /// A CR not followed by LF, or an LF not preceded by CR ([`BareNewline::Reject`]).
    BareLineEnding,
    /// A NUL byte.
    Nul,
    /// More than the configured maximum size arrived.
    TooLarge,
}

/// Result of feeding input to the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// All input was consumed; more is needed.
    NeedMore,
    /// The end-of-data line ended after `consumed` bytes of this input; the rest belongs to
    /// the commands that follow.
    Complete { consumed: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a line after a real CRLF (or at the start of content): a `.` here
    /// may begin the terminator.
    LineStart,
    /// At the start of a line after a normalised bare line ending: a `.` here is unstuffed
    /// but never begins the terminator.
    SoftLineStart,
    /// Inside a line.
    Text,
    /// Just after a CR inside a line.
    Cr,
    /// A line that so far is a single `.` after a real CRLF.
    Dot,
    /// A line that so far is `.` then CR after a real CRLF.
    DotCr,
    /// A line that so far is a single `.` after a normalised line ending.
    SoftDot,
}

/// Receives one message's content. Create one per DATA command.
///
/// The content is handed over in pieces: [`DataReceiver::take_content`] takes what has
/// accumulated so far, [`DataReceiver::finish`] the rest, so a large message never has to
/// be held whole. Once the content is known to be refused (too large, a NUL, a bare line
/// end that is not normalised) nothing more accumulates: the rest is only parsed for the
/// end of data.
#[derive(Debug)]
pub struct DataReceiver {
    state: State,
    /// Content not yet taken.
    content: Vec<u8>,
    /// Content kept so far, taken or not.
    kept_bytes: u64,
    size_max: usize,
    bare_newline: BareNewline,
    received_bytes: u64,
    problem: Option<ContentProblem>,
}

/// The buffer a receiver starts with (and after each take): small messages need no
/// reallocation, large ones are taken in pieces of about this size.
const BUFFER_BYTES: usize = 64 * 1024;

impl DataReceiver {
    pub fn new(size_max: usize, bare_newline: BareNewline) -> DataReceiver {
        DataReceiver {
            state: State::LineStart,
            content: Vec::with_capacity(size_max.min(BUFFER_BYTES)),
            kept_bytes: 0,
            size_max,
            bare_newline,
            received_bytes: 0,
            problem: None,
        }
    }

    /// Bytes of content kept so far (after unstuffing), taken or not.
    pub fn len(&self) -> usize {
        usize::try_from(self.kept_bytes).unwrap_or(usize::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.kept_bytes == 0
    }

    /// Bytes of content accumulated since the last take.
    pub fn buffered(&self) -> usize {
        self.content.len()
    }

    /// The content accumulated since the last take, in order.
    pub fn take_content(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.content, Vec::with_capacity(self.size_max.min(BUFFER_BYTES)))
    }

    /// Bytes received on the wire for this message so far.
    pub fn received_bytes(&self) -> u64 {
        self.received_bytes
    }

    /// Feeds input; see [`Progress`].
    pub fn feed(&mut self, input: &[u8]) -> Progress {
        for (i, &b) in input.iter().enumerate() {
            if self.step(b) {
                self.received_bytes += (i + 1) as u64;
                return Progress::Complete { consumed: i + 1 };
            }
        }
        self.received_bytes += input.len() as u64;
        Progress::NeedMore
    }

    /// The outcome once [`Progress::Complete`] was returned: the content not taken yet.
    pub fn finish(self) -> Result<Vec<u8>, ContentProblem> {
        match self.problem {
            Some(p) => Err(p),
            None => Ok(self.content),
        }
    }

    /// Advances by one byte; returns true at the end of data.
    fn step(&mut self, b: u8) -> bool {
        match (self.state, b) {
            (State::LineStart, b'.') => self.state = State::Dot,
            (State::SoftLineStart, b'.') => self.state = State::SoftDot,
            (State::Dot, b'\r') => self.state = State::DotCr,
            (State::DotCr, b'\n') => return true,
            (State::DotCr, other) => {
                // `.` CR then something else: a `.` line ended by a bare CR.
                self.push(b'.');
                self.push(b'\r');
                self.content_bare_cr();
                return self.step(other);
            }
            (State::Dot | State::SoftDot, b'\r' | b'\n') => {
                // A `.` line that cannot end the data: content, like any other line.
                self.push(b'.');
                self.resume_text(b);
            }
            // Dot-stuffed line: the leading dot is dropped (RFC 5321 4.5.2).
            (State::Dot | State::SoftDot, other) => self.resume_text(other),
            (State::Cr, b'\n') => {
                self.push(b'\n');
                self.state = State::LineStart;
            }
            (State::Cr, other) => {
                // The CR before was bare (already kept as content).
                self.content_bare_cr();
                return self.step(other);
            }
            (State::LineStart | State::SoftLineStart | State::Text, other) => self.resume_text(other),
        }
        false
    }

    /// Handles a byte as ordinary line content.
    fn resume_text(&mut self, b: u8) {
        match b {
            b'\r' => {
                self.push(b'\r');
                self.state = State::Cr;
            }
            b'\n' => self.bare_line_end(),
            0 => {
                // Never stored, never forwarded.
                self.flag(ContentProblem::Nul);
                self.state = State::Text;
            }
            other => {
                self.push(other);
                self.state = State::Text;
            }
        }
    }

    /// A bare LF: CRLF when normalising, else a refusal. Either way the next line can never
    /// begin the terminator.
    fn bare_line_end(&mut self) {
        match self.bare_newline {
            BareNewline::Reject => {
                self.flag(ContentProblem::BareLineEnding);
                self.push(b'\n');
                self.state = State::Text;
            }
            BareNewline::Normalize => {
                self.push(b'\r');
                self.push(b'\n');
                self.state = State::SoftLineStart;
            }
        }
    }

    /// The CR just kept as content turned out to be bare: completed to CRLF when normalising,
    /// else a refusal. Either way the next line can never begin the terminator.
    fn content_bare_cr(&mut self) {
        match self.bare_newline {
            BareNewline::Reject => {
                self.flag(ContentProblem::BareLineEnding);
                self.state = State::Text;
            }
            BareNewline::Normalize => {
                self.push(b'\n');
                self.state = State::SoftLineStart;
            }
        }
    }

    /// Keeps a byte of content: counted always (so the size limit is found whatever else
    /// is wrong), stored only while the content may still be accepted.
    fn push(&mut self, b: u8) {
        if self.kept_bytes >= self.size_max as u64 {
            return self.flag(ContentProblem::TooLarge);
        }
        self.kept_bytes += 1;
        if self.problem.is_none() {
            self.content.push(b);
        }
    }

    /// The most useful reply wins when several problems apply: size, then NUL, then bare
    /// line endings.
    fn flag(&mut self, problem: ContentProblem) {
        if self.problem.is_none_or(|p| p < problem) {
            self.problem = Some(problem);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_in(mode: BareNewline, input: &[u8]) -> (Progress, Result<Vec<u8>, ContentProblem>) {
        let mut r = DataReceiver::new(1 << 20, mode);
        let p = r.feed(input);
        (p, r.finish())
    }

    fn run(input: &[u8]) -> (Progress, Result<Vec<u8>, ContentProblem>) {
        run_in(BareNewline::Reject, input)
    }

    #[test]
    fn plain_message_and_remainder() {
        let input = b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n";
        let (p, content) = run(input);
        assert_eq!(p, Progress::Complete { consumed: input.len() - 6 });
        assert_eq!(content.unwrap(), b"Subject: x\r\n\r\nbody\r\n");
    }

    #[test]
    fn empty_message() {
        let (p, content) = run(b".\r\n");
        assert_eq!(p, Progress::Complete { consumed: 3 });
        assert_eq!(content.unwrap(), b"");
    }

    #[test]
    fn dot_unstuffing() {
        let (_, content) = run(b"..leading\r\n...\r\n.\r\n");
        assert_eq!(content.unwrap(), b".leading\r\n..\r\n");
    }

    #[test]
    fn byte_at_a_time_equals_whole() {
        let input = b"a\r\n..b\r\n\r\n.\r\n";
        let mut r = DataReceiver::new(1 << 20, BareNewline::Reject);
        let mut done = None;
        for (i, b) in input.iter().enumerate() {
            if let Progress::Complete { consumed } = r.feed(std::slice::from_ref(b)) {
                assert_eq!(consumed, 1);
                done = Some(i);
                break;
            }
        }
        assert_eq!(done, Some(input.len() - 1));
        assert_eq!(r.finish().unwrap(), b"a\r\n.b\r\n\r\n");
    }

    #[test]
    fn smuggling_terminators_never_end_the_message() {
        for hidden in [&b"\n.\n"[..], b"\r.\r", b"\r\n.\r", b"\n.\r\n", b"\r.\r\n", b"\n.\r"] {
            let mut input = b"Subject: a\r\n\r\nfirst".to_vec();
            input.extend_from_slice(hidden);
            input.extend_from_slice(
                b"MAIL FROM:<x@evil.test>\r\nRCPT TO:<y@example.test>\r\nDATA\r\nsmuggled\r\n",
            );
            let mut r = DataReceiver::new(1 << 20, BareNewline::Reject);
            assert_eq!(r.feed(&input), Progress::NeedMore, "{hidden:?} ended the data");
            assert_eq!(r.feed(b".\r\n"), Progress::Complete { consumed: 3 });
            assert_eq!(r.finish(), Err(ContentProblem::BareLineEnding), "{hidden:?}");
        }
    }

    fn normalized(input: &[u8]) -> (Progress, Result<Vec<u8>, ContentProblem>) {
        run_in(BareNewline::Normalize, input)
    }

    #[test]
    fn smuggling_terminators_never_end_the_message_when_normalising() {
        for (hidden, stored) in [
            (&b"\n.\n"[..], &b"\r\n.\r\n"[..]),
            (b"\r.\r", b"\r\n.\r\n"),
            (b"\r\n.\r", b"\r\n.\r\n"),
            (b"\n.\r\n", b"\r\n.\r\n"),
            (b"\r.\r\n", b"\r\n.\r\n"),
            (b"\n.\r", b"\r\n.\r\n"),
            (b"\r\n.\n", b"\r\n.\r\n"),
        ] {
            let mut input = b"Subject: a\r\n\r\nfirst".to_vec();
            input.extend_from_slice(hidden);
            input.extend_from_slice(b"MAIL FROM:<x@evil.test>\r\n");
            let mut r = DataReceiver::new(1 << 20, BareNewline::Normalize);
            assert_eq!(r.feed(&input), Progress::NeedMore, "{hidden:?} ended the data");
            assert_eq!(r.feed(b".\r\n"), Progress::Complete { consumed: 3 });
            let mut want = b"Subject: a\r\n\r\nfirst".to_vec();
            want.extend_from_slice(stored);
            want.extend_from_slice(b"MAIL FROM:<x@evil.test>\r\n");
            assert_eq!(r.finish(), Ok(want), "{hidden:?}");
        }
    }

    #[test]
    fn normalising_stores_crlf_and_unstuffs_after_bare_line_ends() {
        let (p, content) = normalized(b"a\nb\rc\r\r\n..d\n..e\r\n.\r\n");
        assert_eq!(p, Progress::Complete { consumed: 20 });
        assert_eq!(content.unwrap(), b"a\r\nb\r\nc\r\n\r\n.d\r\n.e\r\n");
    }

    #[test]
    fn a_dot_line_after_a_real_crlf_following_a_bare_one_ends_the_data() {
        // `\r\n.\r\n` is there literally: every reader ends the data at the same place.
        let (p, content) = normalized(b"a\n\r\n.\r\nQUIT\r\n");
        assert_eq!(p, Progress::Complete { consumed: 7 });
        assert_eq!(content.unwrap(), b"a\r\n\r\n");
    }

    #[test]
    fn nul_refuses_the_message_in_both_modes_and_is_never_stored() {
        for mode in [BareNewline::Reject, BareNewline::Normalize] {
            let mut r = DataReceiver::new(1 << 20, mode);
            assert_eq!(r.feed(b"a\r\n\0.\r\nb\r\n.\r\n"), Progress::Complete { consumed: 13 });
            assert!(!r.content.contains(&0), "{mode:?}");
            assert_eq!(r.finish(), Err(ContentProblem::Nul), "{mode:?}");
        }
    }

    #[test]
    fn size_outranks_nul_which_outranks_bare_line_ends() {
        let mut r = DataReceiver::new(4, BareNewline::Reject);
        assert_eq!(r.feed(b"a\n\0bcdef\r\n.\r\n"), Progress::Complete { consumed: 13 });
        assert_eq!(r.finish(), Err(ContentProblem::TooLarge));
        let mut r = DataReceiver::new(100, BareNewline::Reject);
        assert_eq!(r.feed(b"a\n\0b\r\n.\r\n"), Progress::Complete { consumed: 9 });
        assert_eq!(r.finish(), Err(ContentProblem::Nul));
    }

    #[test]
    fn size_limit_keeps_reading_to_the_end() {
        let mut r = DataReceiver::new(10, BareNewline::Reject);
        assert_eq!(r.feed(b"0123456789abcdef\r\n"), Progress::NeedMore);
        assert_eq!(r.feed(b".\r\n"), Progress::Complete { consumed: 3 });
        assert_eq!(r.len(), 10);
        assert_eq!(r.finish(), Err(ContentProblem::TooLarge));
    }

    /// Taken in pieces or whole, the content is the same, and a piece taken holds what
    /// arrived since the previous one.
    #[test]
    fn content_taken_in_pieces_is_the_whole_content() {
        let input = b"Subject: x\r\n\r\n..line one\r\nline two\r\n.\r\n";
        let (_, whole) = run(input);
        let mut r = DataReceiver::new(1 << 20, BareNewline::Reject);
        let mut pieces = Vec::new();
        for chunk in input.chunks(7) {
            let progress = r.feed(chunk);
            pieces.push(r.take_content());
            if progress != Progress::NeedMore {
                break;
            }
        }
        assert_eq!(r.buffered(), 0);
        let mut joined: Vec<u8> = pieces.concat();
        joined.extend(r.finish().expect("accepted"));
        assert_eq!(joined, whole.expect("accepted"));
        assert!(pieces.iter().filter(|p| !p.is_empty()).count() > 3, "taken as it came");
    }

    /// Once the content is refused, nothing more accumulates (it would only be thrown away).
    #[test]
    fn refused_content_stops_accumulating() {
        let mut r = DataReceiver::new(1 << 20, BareNewline::Reject);
        assert_eq!(r.feed(b"a\0b"), Progress::NeedMore);
        let before = r.buffered();
        assert_eq!(r.feed(&[b'x'; 10_000]), Progress::NeedMore);
        assert_eq!(r.buffered(), before);
        assert_eq!(r.len(), 10_002, "still counted for the size limit");
    }

    #[test]
    fn exact_size_fits() {
        let mut r = DataReceiver::new(5, BareNewline::Reject);
        assert_eq!(r.feed(b"abc\r\n.\r\n"), Progress::Complete { consumed: 8 });
        assert_eq!(r.finish().unwrap(), b"abc\r\n");
    }
}
