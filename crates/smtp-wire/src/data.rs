//! The DATA receiver: finds the end of message content, undoes dot-stuffing and enforces
//! the size limit, fed any split of the input.
//!
//! SMTP smuggling defence: the only end-of-data sequence is `<CRLF>.<CRLF>` where both
//! line ends are real CRLFs (RFC 5321 4.1.1.4). A bare LF or bare CR anywhere in the
//! content (`\n.\n`, `\r.\r`, `\r\n.\r`, `\n.\r\n`, ...) never ends the message and marks it
//! for rejection, so a second message hidden behind a non-standard terminator cannot appear
//! here, nor when the content is relayed on to a server that reads terminators loosely.

/// Why received content cannot be accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentProblem {
    /// More than the configured maximum size arrived.
    TooLarge,
    /// A CR not followed by LF, or an LF not preceded by CR.
    BareLineEnding,
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
    /// At the start of a line (after a real CRLF, or at the start of content).
    LineStart,
    /// Inside a line.
    Text,
    /// Just after a CR inside a line.
    Cr,
    /// A line that so far is a single `.`.
    Dot,
    /// A line that so far is `.` then CR.
    DotCr,
}

/// Receives one message's content. Create one per DATA command.
#[derive(Debug)]
pub struct DataReceiver {
    state: State,
    content: Vec<u8>,
    size_max: usize,
    received_bytes: u64,
    problem: Option<ContentProblem>,
}

impl DataReceiver {
    pub fn new(size_max: usize) -> DataReceiver {
        DataReceiver {
            state: State::LineStart,
            content: Vec::with_capacity(size_max.min(64 * 1024)),
            size_max,
            received_bytes: 0,
            problem: None,
        }
    }

    /// Bytes of content kept so far (after unstuffing).
    pub fn len(&self) -> usize {
        self.content.len()
    }

    pub fn is_empty(&self) -> bool {
        self.content.is_empty()
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

    /// The outcome once [`Progress::Complete`] was returned.
    pub fn finish(self) -> Result<Vec<u8>, ContentProblem> {
        match self.problem {
            Some(p) => Err(p),
            None => Ok(self.content),
        }
    }

    /// Advances by one byte; returns true at the end of data.
    fn step(&mut self, b: u8) -> bool {
        self.state = match (self.state, b) {
            (State::LineStart, b'.') => State::Dot,
            (State::Dot, b'\r') => State::DotCr,
            (State::DotCr, b'\n') => return true,
            (State::DotCr, other) => {
                // `.` CR then something else: the CR was bare.
                self.flag(ContentProblem::BareLineEnding);
                return self.resume_text(other);
            }
            (State::Dot, other) => {
                // Dot-stuffed line: the leading dot is dropped (RFC 5321 4.5.2).
                return self.resume_text(other);
            }
            (State::Cr, b'\n') => {
                self.push(b'\n');
                State::LineStart
            }
            (State::Cr, other) => {
                self.flag(ContentProblem::BareLineEnding);
                return self.resume_text(other);
            }
            (State::LineStart | State::Text, other) => return self.resume_text(other),
        };
        false
    }

    /// Handles a byte as ordinary line content.
    fn resume_text(&mut self, b: u8) -> bool {
        match b {
            b'\r' => {
                self.push(b'\r');
                self.state = State::Cr;
            }
            b'\n' => {
                // A bare LF: kept as content but never a line start for the terminator.
                self.flag(ContentProblem::BareLineEnding);
                self.push(b'\n');
                self.state = State::Text;
            }
            other => {
                self.push(other);
                self.state = State::Text;
            }
        }
        false
    }

    fn push(&mut self, b: u8) {
        if self.content.len() < self.size_max {
            self.content.push(b);
        } else {
            self.flag(ContentProblem::TooLarge);
        }
    }

    fn flag(&mut self, problem: ContentProblem) {
        // Size wins: it is the more useful reply when both apply.
        if self.problem != Some(ContentProblem::TooLarge) {
            self.problem = Some(problem);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (Progress, Result<Vec<u8>, ContentProblem>) {
        let mut r = DataReceiver::new(1 << 20);
        let p = r.feed(input);
        (p, r.finish())
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
        let mut r = DataReceiver::new(1 << 20);
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
            let mut r = DataReceiver::new(1 << 20);
            assert_eq!(r.feed(&input), Progress::NeedMore, "{hidden:?} ended the data");
            assert_eq!(r.feed(b".\r\n"), Progress::Complete { consumed: 3 });
            assert_eq!(r.finish(), Err(ContentProblem::BareLineEnding), "{hidden:?}");
        }
    }

    #[test]
    fn size_limit_keeps_reading_to_the_end() {
        let mut r = DataReceiver::new(10);
        assert_eq!(r.feed(b"0123456789abcdef\r\n"), Progress::NeedMore);
        assert_eq!(r.feed(b".\r\n"), Progress::Complete { consumed: 3 });
        assert_eq!(r.len(), 10);
        assert_eq!(r.finish(), Err(ContentProblem::TooLarge));
    }

    #[test]
    fn exact_size_fits() {
        let mut r = DataReceiver::new(5);
        assert_eq!(r.feed(b"abc\r\n.\r\n"), Progress::Complete { consumed: 8 });
        assert_eq!(r.finish().unwrap(), b"abc\r\n");
    }
}
