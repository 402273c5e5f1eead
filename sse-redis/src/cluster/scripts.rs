//! The Lua scripts of the cluster mode: the standalone scripts' logic
//! (epoch prelude, TTL marks, bounded resume, field `p`), run per ordering
//! unit, with a failover check and the unit's live channel.

use crate::wire::{append_to_streams, epoch_prelude, gone_up_to, read_after_position};

/// First of all: a node that is a replica (one a client still takes for the
/// slot's master, as after a crashed master came back as the replica of
/// the one promoted in its place, while the client's connection to it
/// reads from replicas) answers `MOVED` to its master, so that the client
/// goes there and learns the new slot map, rather than fail at the
/// script's first write. `ARGV[$slot]` is the unit's slot.
macro_rules! replica_check {
    ($slot:literal) => {
        concat!(
            "local info = redis.call('INFO', 'replication')\n",
            "if string.match(info, 'role:slave') then\n",
            "  local host = string.match(info, 'master_host:([^\\r\\n]+)')\n",
            "  local port = string.match(info, 'master_port:(%d+)')\n",
            "  if host and port then\n",
            "    return redis.error_reply('MOVED ' .. ARGV[",
            $slot,
            "] .. ' ' .. host .. ':' .. port)\n",
            "  end\n",
            "  return redis.error_reply('TRYAGAIN this node is a replica without a master')\n",
            "end\n",
        )
    };
}

/// After the epoch prelude: tells a failover from inside the script. KEYS[4]
/// holds the replication id of the node that last wrote the unit. When it is
/// this node's `master_replid2`, this node is a promoted replica of that
/// writer, and asynchronous replication may have lost writes it
/// acknowledged: the unit moves to the fresh epoch `ARGV[1]`, so every
/// position in it resets rather than silently missing them. Any other id (a
/// slot migrated here, a restart) keeps the epoch. Then the owner is this
/// node.
macro_rules! failover_check {
    () => {
        r#"
local replid = string.match(info, 'master_replid:(%x+)')
local replid2 = string.match(info, 'master_replid2:(%x+)')
local owner = redis.call('GET', KEYS[4])
if replid and owner ~= replid then
  if owner and owner == replid2 and epoch ~= ARGV[1] then
    epoch = ARGV[1]
    redis.call('SET', KEYS[1], epoch)
  end
  redis.call('SET', KEYS[4], replid)
end
"#
    };
}

/// Publishes one event to the topics of one unit, as the standalone
/// `PUBLISH` does (see `wire::PUBLISH`), then sends it on the unit's
/// sharded channel: `{epoch} {seq} {0|1} {n} {topics}{frame}`, where `1`
/// marks a private event, `{topics}` is the [`encode_topics`] list (always
/// present, `n` bytes long) and `{frame}` the stamped frame.
///
/// KEYS: epoch, sequence, marks, owner, then the topics' streams. ARGV: a
/// fresh epoch (hex), the frame without its final newline, the encoded
/// topics for field `n` (empty for one public topic), `~` or `=`, `private`
/// or empty, the epoch and highest sequence number this process has seen
/// in the unit, the TTL in ms (0: none), the mark step in ms, the encoded
/// topics for the channel, the channel, the unit's slot, then each
/// stream's MAXLEN.
///
/// The channel is not among the KEYS, though in the unit's slot: a
/// declared key that never exists (a channel is no key) would make every
/// publish answer `TRYAGAIN` while the slot migrates, where `SPUBLISH`
/// alone is served by the node that has the slot.
///
/// [`encode_topics`]: crate::wire::encode_topics
pub(crate) const PUBLISH: &str = concat!(
    replica_check!("12"),
    epoch_prelude!("1", "6", "7"),
    failover_check!(),
    gone_up_to!(),
    "\n",
    append_to_streams!("5", "8"),
    r#"
local private = '0'
if ARGV[5] ~= '' then
  private = '1'
end
redis.call('SPUBLISH', ARGV[11], epoch .. ' ' .. s .. ' ' .. private .. ' ' .. #ARGV[10] .. ' ' .. ARGV[10] .. frame)
return {epoch, seq}
"#
);

/// Reads one unit, atomically, as the standalone `OPEN` does (see
/// `wire::OPEN`): the unit's epoch (after the failover check), its latest
/// sequence number and, when `ARGV[2]` is a position in the epoch `ARGV[6]`
/// that the unit holds, each topic's entries after it, bounded, or
/// `evicted`.
///
/// KEYS: epoch, sequence, marks, owner, then the topics' streams. ARGV: a
/// fresh epoch, the position (a sequence number, or empty), the epoch and
/// highest sequence number this process has seen in the unit, the TTL in
/// ms (0: none), the position's epoch, the unit's slot, then each topic's
/// bound.
pub(crate) const OPEN: &str = concat!(
    replica_check!("7"),
    epoch_prelude!("1", "3", "4"),
    failover_check!(),
    gone_up_to!(),
    "\n",
    read_after_position!("5", "2"),
);
