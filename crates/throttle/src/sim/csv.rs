//! CSV traces: a header naming the columns, then one transaction per row.
//!
//! Columns, in any order: `time_s` (or `time`), `client_ip`, `recipients`, and optionally
//! `label`, free text the engine never sees. `time_s` is decimal seconds (fractions allowed),
//! from the start of the trace or since the Unix epoch (both replay alike), or an RFC 3339
//! timestamp; one trace uses one form. Fields follow RFC 4180: a field in double quotes
//! may hold commas, line breaks and doubled quotes (`""`). A UTF-8 byte order mark, CRLF
//! line ends and blank lines are accepted. A row with more fields than the header is an
//! error naming the line (a label with commas must be quoted); a row without a label has
//! an empty one.
//!
//! Rows must be in time order. A row earlier than an earlier row by less than a second is
//! put in order silently (the engine counts whole seconds); one earlier by a second or
//! more is an error naming both lines, unless sorting is asked for, in which case the
//! trace is sorted and the reordering reported.

use std::net::IpAddr;

use super::Trace;
use super::time::{parse_rfc3339, parse_seconds};

/// How to read a trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsvOptions {
    /// Sort rows that are out of time order instead of refusing the trace.
    pub sort: bool,
}

/// A trace and what was done to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The transactions, in time order.
    pub trace: Trace,
    /// Rows that were out of time order by a second or more and were sorted.
    pub reordered: Option<Reordered>,
}

/// Rows moved by sorting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reordered {
    /// How many rows came earlier than a row before them.
    pub rows: usize,
    /// The first such row's line.
    pub first_line: usize,
}

/// What kind of problem a trace has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The text is not a valid trace.
    Invalid,
    /// A row is earlier than a previous row by a second or more (sorting would fix it).
    OutOfOrder,
}

/// A line of a trace that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {problem}", .field.map(|f| format!(", field {f}")).unwrap_or_default())]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// The column, when one field is at fault.
    pub field: Option<&'static str>,
    /// What is wrong.
    pub problem: String,
    /// Whether sorting would fix it.
    pub kind: ProblemKind,
}

fn invalid(line: usize, field: Option<&'static str>, problem: String) -> ParseError {
    ParseError { line, field, problem, kind: ProblemKind::Invalid }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Time,
    ClientIp,
    Recipients,
    Label,
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Time => "time_s",
            Column::ClientIp => "client_ip",
            Column::Recipients => "recipients",
            Column::Label => "label",
        }
    }

    fn from_header(name: &str) -> Option<Column> {
        match name.to_ascii_lowercase().as_str() {
            "time_s" | "time" => Some(Column::Time),
            "client_ip" => Some(Column::ClientIp),
            "recipients" => Some(Column::Recipients),
            "label" => Some(Column::Label),
            _ => None,
        }
    }
}

/// One CSV record: its first line and its fields.
struct Record {
    line: usize,
    fields: Vec<String>,
}

