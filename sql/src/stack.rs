//! Growing the stack for the planner's recursive walks.
//!
//! Planning recurses once per level of expression and query nesting, and in debug
//! builds each level can take tens of kilobytes of stack; the threads that plan
//! (the engine's coordinator, a caller's thread) may have as little as 2 MiB. Recursive
//! entry points call [`grow`], which switches to a fresh heap-allocated stack segment
//! when the current one is nearly used up. The depth itself is bounded by the parser
//! ([`crate::parse::MAX_NESTING`]), so the total stays bounded too.

/// Below this much remaining stack, [`grow`] continues on a new segment.
const RED_ZONE: usize = 1024 * 1024;
/// The size of each new segment.
const SEGMENT: usize = 8 * 1024 * 1024;

/// Runs `f`, on a new stack segment if little of the current one is left.
pub(crate) fn grow<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}
