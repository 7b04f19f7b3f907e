//! chatsim: a deterministic simulation and conformance harness for a chat system's image and file
//! transfer protocol. See README.md for the tour.

pub mod protocol;
