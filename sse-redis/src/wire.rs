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

/// Sets the epoch, or moves to a fresh one, at the start of [`PUBLISH`]
/// and [`OPEN`]: when Redis holds none (it lost its data); when it holds an
/// epoch but no sequence (the sequence alone was lost, as by an eviction:
/// counting again from 1 in the same epoch would issue ids twice); and when
/// it went back in time (see [`NEW_EPOCH`]). A new epoch always comes with
/// a sequence, so a missing sequence means a lost one. Neither key ever has
/// a TTL.
///
/// KEYS[1], KEYS[2]: epoch, sequence. `fresh`, `known_epoch`, `known_seq`:
/// a fresh epoch, and the epoch and highest sequence number this process
/// has seen.
macro_rules! epoch_prelude {
    ($fresh:literal, $known_epoch:literal, $known_seq:literal) => {
        concat!(
            "local epoch = redis.call('GET', KEYS[1])\n",
            "local current = redis.call('GET', KEYS[2])\n",
            "if not epoch or not current or (epoch == ARGV[",
            $known_epoch,
            "] and tonumber(current) < tonumber(ARGV[",
            $known_seq,
            "])) then\n",
            "  epoch = ARGV[",
            $fresh,
            "]\n",
            "  redis.call('SET', KEYS[1], epoch)\n",
            "  if not current then\n",
            "    current = '0'\n",
            "    redis.call('SET', KEYS[2], current)\n",
            "  end\n",
            "end\n",
        )
    };
}

pub(crate) use epoch_prelude;

/// `now` (Redis's clock, ms) and `gone_up_to(ttl, seq)`: the highest
/// sequence number an event of a stream that expired (its TTL `ttl` ms
/// after its last publish) can have had, at most `seq`. Its last event was
/// published at least `ttl` ago, so by a script that ran before the one
/// that issued the earliest mark (KEYS[3]: sequence numbers scored by the
/// time they were issued) later than `now - ttl`: below that mark. Without
/// such a mark, `seq` itself.
macro_rules! gone_up_to {
    () => {
        concat!(
            "local clock = redis.call('TIME')\n",
            "local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)\n",
            "local function gone_up_to(ttl, seq)\n",
            "  local mark = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. string.format('%d', now - ttl), '+inf', 'LIMIT', 0, 1)\n",
            "  if mark[1] then\n",
            "    return math.min(tonumber(mark[1]) - 1, seq)\n",
            "  end\n",
            "  return seq\n",
            "end\n",
        )
    };
}

pub(crate) use gone_up_to;

