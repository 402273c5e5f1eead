//! What goes over the wire: the Lua scripts, the keys, and the parsing of
//! stream entries.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use redis::Value;
use ssekit_core::Event;
use ssekit_core::broker::{BrokerError, Entry, Visibility};

/// Publishes one event to one or more topics, atomically: the epoch (set
/// from `ARGV[1]` if Redis has none, as after a restart without
/// persistence), the next sequence number, and one `XADD` per topic with
/// that number as the explicit id `{seq}-0`.
///
/// The stored frame is the stamped one (`id: {epoch}-{seq}` appended), so a
/// reader hands the bytes on as they are. Field `p` is the topic's previous
/// sequence number: a reader or a resume sees that events were trimmed when
/// the first entry it gets names a previous one it never saw. Field `n`
/// lists the event's topics (several, or a private event's one),
/// length-prefixed ([`encode_topics`]); field `v` is `private` for a
/// private event.
///
/// Like [`OPEN`], it first moves to a fresh epoch when Redis went back in
/// time (see [`NEW_EPOCH`]).
///
/// KEYS: epoch, sequence, then the topics' streams. ARGV: a fresh epoch
/// (hex), the frame without its final newline, the encoded topics (empty
/// for one public topic), `~` or `=`, `private` or empty, the epoch
/// and highest sequence number this process has seen, then each stream's
/// MAXLEN.
pub(crate) const PUBLISH: &str = r#"
local epoch = redis.call('GET', KEYS[1])
if not epoch or (epoch == ARGV[6] and tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[7])) then
  redis.call('SET', KEYS[1], ARGV[1])
  epoch = ARGV[1]
end
local seq = redis.call('INCR', KEYS[2])
local s = string.format('%d', seq)
local id = s .. '-0'
local frame = ARGV[2] .. 'id: ' .. epoch .. '-' .. s .. '\n\n'
for i = 3, #KEYS do
  local last = redis.call('XREVRANGE', KEYS[i], '+', '-', 'COUNT', 1)
  local prev = '0'
  if last[1] then
    prev = string.match(last[1][1], '^(%d+)')
  end
  local fields = {'e', frame, 'p', prev}
  if ARGV[3] ~= '' then
    table.insert(fields, 'n')
    table.insert(fields, ARGV[3])
  end
  if ARGV[5] ~= '' then
    table.insert(fields, 'v')
    table.insert(fields, ARGV[5])
  end
  redis.call('XADD', KEYS[i], 'MAXLEN', ARGV[4], ARGV[i + 5], id, unpack(fields))
end
return {epoch, seq}
"#;

/// The value of field `v` for a private event.
pub(crate) const PRIVATE: &str = "private";

/// Moves Redis to the fresh epoch `ARGV[1]` if it still holds `ARGV[2]`:
/// what a process does when Redis went back in time, holding the epoch it
/// knows but a sequence below the highest it saw, as after a restart from
/// an older snapshot. The ids given out since that snapshot would be given
/// out again for other events; in a fresh epoch they reset instead.
/// [`OPEN`] and [`PUBLISH`] check the same before they read or publish.
///
/// KEYS: epoch.
pub(crate) const NEW_EPOCH: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1])
end
return redis.call('GET', KEYS[1])
"#;

/// What [`OPEN`] answers for a topic whose events after the position are
/// gone, or more than its bound.
pub(crate) const EVICTED: &[u8] = b"evicted";

