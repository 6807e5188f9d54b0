//! What a completion is about: every SQE's `user_data` names its operation, the connection's
//! slab key and the connection's generation, packed into the 64 bits the kernel hands back.
//!
//! ```text
//!  63      56 55                32 31                               0
//! +----------+--------------------+----------------------------------+
//! |    op    |     generation     |             slab key             |
//! +----------+--------------------+----------------------------------+
//! ```
//!
//! A slab slot is reused as soon as its connection is gone, so the key alone could send a late
//! completion (a failed cancel, a close) to the slot's next tenant; the generation, drawn from
//! a per-worker counter at accept, tells them apart.

/// What an SQE asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// The listener's multishot accept.
    Accept = 1,
    /// A connection's multishot recv into the provided-buffer ring.
    Recv = 2,
    /// A connection's send of its response bytes.
    Send = 3,
    /// A cancellation (of a recv or a send); completes only on failure (`SKIP_SUCCESS`).
    Cancel = 4,
    /// Shutting down the writing side before a drain; completes only on failure.
    Shutdown = 5,
    /// Closing the socket; completes only on failure.
    Close = 6,
    /// The worker's read of its offload helper's eventfd: a computation is done.
    Wake = 7,
    /// A connection's read of the next chunk of a file into its output buffer.
    Read = 8,
}

impl Op {
    fn from_bits(bits: u8) -> Option<Op> {
        Some(match bits {
            1 => Op::Accept,
            2 => Op::Recv,
            3 => Op::Send,
            4 => Op::Cancel,
            5 => Op::Shutdown,
            6 => Op::Close,
            7 => Op::Wake,
            8 => Op::Read,
            _ => return None,
        })
    }
}

/// Bits of the generation: what is left of 64 after the op (8) and the key (32).
pub const GEN_BITS: u32 = 24;
const GEN_MASK: u32 = (1 << GEN_BITS) - 1;

/// One connection of one worker: its slab key and its generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId {
    pub key: u32,
    /// Only the low [`GEN_BITS`] bits are kept (see [`Generations`]).
    pub gen: u32,
}

impl ConnId {
    /// The `user_data` of `op` on this connection.
    pub fn token(self, op: Op) -> u64 {
        (u64::from(op as u8) << 56) | (u64::from(self.gen & GEN_MASK) << 32) | u64::from(self.key)
    }
}

/// The `user_data` of an operation that belongs to no connection (the accept, the wake read).
pub fn worker_token(op: Op) -> u64 {
    ConnId { key: 0, gen: 0 }.token(op)
}

/// Splits a `user_data` back into the operation and the connection. `None` for a value this
/// crate never wrote.
pub fn decode(user_data: u64) -> Option<(Op, ConnId)> {
    let op = Op::from_bits((user_data >> 56) as u8)?;
    let gen = (user_data >> 32) as u32 & GEN_MASK;
    let key = user_data as u32;
    Some((op, ConnId { key, gen }))
}

/// Hands out generations, wrapping within [`GEN_BITS`]. A stale completion is mistaken for a
/// live one only if the same slot is reused exactly 2^24 connections later while that
/// completion is still unreaped; completions are reaped every loop turn, so that cannot happen.
#[derive(Debug, Default)]
pub struct Generations {
    next: u32,
}

impl Generations {
    /// The generation of the next connection.
    pub fn draw(&mut self) -> u32 {
        self.next = (self.next + 1) & GEN_MASK;
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_op_and_extreme_ids() {
        let ops = [Op::Accept, Op::Recv, Op::Send, Op::Cancel, Op::Shutdown, Op::Close, Op::Wake, Op::Read];
        for op in ops {
            for id in [
                ConnId { key: 0, gen: 0 },
                ConnId { key: u32::MAX, gen: GEN_MASK },
                ConnId { key: 12345, gen: 678 },
            ] {
                assert_eq!(decode(id.token(op)), Some((op, id)), "{op:?} {id:?}");
            }
        }
    }

    #[test]
    fn fields_do_not_overlap() {
        let a = ConnId { key: 7, gen: 1 };
        let b = ConnId { key: 7, gen: 2 };
        assert_ne!(a.token(Op::Recv), b.token(Op::Recv), "generation distinguishes a reused slot");
        assert_ne!(a.token(Op::Recv), a.token(Op::Send), "op distinguishes two ops of one connection");
        assert_ne!(a.token(Op::Recv), ConnId { key: 8, gen: 1 }.token(Op::Recv));
    }

    #[test]
    fn foreign_values_are_rejected() {
        assert_eq!(decode(0), None, "op 0 is never written");
        assert_eq!(decode(u64::MAX), None);
    }

    #[test]
    fn generations_wrap_within_their_bits() {
        let mut gens = Generations { next: GEN_MASK - 1 };
        assert_eq!(gens.draw(), GEN_MASK);
        assert_eq!(gens.draw(), 0);
        assert_eq!(gens.draw(), 1);
        // A wrapped generation still round-trips.
        let id = ConnId { key: 3, gen: gens.draw() };
        assert_eq!(decode(id.token(Op::Send)), Some((Op::Send, id)));
    }
}
