use std::collections::VecDeque;
use std::collections::vec_deque::Drain;
use std::mem;
use std::sync::Arc;
use std::time::Duration;

use memchr::{memchr, memchr2, memchr3};

use super::{DecodeError, Decoded, MessageEvent};

/// The UTF-8 byte order mark, skipped once at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The default bound on the buffered size of one event: 16 MiB.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

/// An incremental decoder of one event stream (one connection), following
/// the [module's rules](super).
///
/// It takes chunks split anywhere, even inside a CRLF, a UTF-8 character or
/// the BOM, and buffers at most one event.
///
/// ```
/// use ssekit_core::decode::{Decoded, Decoder};
///
/// let mut decoder = Decoder::new();
/// // A chunk boundary may fall anywhere, here inside the CRLF.
/// assert_eq!(decoder.decode(b"event: greet\r\ndata: hello\r").count(), 0);
/// let mut items = decoder.decode(b"\n\r\n");
/// let Some(Ok(Decoded::Event(event))) = items.next() else { panic!("one event") };
/// assert_eq!((event.event_type(), event.data()), ("greet", "hello"));
/// ```
#[derive(Debug)]
pub struct Decoder {
    max_event_size: usize,
    /// How many bytes of the BOM have been matched; `None` once the stream
    /// start has been settled.
    bom_matched: Option<usize>,
    /// The previous chunk ended in CR: an LF starting this one belongs to it.
    after_cr: bool,
    state: State,
    /// The first bytes of the current field name, enough to recognize the
    /// four known names; `name_len` counts every byte, so longer names never
    /// match.
    name: [u8; 5],
    name_len: usize,
    /// The value of an `event`, `id` or `retry` field being read.
    value: Vec<u8>,
    data: Vec<u8>,
    event_type: Vec<u8>,
    /// The standard's "last event ID buffer": set by `id` fields, never reset.
    id_buffer: Arc<str>,
    /// The standard's "last event ID string": the buffer as of the last
    /// dispatch; `None` until the first dispatch of this stream.
    last_event_id: Option<Arc<str>>,
    /// Bytes buffered for the current event, checked against the bound.
    event_size: usize,
    /// An event went over the bound: skip lines until the blank line ending it.
    discarding: bool,
    ready: VecDeque<Result<Decoded, DecodeError>>,
}