/// Reads, atomically, the epoch (set from `ARGV[1]` if missing, or if
/// Redis went back in time: see [`NEW_EPOCH`]), the latest sequence number,
/// and, when `ARGV[2]` is a position in the epoch `ARGV[5]` that Redis
/// holds, each topic's entries after it, bounded:
///
/// - First the one entry after the position (`COUNT 1`): if its `p` is
///   past the position, events in between were trimmed, and the answer
///   for the topic is `evicted`, read no further.
/// - Then at most the topic's bound plus one entry (`COUNT`); more than the
///   bound after the position is `evicted` too: a resume replays no more
///   than the history bound, whatever the stream holds.
///
/// At the first `evicted` topic the script stops: the resume is a reset.
///
/// KEYS: epoch, sequence, then the topics' streams. ARGV: a fresh epoch,
/// the position (a sequence number, or empty), the epoch and highest
/// sequence number this process has seen, the position's epoch, then each
/// topic's bound.
pub(crate) const OPEN: &str = r#"
local epoch = redis.call('GET', KEYS[1])
if not epoch or (epoch == ARGV[3] and tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[4])) then
  redis.call('SET', KEYS[1], ARGV[1])
  epoch = ARGV[1]
end
local current = redis.call('GET', KEYS[2]) or '0'
local out = {epoch, current}
if ARGV[2] == '' or epoch ~= ARGV[5] then
  return out
end
local after = tonumber(ARGV[2])
if after > tonumber(current) then
  return out
end
local from = string.format('%d', after + 1) .. '-0'
for i = 3, #KEYS do
  local first = redis.call('XRANGE', KEYS[i], from, '+', 'COUNT', 1)
  local evicted = false
  if first[1] then
    local fields = first[1][2]
    for j = 1, #fields, 2 do
      if fields[j] == 'p' then
        evicted = tonumber(fields[j + 1]) > after
      end
    end
  end
  if not evicted and first[1] then
    local bound = tonumber(ARGV[i + 3])
    local range = redis.call('XRANGE', KEYS[i], from, '+', 'COUNT', bound + 1)
    if #range > bound then
      evicted = true
    else
      out[i] = range
    end
  elseif not evicted then
    out[i] = {}
  end
  if evicted then
    out[i] = 'evicted'
    return out
  end
end
return out
"#;

/// The Redis keys of one backend, all under its prefix.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    pub(crate) epoch: String,
    pub(crate) seq: String,
    topic_prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            epoch: format!("{prefix}epoch"),
            seq: format!("{prefix}seq"),
            topic_prefix: format!("{prefix}topic:"),
        }
    }

    /// The stream holding `topic`'s events.
    pub(crate) fn stream(&self, topic: &str) -> String {
        let mut key = String::with_capacity(self.topic_prefix.len() + topic.len());
        key.push_str(&self.topic_prefix);
        key.push_str(topic);
        key
    }
}

/// An event's topics as field `n` stores them: each name's length in
/// bytes (decimal), `:`, then the name. Any byte may occur in a name, so
/// no separator could tell `a\0b` from `a` and `b`; a length can.
pub(crate) fn encode_topics(topics: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(topics.iter().map(|t| t.len() + 3).sum());
    for topic in topics {
        out.extend_from_slice(topic.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(topic.as_bytes());
    }
    out
}

/// The names [`encode_topics`] wrote; `None` if `bytes` is not its output.
pub(crate) fn decode_topics(mut bytes: &[u8]) -> Option<Vec<Arc<str>>> {
    let mut names = Vec::new();
    while !bytes.is_empty() {
        let colon = bytes.iter().position(|&b| b == b':')?;
        let len: usize = parse_u64(&bytes[..colon])?.try_into().ok()?;
        let rest = &bytes[colon + 1..];
        let name = rest.get(..len)?;
        names.push(Arc::from(std::str::from_utf8(name).ok()?));
        bytes = &rest[len..];
    }
    Some(names)
}

/// A new epoch, as [`ssekit_core`]'s memory backend draws one: the time mixed
/// with a random hash seed, 48 bits, never zero.
pub(crate) fn fresh_epoch() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(nanos);
    (hasher.finish() >> 16).max(1)
}

/// The epoch as Redis stores it: lowercase hex, as in the ids.
pub(crate) fn parse_epoch(hex: &[u8]) -> Result<u64, BrokerError> {
    std::str::from_utf8(hex)
        .ok()
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or_else(|| protocol("the stored epoch is not hexadecimal"))
}

/// An error for a reply this crate did not write.
pub(crate) fn protocol(what: &str) -> BrokerError {
    BrokerError::Backend(format!("unexpected Redis data: {what}").into())
}