/// Splits text into RFC 4180 records, tracking line numbers across quoted line breaks.
struct Records<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Records<'a> {
    fn new(text: &'a str) -> Records<'a> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Records { text, pos: 0, line: 1 }
    }

    /// The next record, skipping blank lines; None at the end.
    fn next_record(&mut self) -> Option<Result<Record, ParseError>> {
        loop {
            if self.pos >= self.text.len() {
                return None;
            }
            let record = self.read_record();
            match record {
                Ok(r) if r.fields.len() == 1 && r.fields[0].trim().is_empty() => continue,
                other => return Some(other),
            }
        }
    }

    fn read_record(&mut self) -> Result<Record, ParseError> {
        let start_line = self.line;
        let mut fields = Vec::new();
        loop {
            let (field, end) = self.read_field()?;
            fields.push(field);
            match end {
                FieldEnd::Comma => continue,
                FieldEnd::Line | FieldEnd::Text => return Ok(Record { line: start_line, fields }),
            }
        }
    }

    fn read_field(&mut self) -> Result<(String, FieldEnd), ParseError> {
        let rest = &self.text[self.pos..];
        let lead = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        if rest[lead..].starts_with('"') {
            self.pos += lead + 1;
            return self.read_quoted();
        }
        let end = rest.find([',', '\n']).unwrap_or(rest.len());
        let field = rest[..end].trim_end_matches('\r').trim().to_string();
        self.pos += end;
        Ok((field, self.delimiter()))
    }

    /// Consumes the delimiter at `pos`: a comma, a line end, or the end of the text.
    fn delimiter(&mut self) -> FieldEnd {
        match self.text.as_bytes().get(self.pos) {
            Some(b',') => {
                self.pos += 1;
                FieldEnd::Comma
            }
            Some(b'\n') => {
                self.pos += 1;
                self.line += 1;
                FieldEnd::Line
            }
            _ => FieldEnd::Text,
        }
    }

    fn read_quoted(&mut self) -> Result<(String, FieldEnd), ParseError> {
        let opened = self.line;
        let mut value = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let Some(q) = rest.find('"') else {
                return Err(invalid(opened, None, "a quoted field is never closed".to_string()));
            };
            self.line += rest[..q].matches('\n').count();
            value.push_str(&rest[..q]);
            self.pos += q + 1;
            if self.text[self.pos..].starts_with('"') {
                value.push('"');
                self.pos += 1;
                continue;
            }
            break;
        }
        let rest = &self.text[self.pos..];
        let trailing = rest.len() - rest.trim_start_matches([' ', '\t', '\r']).len();
        self.pos += trailing;
        match self.text.as_bytes().get(self.pos) {
            None | Some(b',' | b'\n') => Ok((value, self.delimiter())),
            Some(_) => Err(invalid(self.line, None, "text after the closing quote of a field".to_string())),
        }
    }
}

enum FieldEnd {
    Comma,
    Line,
    Text,
}

/// The header's columns, in file order.
fn read_header(record: &Record) -> Result<Vec<Column>, ParseError> {
    let expected = "expected the columns time_s, client_ip, recipients and optionally label";
    let mut columns = Vec::new();
    for name in &record.fields {
        let column = Column::from_header(name.trim()).ok_or_else(|| {
            invalid(record.line, None, format!("unknown column {name:?} in the header; {expected}"))
        })?;
        if columns.contains(&column) {
            return Err(invalid(record.line, None, format!("column {name:?} appears twice in the header")));
        }
        columns.push(column);
    }
    for required in [Column::Time, Column::ClientIp, Column::Recipients] {
        if !columns.contains(&required) {
            let problem = format!("the header has no {} column; {expected}", required.name());
            return Err(invalid(record.line, None, problem));
        }
    }
    Ok(columns)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeForm {
    Seconds,
    Rfc3339,
}

/// Parses a CSV trace (see the module docs).
pub fn parse(text: &str, opts: CsvOptions) -> Result<Parsed, ParseError> {
    let mut records = Records::new(text);
    let header = match records.next_record() {
        Some(r) => read_header(&r?)?,
        None => return Err(invalid(1, None, "the trace is empty (no header)".to_string())),
    };
    let mut reader = RowReader { trace: Trace::new(), header, form: None, latest: None, reordered: None };
    while let Some(record) = records.next_record() {
        reader.row(&record?, opts)?;
    }
    let mut trace = reader.trace;
    trace.sort();
    Ok(Parsed { trace, reordered: reader.reordered })
}

struct RowReader {
    trace: Trace,
    header: Vec<Column>,
    form: Option<TimeForm>,
    /// The latest time seen and its line.
    latest: Option<(u64, usize)>,
    reordered: Option<Reordered>,
}

impl RowReader {
    fn row(&mut self, record: &Record, opts: CsvOptions) -> Result<(), ParseError> {
        let line = record.line;
        if record.fields.len() > self.header.len() {
            let problem = format!(
                "{} fields, but the header names {} columns (quote a label that contains commas)",
                record.fields.len(),
                self.header.len()
            );
            return Err(invalid(line, None, problem));
        }
        let header = &self.header;
        let field = |column: Column| {
            let i = header.iter().position(|c| *c == column)?;
            Some(record.fields.get(i).map(String::as_str).unwrap_or(""))
        };
        let missing = |column: Column| invalid(line, Some(column.name()), "missing".to_string());
        let time = field(Column::Time).filter(|t| !t.is_empty()).ok_or_else(|| missing(Column::Time))?;
        let ip =
            field(Column::ClientIp).filter(|t| !t.is_empty()).ok_or_else(|| missing(Column::ClientIp))?;
        let rcpts =
            field(Column::Recipients).filter(|t| !t.is_empty()).ok_or_else(|| missing(Column::Recipients))?;
        let label = field(Column::Label).filter(|l| !l.is_empty());
        let time_ms = self.time(line, time)?;
        let ip = ip.parse::<IpAddr>().map_err(|_| bad(line, Column::ClientIp, ip, "an IP address"))?;
        let recipients = rcpts
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad(line, Column::Recipients, rcpts, "a recipient count (1 or more)"))?;
        self.check_order(line, time_ms, opts)?;
        let label = label.map(|l| self.trace.label(l));
        self.trace.push_ms(time_ms, ip, recipients, label);
        Ok(())
    }

    fn time(&mut self, line: usize, text: &str) -> Result<u64, ParseError> {
        let (form, ms) = match parse_seconds(text) {
            Some(ms) => (TimeForm::Seconds, ms),
            None => {
                let ms = parse_rfc3339(text).ok_or_else(|| {
                    bad(line, Column::Time, text, "seconds (e.g. 39.066) or an RFC 3339 timestamp")
                })?;
                (TimeForm::Rfc3339, ms)
            }
        };
        match self.form {
            Some(f) if f != form => {
                let problem = format!(
                    "{text:?} is {}, but earlier rows give {}; use one form for the whole trace",
                    form_name(form),
                    form_name(f)
                );
                Err(invalid(line, Some(Column::Time.name()), problem))
            }
            _ => {
                self.form = Some(form);
                Ok(ms)
            }
        }
    }

    fn check_order(&mut self, line: usize, time_ms: u64, opts: CsvOptions) -> Result<(), ParseError> {
        match self.latest {
            Some((latest, latest_line)) if time_ms.saturating_add(1000) <= latest => {
                if !opts.sort {
                    let problem = format!(
                        "rows out of time order: this row is {:.3} s earlier than line {latest_line}",
                        (latest - time_ms) as f64 / 1000.0
                    );
                    return Err(ParseError {
                        line,
                        field: Some(Column::Time.name()),
                        problem,
                        kind: ProblemKind::OutOfOrder,
                    });
                }
                let r = self.reordered.get_or_insert(Reordered { rows: 0, first_line: line });
                r.rows += 1;
            }
            Some((latest, _)) if time_ms <= latest => {}
            _ => self.latest = Some((time_ms, line)),
        }
        Ok(())
    }
}