/// Where the decoder is within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    LineStart,
    /// Reading a field name, up to a colon or the line end.
    Name,
    /// Reading a field's value; `at_start` until the optional leading space
    /// has been looked at.
    Value {
        field: FieldName,
        at_start: bool,
    },
    /// A comment, an unknown field or a line of a discarded event: skip to
    /// the line end.
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldName {
    Data,
    Event,
    Id,
    Retry,
    Other,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the default bound, [`DEFAULT_MAX_EVENT_SIZE`].
    pub fn new() -> Self {
        Decoder {
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            bom_matched: Some(0),
            after_cr: false,
            state: State::LineStart,
            name: [0; 5],
            name_len: 0,
            value: Vec::new(),
            data: Vec::new(),
            event_type: Vec::new(),
            id_buffer: Arc::from(""),
            last_event_id: None,
            event_size: 0,
            discarding: false,
            ready: VecDeque::new(),
        }
    }

    /// Bounds the bytes one event's field values may buffer (default
    /// [`DEFAULT_MAX_EVENT_SIZE`]). An event that goes over is reported once
    /// as [`DecodeError::EventTooLarge`] and skipped from the line that went
    /// over to the blank line that ends it; its earlier lines take effect.
    pub fn with_max_event_size(mut self, max_event_size: usize) -> Self {
        self.max_event_size = max_event_size;
        self
    }

    /// Starts the last event ID buffer at `id` (default empty), as a
    /// reconnecting client does; an `id` holding a NUL is ignored.
    ///
    /// ```
    /// use ssekit_core::decode::{Decoded, Decoder};
    ///
    /// let mut decoder = Decoder::new().with_last_event_id("7");
    /// let items: Vec<_> = decoder.decode(b": keep-alive\n\ndata: x\n\n").collect();
    /// assert!(matches!(&items[0], Ok(Decoded::Event(e)) if e.last_event_id() == "7"));
    /// assert_eq!(decoder.last_event_id(), Some("7"));
    /// ```
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        if !id.contains('\0') {
            self.id_buffer = Arc::from(id);
        }
        self
    }

    /// The bound set by [`with_max_event_size`](Self::with_max_event_size).
    pub fn max_event_size(&self) -> usize {
        self.max_event_size
    }

    /// The last event ID string as of the most recent blank line, even one
    /// that dispatched nothing; `None` before the first.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// Feeds the next chunk of the stream and returns what it completed;
    /// items not taken from the iterator are dropped with it.
    pub fn decode(&mut self, chunk: &[u8]) -> Drain<'_, Result<Decoded, DecodeError>> {
        self.feed(chunk);
        self.ready.drain(..)
    }

    /// Feeds the next chunk of the stream; take what it completed with
    /// [`next_item`](Self::next_item).
    pub fn feed(&mut self, mut chunk: &[u8]) {
        if let Some(matched) = self.bom_matched {
            let n = chunk.len().min(BOM.len() - matched);
            if chunk[..n] == BOM[matched..matched + n] {
                chunk = &chunk[n..];
                if matched + n < BOM.len() {
                    self.bom_matched = Some(matched + n);
                    return;
                }
            } else {
                // Not a BOM after all: the bytes held back are content.
                self.process(&BOM[..matched]);
            }
            self.bom_matched = None;
        }
        self.process(chunk);
    }

    /// Takes the next decoded item, if a complete one is ready.
    pub fn next_item(&mut self) -> Option<Result<Decoded, DecodeError>> {
        self.ready.pop_front()
    }

    fn process(&mut self, input: &[u8]) {
        let mut at = 0;
        if self.after_cr && !input.is_empty() {
            self.after_cr = false;
            if input[0] == b'\n' {
                at = 1;
            }
        }
        while at < input.len() {
            let rest = &input[at..];
            match self.state {
                State::LineStart => match rest[0] {
                    b'\r' | b'\n' => {
                        at += self.line_end(rest);
                        self.blank_line();
                    }
                    b':' => self.state = State::Skip,
                    _ if self.discarding => self.state = State::Skip,
                    _ => {
                        self.name_len = 0;
                        self.state = State::Name;
                    }
                },
                State::Skip => match memchr2(b'\r', b'\n', rest) {
                    None => at = input.len(),
                    Some(end) => {
                        at += end + self.line_end(&rest[end..]);
                        self.state = State::LineStart;
                    }
                },
                State::Name => match memchr3(b':', b'\r', b'\n', rest) {
                    None => {
                        self.push_name(rest);
                        at = input.len();
                    }
                    Some(end) => {
                        self.push_name(&rest[..end]);
                        let field = self.field_name();
                        if rest[end] == b':' {
                            at += end + 1;
                            self.state = State::Value {
                                field,
                                at_start: true,
                            };
                        } else {
                            // A line without a colon is a field with an empty value.
                            at += end + self.line_end(&rest[end..]);
                            self.state = State::LineStart;
                            self.end_field(field);
                        }
                    }
                },
                State::Value {
                    field,
                    at_start: true,
                } => {
                    if rest[0] == b' ' {
                        at += 1;
                    }
                    self.state = State::Value {
                        field,
                        at_start: false,
                    };
                }
                State::Value {
                    field,
                    at_start: false,
                } => {
                    let end = memchr2(b'\r', b'\n', rest);
                    let value = &rest[..end.unwrap_or(rest.len())];
                    if !self.push_value(field, value) {
                        // Over the bound: the rest of the line is skipped.
                        self.state = State::Skip;
                        at += value.len();
                        continue;
                    }
                    match end {
                        None => at = input.len(),
                        Some(end) => {
                            at += end + self.line_end(&rest[end..]);
                            self.state = State::LineStart;
                            self.end_field(field);
                        }
                    }
                }
            }
        }
    }

    /// Consumes the line end at the start of `rest` (CR, LF or CRLF) and
    /// returns its length. A CR at the very end of the input may be the
    /// first half of a CRLF split across chunks: remember it.
    fn line_end(&mut self, rest: &[u8]) -> usize {
        match rest {
            [b'\r', b'\n', ..] => 2,
            [b'\r'] => {
                self.after_cr = true;
                1
            }
            _ => 1,
        }
    }

    fn push_name(&mut self, bytes: &[u8]) {
        let start = self.name_len.min(self.name.len());
        let take = bytes.len().min(self.name.len() - start);
        self.name[start..start + take].copy_from_slice(&bytes[..take]);
        self.name_len += bytes.len();
    }

    fn field_name(&self) -> FieldName {
        match self.name.get(..self.name_len) {
            Some(b"data") => FieldName::Data,
            Some(b"event") => FieldName::Event,
            Some(b"id") => FieldName::Id,
            Some(b"retry") => FieldName::Retry,
            _ => FieldName::Other,
        }
    }

    /// Buffers part of a field value; `false` if that would go over the
    /// bound, in which case the event is dropped.
    fn push_value(&mut self, field: FieldName, bytes: &[u8]) -> bool {
        let buffer = match field {
            FieldName::Other => return true,
            FieldName::Data => &mut self.data,
            FieldName::Event | FieldName::Id | FieldName::Retry => &mut self.value,
        };
        // Saturating: the bound may have been lowered below what this event
        // already holds.
        if self.event_size.saturating_add(bytes.len()) > self.max_event_size {
            self.overflow();
            return false;
        }
        self.event_size += bytes.len();
        buffer.extend_from_slice(bytes);
        true
    }

    /// Applies a complete field, as the standard's "process the field".
    fn end_field(&mut self, field: FieldName) {
        match field {
            FieldName::Data => {
                // The LF that joins data lines counts against the bound too.
                self.push_value(FieldName::Data, b"\n");
            }
            FieldName::Event => {
                mem::swap(&mut self.event_type, &mut self.value);
                self.value.clear();
            }
            FieldName::Id => {
                if memchr(0, &self.value).is_none() {
                    self.id_buffer = Arc::from(utf8_lossy(&self.value));
                }
                self.value.clear();
            }
            FieldName::Retry => {
                if !self.value.is_empty() && self.value.iter().all(u8::is_ascii_digit) {
                    let millis = self.value.iter().fold(0u64, |n, digit| {
                        n.saturating_mul(10).saturating_add(u64::from(digit - b'0'))
                    });
                    self.ready
                        .push_back(Ok(Decoded::Retry(Duration::from_millis(millis))));
                }
                self.value.clear();
            }
            FieldName::Other => {}
        }
    }

    /// The blank line: the standard's "dispatch the event".
    fn blank_line(&mut self) {
        self.event_size = 0;
        self.last_event_id = Some(self.id_buffer.clone());
        // A discarded event's buffers were cleared when it went over the
        // bound, so it is not dispatched either.
        self.discarding = false;
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        if self.data.last() == Some(&b'\n') {
            self.data.pop();
        }
        let data = into_string(mem::take(&mut self.data));
        let event = MessageEvent::from_parts(&self.event_type, data, self.id_buffer.clone());
        self.event_type.clear();
        self.ready.push_back(Ok(Decoded::Event(event)));
    }

    fn overflow(&mut self) {
        self.ready.push_back(Err(DecodeError::EventTooLarge {
            limit: self.max_event_size,
        }));
        self.discarding = true;
        self.event_size = 0;
        self.data.clear();
        self.event_type.clear();
        self.value.clear();
    }
}

/// Decodes UTF-8 as the standard does: invalid sequences become U+FFFD.
pub(super) fn utf8_lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| utf8_lossy(e.as_bytes()))
}