/// A Redis error as a broker error.
pub(crate) fn backend(error: redis::RedisError) -> BrokerError {
    BrokerError::Backend(Box::new(error))
}

/// One stream entry as this crate writes it.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) seq: u64,
    /// The topic's previous sequence number (0 for its first event).
    pub(crate) prev: u64,
    pub(crate) entry: Entry,
}

/// The last topics field seen (its name and value) and its parsed list.
pub(crate) type TopicsCache = Option<(u8, Vec<u8>, Arc<[Arc<str>]>)>;

/// Parses the entries of an `XRANGE` reply (or of one stream of `XREAD`).
/// `topics` caches the last topic list seen, so consecutive events to the
/// same topics share one allocation.
pub(crate) fn parse_entries(
    value: Value,
    topics: &mut TopicsCache,
) -> Result<Vec<Stored>, BrokerError> {
    let items = match value {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(items) | Value::Set(items) => items,
        _ => return Err(protocol("a stream range is not an array")),
    };
    items
        .into_iter()
        .map(|item| parse_entry(item, topics))
        .collect()
}

fn parse_entry(item: Value, topics: &mut TopicsCache) -> Result<Stored, BrokerError> {
    let Value::Array(mut pair) = item else {
        return Err(protocol("a stream entry is not an array"));
    };
    if pair.len() != 2 {
        return Err(protocol("a stream entry is not [id, fields]"));
    }
    let fields = pair.pop().unwrap_or(Value::Nil);
    let id = pair.pop().unwrap_or(Value::Nil);
    let seq = match &id {
        Value::BulkString(bytes) => parse_seq(bytes),
        Value::SimpleString(s) => parse_seq(s.as_bytes()),
        _ => None,
    }
    .ok_or_else(|| protocol("a stream id is not `{seq}-0`"))?;
    let pairs: Vec<(Value, Value)> = match fields {
        Value::Array(flat) => {
            let mut flat = flat.into_iter();
            let mut pairs = Vec::with_capacity(3);
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                pairs.push((k, v));
            }
            pairs
        }
        Value::Map(pairs) => pairs,
        _ => return Err(protocol("stream fields are not an array")),
    };
    let mut frame = None;
    let mut prev = 0;
    // Field `n` (length-prefixed), or `t` (joined by NUL) as written
    // before it: which one, and its value.
    let mut names: Option<(u8, Vec<u8>)> = None;
    let mut visibility = Visibility::Public;
    for (key, value) in pairs {
        let (Value::BulkString(key), Value::BulkString(value)) = (key, value) else {
            continue;
        };
        match key.as_slice() {
            b"e" => frame = Some(value),
            b"p" => prev = parse_u64(&value).ok_or_else(|| protocol("field `p`"))?,
            b"n" => names = Some((b'n', value)),
            b"t" if names.is_none() => names = Some((b't', value)),
            b"v" if value == PRIVATE.as_bytes() => visibility = Visibility::Private,
            b"v" => return Err(protocol("field `v`")),
            _ => {}
        }
    }
    let frame = frame.ok_or_else(|| protocol("a stream entry without field `e`"))?;
    let topics = match names {
        // A private event's topics joined by NUL may be ambiguous (`a\0b`
        // or `a` and `b`): it goes without them, which admits it only to a
        // subscriber granted every topic it reads. A public event's list
        // only drops duplicates across topics, as before.
        Some((b't', _)) if visibility == Visibility::Private => None,
        None => None,
        Some((field, names)) => Some(match topics {
            Some((cached, bytes, list)) if *cached == field && *bytes == names => Arc::clone(list),
            _ => {
                let list: Arc<[Arc<str>]> = if field == b'n' {
                    decode_topics(&names)
                        .ok_or_else(|| protocol("field `n`"))?
                        .into()
                } else {
                    names
                        .split(|&b| b == 0)
                        .map(|name| Arc::from(String::from_utf8_lossy(name).as_ref()))
                        .collect()
                };
                *topics = Some((field, names, Arc::clone(&list)));
                list
            }
        }),
    };
    Ok(Stored {
        seq,
        prev,
        // The frame was built by `PUBLISH` from an encoded event and its id
        // line.
        entry: {
            let event = Event::from_encoded_unchecked(Bytes::from(frame));
            let entry = Entry::new(seq, event, visibility);
            match topics {
                Some(topics) => entry.with_topics(topics),
                None => entry,
            }
        },
    })
}