fn form_name(form: TimeForm) -> &'static str {
    match form {
        TimeForm::Seconds => "seconds",
        TimeForm::Rfc3339 => "an RFC 3339 timestamp",
    }
}

fn bad(line: usize, column: Column, value: &str, what: &str) -> ParseError {
    invalid(line, Some(column.name()), format!("{value:?} is not {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Trace {
        parse(text, CsvOptions::default()).unwrap_or_else(|e| panic!("{e}")).trace
    }

    fn err(text: &str) -> ParseError {
        parse(text, CsvOptions::default()).unwrap_err()
    }

    #[test]
    fn fractional_seconds_and_labels() {
        let t = ok("time_s,client_ip,recipients,label\n39.066,198.51.100.1,2,a\n40,2001:db8::1,1,\n");
        assert_eq!(t.events[0].time_ms, 39_066);
        assert_eq!(t.events[0].recipients, 2);
        assert_eq!(t.labels, vec!["a".to_string()]);
        assert_eq!(t.events[1].label, None);
    }

    #[test]
    fn bom_crlf_quotes_and_column_order() {
        let text = "\u{feff}label,recipients,client_ip,time_s\r\n\
                    \"blast, with \"\"comma\"\"\",3,198.51.100.1,10\r\n\
                    \r\n\
                    \"two\nlines\", 1 , 198.51.100.2 ,11\r\n";
        let t = ok(text);
        assert_eq!(t.labels, vec!["blast, with \"comma\"".to_string(), "two\nlines".to_string()]);
        assert_eq!(t.events[1].ip, "198.51.100.2".parse::<IpAddr>().unwrap());
        assert_eq!(t.events[1].recipients, 1);
        let e = err("time_s,client_ip,recipients,label\n\"a\nb\",1,1\n5,x,1\n");
        assert_eq!((e.line, e.field), (2, Some("time_s")), "a quoted break keeps line numbers: {e}");
        let e = err("time_s,client_ip,recipients,label\n1,198.51.100.1,1,\"a\nb\"\n2,x,1\n");
        assert_eq!((e.line, e.field), (4, Some("client_ip")), "{e}");
    }

    #[test]
    fn rfc3339_and_epoch_times() {
        let t = ok(
            "time,client_ip,recipients\n2024-05-01T10:00:00Z,198.51.100.1,1\n2024-05-01T10:00:01.5+00:00,198.51.100.1,1\n",
        );
        assert_eq!(t.events[1].time_ms, 1_714_557_601_500);
        let t = ok("time_s,client_ip,recipients\n1714557600.25,198.51.100.1,1\n");
        assert_eq!(t.events[0].time_s(), 1_714_557_600);
        let e = err("time_s,client_ip,recipients\n10,198.51.100.1,1\n2024-05-01T10:00:00Z,198.51.100.1,1\n");
        assert_eq!((e.line, e.field), (3, Some("time_s")));
        assert!(e.problem.contains("one form"), "{e}");
    }

    #[test]
    fn extra_columns_are_an_error_naming_the_line() {
        let e = err("time_s,client_ip,recipients,label\n1,198.51.100.1,1,a\n2,198.51.100.1,1,a,b\n");
        assert_eq!(e.line, 3);
        assert!(e.problem.contains("5 fields") && e.problem.contains("quote"), "{e}");
        assert!(err("time_s,client_ip,recipients\n1,198.51.100.1,1,x\n").problem.contains("4 fields"));
    }

    #[test]
    fn bad_values_name_line_and_field() {
        let e = err("time,ip\n");
        assert_eq!(e.line, 1);
        assert!(e.problem.contains("\"ip\""), "{e}");
        assert!(err("time_s,client_ip\n").problem.contains("recipients"));
        assert!(err("time_s,time,client_ip,recipients\n").problem.contains("twice"));
        assert!(err("").problem.contains("empty"));
        let cases = [
            ("1,not-an-ip,1", "client_ip"),
            ("-1,198.51.100.1,1", "time_s"),
            ("1,198.51.100.1", "recipients"),
            ("1,198.51.100.1,x", "recipients"),
            ("1,198.51.100.1,0", "recipients"),
            (",198.51.100.1,1", "time_s"),
        ];
        for (row, field) in cases {
            let e = err(&format!("time_s,client_ip,recipients\n0,198.51.100.9,1\n{row}\n"));
            assert_eq!((e.line, e.field), (3, Some(field)), "{row}: {e}");
        }
        let e = err("time_s,client_ip,recipients\n\"1,198.51.100.1,1\n");
        assert!(e.problem.contains("never closed") && e.line == 2, "{e}");
        let e = err("time_s,client_ip,recipients\n\"1\"x,198.51.100.1,1\n");
        assert!(e.problem.contains("after the closing quote"), "{e}");
    }

    #[test]
    fn out_of_order_rows_are_refused_or_sorted() {
        let text = "time_s,client_ip,recipients\n10,198.51.100.1,1\n20,198.51.100.1,1\n9.5,198.51.100.2,1\n19.5,198.51.100.3,1\n";
        let e = err(text);
        assert_eq!((e.line, e.kind), (4, ProblemKind::OutOfOrder));
        assert!(e.problem.contains("10.500 s earlier than line 3"), "{e}");
        let p = parse(text, CsvOptions { sort: true }).unwrap();
        assert_eq!(p.reordered, Some(Reordered { rows: 1, first_line: 4 }), "19.5 is within a second of 20");
        let times: Vec<u64> = p.trace.events.iter().map(|e| e.time_ms).collect();
        assert_eq!(times, vec![9_500, 10_000, 19_500, 20_000]);
        let within_a_second = ok("time_s,client_ip,recipients\n10.9,198.51.100.1,1\n10.1,198.51.100.1,1\n");
        assert_eq!(within_a_second.events[0].time_ms, 10_100);
    }
}
