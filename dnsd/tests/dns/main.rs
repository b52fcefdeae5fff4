//! dnsd over the wire, on loopback only: the server test (UDP and TCP against the index) and
//! the forwarding tests (a fake upstream on 127.0.0.1, port 0).

mod forward;
mod server;
mod support;
