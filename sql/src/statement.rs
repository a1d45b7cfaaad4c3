//! Statement planning.
