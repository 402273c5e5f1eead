//! The wire format of one event: field lines, each value split on every line
//! break the standard knows, then one blank line.

use std::borrow::Cow;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use memchr::memchr2;

/// The fields of one event, borrowed, ready to be written.
///
/// Values have been validated by the builder: `event_type` and `id` hold no
/// line break, `id` no NUL.
#[derive(Default)]
pub(crate) struct Fields<'a> {
    pub(crate) comments: &'a [Cow<'a, str>],
    pub(crate) event_type: Option<&'a str>,
    pub(crate) id: Option<&'a str>,
    pub(crate) retry: Option<Duration>,
    pub(crate) data: Option<&'a str>,
}

const DATA: &[u8] = b"data: ";
const EVENT: &[u8] = b"event: ";
const ID: &[u8] = b"id: ";
const RETRY: &[u8] = b"retry: ";
const COMMENT: &[u8] = b":";

impl Fields<'_> {
    /// Encodes the event into exactly one buffer of exactly the right size.
    pub(crate) fn encode(&self) -> Bytes {
        let mut retry_digits = itoa::Buffer::new();
        let retry = self.retry.map(|d| retry_digits.format(d.as_millis()));

        let mut len = 1; // the blank line that ends the event
        for comment in self.comments {
            len += lines_len(COMMENT, comment.as_bytes());
        }
        if let Some(event_type) = self.event_type {
            len += EVENT.len() + event_type.len() + 1;
        }
        if let Some(id) = self.id {
            len += ID.len() + id.len() + 1;
        }
        if let Some(retry) = retry {
            len += RETRY.len() + retry.len() + 1;
        }
        if let Some(data) = self.data {
            len += lines_len(DATA, data.as_bytes());
        }

        let mut buf = BytesMut::with_capacity(len);
        for comment in self.comments {
            put_lines(&mut buf, COMMENT, comment.as_bytes());
        }
        if let Some(event_type) = self.event_type {
            put_line(&mut buf, EVENT, event_type.as_bytes());
        }
        if let Some(id) = self.id {
            put_line(&mut buf, ID, id.as_bytes());
        }
        if let Some(retry) = retry {
            put_line(&mut buf, RETRY, retry.as_bytes());
        }
        if let Some(data) = self.data {
            put_lines(&mut buf, DATA, data.as_bytes());
        }
        buf.put_u8(b'\n');
        debug_assert_eq!(buf.len(), len, "encoded length was computed exactly");
        buf.freeze()
    }
}

/// The encoded size of `value` written as one `prefix` line per line of it.
fn lines_len(prefix: &[u8], value: &[u8]) -> usize {
    // Every line costs the prefix and its LF; the line breaks themselves are
    // replaced, so a CRLF (two bytes) and a CR or LF (one byte) are not copied.
    let mut len = 0;
    for line in Lines::new(value) {
        len += prefix.len() + line.len() + 1;
    }
    len
}

fn put_lines(buf: &mut BytesMut, prefix: &[u8], value: &[u8]) {
    for line in Lines::new(value) {
        put_line(buf, prefix, line);
    }
}

fn put_line(buf: &mut BytesMut, prefix: &[u8], line: &[u8]) {
    buf.put_slice(prefix);
    buf.put_slice(line);
    buf.put_u8(b'\n');
}

/// The lines of a value, split on CRLF, LF and a lone CR: the three line ends
/// of the event stream format. Always yields at least one (possibly empty)
/// line, and an empty last line after a trailing line break, so that a
/// decoder sees exactly the value again.
pub(crate) struct Lines<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(value: &'a [u8]) -> Self {
        Lines { rest: Some(value) }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        match memchr2(b'\r', b'\n', rest) {
            None => {
                self.rest = None;
                Some(rest)
            }
            Some(end) => {
                let crlf = rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n');
                self.rest = Some(&rest[end + 1 + usize::from(crlf)..]);
                Some(&rest[..end])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;

    fn lines(value: &str) -> Vec<&str> {
        Lines::new(value.as_bytes())
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect()
    }

    #[test]
    fn every_line_end_splits_once() {
        assert_eq!(lines("a\r\nb\rc\nd"), ["a", "b", "c", "d"]);
    }

    #[test]
    fn empty_value_is_one_empty_line() {
        assert_eq!(lines(""), [""]);
    }

    #[test]
    fn trailing_line_break_leaves_an_empty_last_line() {
        assert_eq!(lines("a\n"), ["a", ""]);
        assert_eq!(lines("a\r\n"), ["a", ""]);
        assert_eq!(lines("a\r"), ["a", ""]);
    }

    #[test]
    fn lf_cr_is_two_line_ends() {
        assert_eq!(lines("a\n\rb"), ["a", "", "b"]);
    }
}
