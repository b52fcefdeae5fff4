//! Router tests without binding a socket (tower `oneshot`).
