//! Hash slots and the keys of an ordering unit: each topic's stream is
//! `{prefix}topic:{name}`, its unit is the stream key's hash slot, and the
//! unit's own keys carry a hash tag of that slot, so that no script touches
//! two slots.

use std::sync::OnceLock;

/// How many hash slots a Redis Cluster has.
pub(crate) const SLOTS: u16 = 16384;

/// CRC16-XMODEM (polynomial 0x1021, initial value 0): Redis Cluster's key
/// hash.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The part of `key` Redis hashes: the hash tag (between the first `{` and
/// the next `}`, when not empty), else the whole key.
fn hashed(key: &[u8]) -> &[u8] {
    key.iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key)
}

/// The hash slot of `key`.
pub(crate) fn slot_of(key: &[u8]) -> u16 {
    crc16(hashed(key)) % SLOTS
}

/// For each slot, the first string of base-36 digits (shortest first) that
/// hashes to it: the tag of a unit's own keys. Computed once per process.
fn tags() -> &'static [Box<str>] {
    static TAGS: OnceLock<Vec<Box<str>>> = OnceLock::new();
    TAGS.get_or_init(|| {
        const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut tags: Vec<Option<Box<str>>> = vec![None; usize::from(SLOTS)];
        let mut missing = usize::from(SLOTS);
        let mut len = 1;
        while missing > 0 {
            let mut digits = vec![0usize; len];
            'strings: loop {
                let tag: Vec<u8> = digits.iter().map(|&d| DIGITS[d]).collect();
                let slot = usize::from(crc16(&tag) % SLOTS);
                if tags[slot].is_none() {
                    let tag = String::from_utf8(tag).expect("ASCII digits");
                    tags[slot] = Some(tag.into_boxed_str());
                    missing -= 1;
                    if missing == 0 {
                        break;
                    }
                }
                // The next string of this length, as an odometer.
                for digit in digits.iter_mut().rev() {
                    *digit += 1;
                    if *digit < DIGITS.len() {
                        continue 'strings;
                    }
                    *digit = 0;
                }
                break;
            }
            len += 1;
        }
        tags.into_iter()
            .map(|tag| tag.expect("every slot has a tag"))
            .collect()
    })
}

/// Why a key prefix cannot be used on a cluster: an opening brace without
/// a closing one (or with nothing between) would make the unit keys'
/// `{tag}` part of a longer tag, or no tag at all.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
    let bytes = prefix.as_bytes();
    let Some(open) = bytes.iter().position(|&b| b == b'{') else {
        return Ok(());
    };
    match bytes[open + 1..].iter().position(|&b| b == b'}') {
        Some(close) if close > 0 => Ok(()),
        _ => Err(format!(
            "the key prefix {prefix:?} has an unbalanced or empty `{{…}}`: on Redis Cluster a prefix \
             may hold a hash tag only as a whole `{{tag}}` (which puts every key in one slot)"
        )),
    }
}

/// The keys of one backend on a cluster, under its prefix.
#[derive(Clone, Debug)]
pub(crate) struct ClusterKeys {
    prefix: String,
    topic_prefix: String,
}

/// The keys and the channel of one unit.
#[derive(Clone, Debug)]
pub(crate) struct UnitKeys {
    pub(crate) epoch: String,
    pub(crate) seq: String,
    pub(crate) marks: String,
    /// The replication id of the node that last wrote the unit.
    pub(crate) owner: String,
    /// The sharded pub/sub channel every publish to the unit is sent on.
    pub(crate) live: String,
}

impl ClusterKeys {
    pub(crate) fn new(prefix: &str) -> Self {
        ClusterKeys {
            prefix: prefix.to_owned(),
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

    /// The unit of `topic`: its stream key's hash slot.
    pub(crate) fn unit(&self, topic: &str) -> u16 {
        slot_of(self.stream(topic).as_bytes())
    }

    /// The keys of `unit`, each in the unit's slot.
    pub(crate) fn unit_keys(&self, unit: u16) -> UnitKeys {
        let tag = &tags()[usize::from(unit % SLOTS)];
        let key = |name: &str| format!("{}{name}:{{{tag}}}", self.prefix);
        UnitKeys {
            epoch: key("epoch"),
            seq: key("seq"),
            marks: key("marks"),
            owner: key("owner"),
            live: key("live"),
        }
    }

    /// The unit whose channel is `channel`.
    pub(crate) fn unit_of_channel(&self, channel: &[u8]) -> u16 {
        slot_of(channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_is_xmodem_and_slots_follow_the_cluster_spec() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        assert_eq!(slot_of(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS);
        assert_eq!(slot_of(b"foo{{bar}}zap"), slot_of(b"{bar"));
    }

    #[test]
    fn every_unit_key_lies_in_its_unit() {
        let keys = ClusterKeys::new("sse:");
        for unit in [0, 1, 5061, 12182, SLOTS - 1] {
            let unit_keys = keys.unit_keys(unit);
            for key in [
                &unit_keys.epoch,
                &unit_keys.seq,
                &unit_keys.marks,
                &unit_keys.owner,
                &unit_keys.live,
            ] {
                assert_eq!(slot_of(key.as_bytes()), unit, "{key}");
            }
        }
        assert!(tags().iter().all(|tag| tag.len() <= 4));
    }

    #[test]
    fn topics_with_one_hash_tag_share_a_unit() {
        let keys = ClusterKeys::new("sse:");
        assert_eq!(keys.unit("{room-7}:messages"), keys.unit("{room-7}:typing"));
        assert_eq!(keys.unit("{room-7}:messages"), slot_of(b"room-7"));
        // A prefix with a tag puts everything in its slot.
        let one = ClusterKeys::new("{app}:");
        assert_eq!(one.unit("a"), one.unit("b"));
        assert_eq!(
            slot_of(one.unit_keys(one.unit("a")).seq.as_bytes()),
            one.unit("a")
        );
    }

    #[test]
    fn a_prefix_with_an_unbalanced_brace_is_refused() {
        assert!(check_prefix("sse:").is_ok());
        assert!(check_prefix("{app}:").is_ok());
        assert!(check_prefix("a}b:").is_ok());
        assert!(check_prefix("a{b:").is_err());
        assert!(check_prefix("{}:").is_err());
    }
}
