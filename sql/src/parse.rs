//! Parsing (owned by the parser work).