/// The body of a publish, after the epoch prelude and `gone_up_to!`: the
/// next sequence number, then per stream (KEYS from `$first` on) the
/// `XADD` of the stamped frame with field `p` and its MAXLEN
/// (`ARGV[i + $maxlen]`), its TTL, and the marks. Leaves `epoch`, `seq`,
/// `s` and `frame` set. ARGV[2] to ARGV[5], ARGV[8] and ARGV[9] as
/// [`PUBLISH`] takes them.
macro_rules! append_to_streams {
    ($first:literal, $maxlen:literal) => {
        concat!(
            r#"local seq = redis.call('INCR', KEYS[2])
local s = string.format('%d', seq)
local id = s .. '-0'
local frame = ARGV[2] .. 'id: ' .. epoch .. '-' .. s .. '\n\n'
local ttl = tonumber(ARGV[8])
for i = "#,
            $first,
            r#", #KEYS do
  local last = redis.call('XREVRANGE', KEYS[i], '+', '-', 'COUNT', 1)
  local prev = nil
  if last[1] then
    prev = string.match(last[1][1], '^(%d+)')
    if tonumber(prev) >= seq then
      redis.call('DEL', KEYS[i])
      prev = nil
    end
  end
  if not prev then
    if ttl > 0 then
      prev = string.format('%d', gone_up_to(ttl, seq - 1))
    else
      prev = '0'
    end
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
  redis.call('XADD', KEYS[i], 'MAXLEN', ARGV[4], ARGV[i + "#,
            $maxlen,
            r#"], id, unpack(fields))
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[i], ttl)
  else
    redis.call('PERSIST', KEYS[i])
  end
end
if ttl > 0 then
  local newest = redis.call('ZREVRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  if not newest[1] or now - tonumber(newest[2]) >= tonumber(ARGV[9]) then
    redis.call('ZADD', KEYS[3], string.format('%d', now), s)
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. string.format('%d', now - 2 * ttl))
  end
end
"#
        )
    };
}
pub(crate) use append_to_streams;

/// Publishes one event to one or more topics, atomically: the epoch (see
/// [`epoch_prelude`]), the next sequence number, and one `XADD` per topic
/// with that number as the explicit id `{seq}-0`, then the stream's TTL.
///
/// The stored frame is the stamped one (`id: {epoch}-{seq}` appended), so a
/// reader hands the bytes on as they are. Field `p` is the topic's previous
/// sequence number: a reader or a resume sees that events were lost when
/// the first entry it gets names a previous one it never saw. A stream that
/// does not exist (new, or expired) gets as `p` the highest sequence number
/// an expired stream's events can have had (`gone_up_to!`), so a position
/// older than the TTL resets rather than silently missing them; a stream
/// whose last id is not below the new one belongs to a lost sequence's
/// epoch and is replaced. Field `n` lists the event's topics, length-prefixed
/// ([`encode_topics`]; several topics, or a private event's one); field `v`
/// is `private` for a private event.
///
/// With a TTL, the sequence number is recorded in the marks (KEYS[3]) with
/// the time, at most once per `step` ms, and marks older than twice the TTL
/// are dropped.
///
/// KEYS: epoch, sequence, marks, then the topics' streams. ARGV: a fresh
/// epoch (hex), the frame without its final newline, the encoded topics
/// (empty for one public topic), `~` or `=`, `private` or empty, the epoch
/// and highest sequence number this process has seen, the TTL in ms (0:
/// none), the mark step in ms, then each stream's MAXLEN.
pub(crate) const PUBLISH: &str = concat!(
    epoch_prelude!("1", "6", "7"),
    gone_up_to!(),
    "\n",
    append_to_streams!("4", "6"),
    "return {epoch, seq}\n",
);

/// The value of field `v` for a private event.
pub(crate) const PRIVATE: &str = "private";

/// What [`OPEN`] answers for a topic whose events after the position are
/// gone, or more than its bound.
pub(crate) const EVICTED: &[u8] = b"evicted";

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

/// The body of a resume, after the epoch prelude and `gone_up_to!`: the
/// answer `{epoch, current}` and, when `ARGV[2]` is a position in the
/// epoch `ARGV[6]`, each stream's entries after it (KEYS from `$first` on,
/// answered at `out[i - $offset]`, bounded by `ARGV[i + 3]`) or `evicted`.
/// ARGV[2], ARGV[5] and ARGV[6] as [`OPEN`] takes them.
macro_rules! read_after_position {
    ($first:literal, $offset:literal) => {
        concat!(
            r#"local out = {epoch, current}
if ARGV[2] == '' or epoch ~= ARGV[6] then
  return out
end
local after = tonumber(ARGV[2])
if after > tonumber(current) then
  return out
end
local from = string.format('%d', after + 1) .. '-0'
local ttl = tonumber(ARGV[5])
for i = "#,
            $first,
            r#", #KEYS do
  local first = redis.call('XRANGE', KEYS[i], from, '+', 'COUNT', 1)
  local evicted = false
  if first[1] then
    local fields = first[1][2]
    for j = 1, #fields, 2 do
      if fields[j] == 'p' then
        evicted = tonumber(fields[j + 1]) > after
      end
    end
  elseif ttl > 0 and redis.call('EXISTS', KEYS[i]) == 0 then
    evicted = after < gone_up_to(ttl, tonumber(current))
  end
  if not evicted and first[1] then
    local bound = tonumber(ARGV[i + 3])
    local range = redis.call('XRANGE', KEYS[i], from, '+', 'COUNT', bound + 1)
    if #range > bound then
      evicted = true
    else
      out[i - "#,
            $offset,
            r#"] = range
    end
  elseif not evicted then
    out[i - "#,
            $offset,
            r#"] = {}
  end
  if evicted then
    out[i - "#,
            $offset,
            r#"] = 'evicted'
    return out
  end
end
return out
"#
        )
    };
}
pub(crate) use read_after_position;

/// Reads, atomically, the epoch (see `epoch_prelude!`), the latest
/// sequence number, and, when `ARGV[2]` is a position in the epoch
/// `ARGV[6]` that Redis holds, each topic's entries after it, bounded:
///
/// - First the one entry after the position (`COUNT 1`): if its `p` is
///   past the position, events in between were trimmed, and the answer
///   for the topic is `evicted`, read no further.
/// - A stream that does not exist, with a TTL, may have expired: `evicted`
///   if the position is older than what it can have held (`gone_up_to!`).
/// - Then at most the topic's bound plus one entry (`COUNT`); more than the
///   bound after the position is `evicted` too: a resume replays no more
///   than the history bound, whatever the stream holds.
///
/// At the first `evicted` topic the script stops: the resume is a reset.
///
/// KEYS: epoch, sequence, marks, then the topics' streams. ARGV: a fresh
/// epoch, the position (a sequence number, or empty), the epoch and highest
/// sequence number this process has seen, the TTL in ms (0: none), the
/// position's epoch, then each topic's bound.
pub(crate) const OPEN: &str = concat!(
    epoch_prelude!("1", "3", "4"),
    gone_up_to!(),
    "\n",
    read_after_position!("4", "1"),
);

/// The Redis keys of one backend, all under its prefix.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    pub(crate) epoch: String,
    pub(crate) seq: String,
    /// Sequence numbers scored by the time they were issued (ms), one per
    /// mark step: what an expired stream's events can have been.
    pub(crate) marks: String,
    topic_prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            epoch: format!("{prefix}epoch"),
            seq: format!("{prefix}seq"),
            marks: format!("{prefix}marks"),
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