fn parse_seq(id: &[u8]) -> Option<u64> {
    let seq = id.strip_suffix(b"-0")?;
    parse_u64(seq)
}

pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A bulk string or integer reply as a number.
pub(crate) fn value_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::BulkString(bytes) => parse_u64(bytes),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn an_entry_with_topics_shares_their_list_with_the_next() {
        let entry = |id: &str| {
            Value::Array(vec![
                bulk(id),
                Value::Array(vec![
                    bulk("e"),
                    bulk("data: x\nid: a-1\n\n"),
                    bulk("p"),
                    bulk("0"),
                    bulk("t"),
                    bulk("a\0b"),
                ]),
            ])
        };
        let mut cache = None;
        let parsed = parse_entries(Value::Array(vec![entry("1-0"), entry("2-0")]), &mut cache)
            .expect("valid entries");
        assert_eq!(parsed[1].seq, 2);
        let (a, b) = (
            parsed[0].entry.topics().expect("two topics"),
            parsed[1].entry.topics().expect("two topics"),
        );
        assert!(std::ptr::eq(a, b), "one shared list");
        assert_eq!(&*a[1], "b");
    }

    fn private_entry(field: &str, topics: &[u8]) -> Value {
        Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![
                bulk("e"),
                bulk("data: x\nid: a-1\n\n"),
                bulk("p"),
                bulk("0"),
                bulk(field),
                Value::BulkString(topics.to_vec()),
                bulk("v"),
                bulk(PRIVATE),
            ]),
        ])
    }

    #[test]
    fn topic_names_with_any_byte_are_stored_without_ambiguity() {
        for topics in [
            &["a\0b"][..],
            &["a", "b"],
            &["", "1:x", "a\0", "\0b:2:"],
            &["é:ü"],
        ] {
            let decoded = decode_topics(&encode_topics(topics)).expect("its own encoding");
            assert_eq!(decoded.iter().map(|t| &**t).collect::<Vec<_>>(), topics);
        }
        assert_ne!(encode_topics(&["a\0b"]), encode_topics(&["a", "b"]));
        for malformed in [&b"2:a"[..], b"x:a", b"1a", b"1:\xff"] {
            assert_eq!(decode_topics(malformed), None, "{malformed:?}");
        }
    }

    #[test]
    fn a_private_entry_keeps_exactly_its_topics_even_with_nul_in_a_name() {
        let stored = parse_entries(
            Value::Array(vec![private_entry("n", &encode_topics(&["a\0b"]))]),
            &mut None,
        )
        .expect("a valid entry");
        let topics = stored[0].entry.topics().expect("its topics");
        assert_eq!(topics.iter().map(|t| &**t).collect::<Vec<_>>(), ["a\0b"]);
    }

    #[test]
    fn a_private_entry_in_the_old_nul_joined_format_goes_without_topics() {
        // `a\0b` or `a` and `b`? Without its topics, the broker admits it
        // only to a subscriber granted every topic it reads.
        let stored = parse_entries(Value::Array(vec![private_entry("t", b"a\0b")]), &mut None)
            .expect("a valid entry");
        assert_eq!(stored[0].entry.topics(), None);
        assert_eq!(stored[0].entry.visibility(), Visibility::Private);
    }

    #[test]
    fn a_stream_id_other_than_seq_dash_zero_is_an_error() {
        let entry = Value::Array(vec![bulk("1-1"), Value::Array(vec![bulk("e"), bulk("x")])]);
        assert!(parse_entries(Value::Array(vec![entry]), &mut None).is_err());
    }
}
