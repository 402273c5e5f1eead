//! The wire format of one event: field lines, each value split on every line
//! break the standard knows, then one blank line.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use memchr::{memchr, memchr_iter, memchr2, memmem};

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
        let comments: Vec<Lines<'_>> = self
            .comments
            .iter()
            .map(|c| Lines::new(COMMENT, c.as_bytes()))
            .collect();
        let data = self.data.map(|d| Lines::new(DATA, d.as_bytes()));

        let mut len = 1; // the blank line that ends the event
        len += comments.iter().map(Lines::encoded_len).sum::<usize>();
        if let Some(event_type) = self.event_type {
            len += EVENT.len() + event_type.len() + 1;
        }
        if let Some(id) = self.id {
            len += ID.len() + id.len() + 1;
        }
        if let Some(retry) = retry {
            len += RETRY.len() + retry.len() + 1;
        }
        len += data.as_ref().map_or(0, Lines::encoded_len);

        let mut buf = Vec::with_capacity(len);
        for comment in &comments {
            comment.put(&mut buf);
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
        if let Some(data) = &data {
            data.put(&mut buf);
        }
        buf.push(b'\n');
        debug_assert_eq!(buf.len(), len, "encoded length was computed exactly");
        // A vector whose length is its capacity becomes `Bytes` without a copy.
        Bytes::from(buf)
    }
}

fn put_line(buf: &mut Vec<u8>, prefix: &[u8], line: &[u8]) {
    buf.extend_from_slice(prefix);
    buf.extend_from_slice(line);
    buf.push(b'\n');
}

/// A value written as one `prefix` line per line of it, split on CRLF, LF
/// and a lone CR, the three line ends of the event stream format. There is
/// always at least one (possibly empty) line, and an empty last line after a
/// trailing line break, so that a decoder sees exactly the value again.
///
/// Most values are one line: for them the value is scanned once, to find
/// that it has no line break. A value with line breaks has them counted by
/// vectorized passes, so that the buffer is still sized exactly.
struct Lines<'a> {
    prefix: &'a [u8],
    value: &'a [u8],
    breaks: Breaks,
    encoded_len: usize,
}

/// Which line breaks a value has, which decides how it is split.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Breaks {
    None,
    /// Only LF: split with the single-byte search, the fastest.
    Lf,
    /// Some CR: split on CR, LF and CRLF.
    Any,
}

impl<'a> Lines<'a> {
    fn new(prefix: &'a [u8], value: &'a [u8]) -> Self {
        let (breaks, lines, break_bytes) = match memchr2(b'\r', b'\n', value) {
            None => (Breaks::None, 1, 0),
            Some(first) => {
                let rest = &value[first..];
                if memchr(b'\r', rest).is_none() {
                    let lfs = memchr_iter(b'\n', rest).count();
                    (Breaks::Lf, lfs + 1, lfs)
                } else {
                    let break_bytes = count_cr_and_lf(rest);
                    let crlfs = memmem::find_iter(rest, b"\r\n").count();
                    (Breaks::Any, break_bytes - crlfs + 1, break_bytes)
                }
            }
        };
        Lines {
            prefix,
            value,
            breaks,
            // Line breaks are not copied; every line costs its prefix and an LF.
            encoded_len: lines * (prefix.len() + 1) + value.len() - break_bytes,
        }
    }

    fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    fn put(&self, buf: &mut Vec<u8>) {
        let mut rest = self.value;
        match self.breaks {
            Breaks::None => {}
            Breaks::Lf => {
                // Each line is copied with its own LF, which is also the
                // LF that ends the line written.
                buf.extend_from_slice(self.prefix);
                while let Some(end) = memchr(b'\n', rest) {
                    buf.extend_from_slice(&rest[..=end]);
                    buf.extend_from_slice(self.prefix);
                    rest = &rest[end + 1..];
                }
                buf.extend_from_slice(rest);
                buf.push(b'\n');
                return;
            }
            Breaks::Any => {
                while let Some(end) = memchr2(b'\r', b'\n', rest) {
                    put_line(buf, self.prefix, &rest[..end]);
                    let crlf = rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n');
                    rest = &rest[end + 1 + usize::from(crlf)..];
                }
            }
        }
        put_line(buf, self.prefix, rest);
    }
}

/// How many bytes of `value` are CR or LF. Counting in blocks of 255 with
/// byte-wide counters lets the loop vectorize.
fn count_cr_and_lf(value: &[u8]) -> usize {
    value
        .chunks(255)
        .map(|block| {
            block
                .iter()
                .fold(0u8, |n, &b| n + u8::from(b == b'\n') + u8::from(b == b'\r'))
        })
        .map(usize::from)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::{DATA, Lines};

    /// The lines `value` is written as, checking the size computed for them.
    fn lines(value: &str) -> Vec<String> {
        let lines = Lines::new(DATA, value.as_bytes());
        let mut buf = Vec::new();
        lines.put(&mut buf);
        assert_eq!(lines.encoded_len(), buf.len());
        let written = String::from_utf8(buf).unwrap();
        written
            .lines()
            .map(|line| line.strip_prefix("data: ").unwrap().to_owned())
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
