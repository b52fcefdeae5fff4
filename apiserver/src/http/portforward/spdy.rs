//! SPDY/3.1 as kubectl port-forward speaks it (moby/spdystream): the frames, an incremental
//! decoder that takes the byte stream in any pieces, and the zlib-compressed header blocks
//! with the SPDY/3 dictionary. No I/O here: `super` runs the connection.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

// ---------------------------------------------------------------------------------------------
// Limits.

/// Largest control frame accepted; kubectl's are under 200 bytes.
pub(super) const MAX_CONTROL_LEN: usize = 64 << 10;
/// Largest decompressed header block accepted.
pub(super) const MAX_HEADER_BLOCK: usize = 64 << 10;
/// Most name/value pairs in one header block.
pub(super) const MAX_HEADER_PAIRS: usize = 128;
/// DATA payloads are handed on in pieces of at most this size, each its own allocation.
pub(super) const MAX_CHUNK: usize = 32 << 10;

// ---------------------------------------------------------------------------------------------
// SPDY/3 constants (draft 3, as moby/spdystream implements it).

pub(super) const VERSION: u16 = 3;
pub(super) const TYPE_SYN_STREAM: u16 = 1;
pub(super) const TYPE_SYN_REPLY: u16 = 2;
pub(super) const TYPE_RST_STREAM: u16 = 3;
pub(super) const TYPE_PING: u16 = 6;
pub(super) const TYPE_GOAWAY: u16 = 7;
pub(super) const TYPE_HEADERS: u16 = 8;
/// FIN, on control frames (SYN_STREAM, SYN_REPLY, HEADERS) and on DATA frames alike.
pub(super) const FLAG_FIN: u8 = 0x01;
/// The largest length a frame header can carry (24 bits).
pub(super) const MAX_LENGTH: usize = 0x00FF_FFFF;

pub(super) const RST_PROTOCOL_ERROR: u32 = 1;
pub(super) const RST_REFUSED_STREAM: u32 = 3;
pub(super) const GOAWAY_PROTOCOL_ERROR: u32 = 1;

/// The zlib dictionary of SPDY/3 header blocks (draft 3 §2.6.10.1; spdy/dictionary.go in
/// moby/spdystream), Adler-32 `0xe3c6a7c2`.
#[rustfmt::skip]
pub(super) const DICTIONARY: [u8; 1423] = [
    0x00, 0x00, 0x00, 0x07, 0x6f, 0x70, 0x74, 0x69,
    0x6f, 0x6e, 0x73, 0x00, 0x00, 0x00, 0x04, 0x68,
    0x65, 0x61, 0x64, 0x00, 0x00, 0x00, 0x04, 0x70,
    0x6f, 0x73, 0x74, 0x00, 0x00, 0x00, 0x03, 0x70,
    0x75, 0x74, 0x00, 0x00, 0x00, 0x06, 0x64, 0x65,
    0x6c, 0x65, 0x74, 0x65, 0x00, 0x00, 0x00, 0x05,
    0x74, 0x72, 0x61, 0x63, 0x65, 0x00, 0x00, 0x00,
    0x06, 0x61, 0x63, 0x63, 0x65, 0x70, 0x74, 0x00,
    0x00, 0x00, 0x0e, 0x61, 0x63, 0x63, 0x65, 0x70,
    0x74, 0x2d, 0x63, 0x68, 0x61, 0x72, 0x73, 0x65,
    0x74, 0x00, 0x00, 0x00, 0x0f, 0x61, 0x63, 0x63,
    0x65, 0x70, 0x74, 0x2d, 0x65, 0x6e, 0x63, 0x6f,
    0x64, 0x69, 0x6e, 0x67, 0x00, 0x00, 0x00, 0x0f,
    0x61, 0x63, 0x63, 0x65, 0x70, 0x74, 0x2d, 0x6c,
    0x61, 0x6e, 0x67, 0x75, 0x61, 0x67, 0x65, 0x00,
    0x00, 0x00, 0x0d, 0x61, 0x63, 0x63, 0x65, 0x70,
    0x74, 0x2d, 0x72, 0x61, 0x6e, 0x67, 0x65, 0x73,
    0x00, 0x00, 0x00, 0x03, 0x61, 0x67, 0x65, 0x00,
    0x00, 0x00, 0x05, 0x61, 0x6c, 0x6c, 0x6f, 0x77,
    0x00, 0x00, 0x00, 0x0d, 0x61, 0x75, 0x74, 0x68,
    0x6f, 0x72, 0x69, 0x7a, 0x61, 0x74, 0x69, 0x6f,
    0x6e, 0x00, 0x00, 0x00, 0x0d, 0x63, 0x61, 0x63,
    0x68, 0x65, 0x2d, 0x63, 0x6f, 0x6e, 0x74, 0x72,
    0x6f, 0x6c, 0x00, 0x00, 0x00, 0x0a, 0x63, 0x6f,
    0x6e, 0x6e, 0x65, 0x63, 0x74, 0x69, 0x6f, 0x6e,
    0x00, 0x00, 0x00, 0x0c, 0x63, 0x6f, 0x6e, 0x74,
    0x65, 0x6e, 0x74, 0x2d, 0x62, 0x61, 0x73, 0x65,
    0x00, 0x00, 0x00, 0x10, 0x63, 0x6f, 0x6e, 0x74,
    0x65, 0x6e, 0x74, 0x2d, 0x65, 0x6e, 0x63, 0x6f,
    0x64, 0x69, 0x6e, 0x67, 0x00, 0x00, 0x00, 0x10,
    0x63, 0x6f, 0x6e, 0x74, 0x65, 0x6e, 0x74, 0x2d,
    0x6c, 0x61, 0x6e, 0x67, 0x75, 0x61, 0x67, 0x65,
    0x00, 0x00, 0x00, 0x0e, 0x63, 0x6f, 0x6e, 0x74,
    0x65, 0x6e, 0x74, 0x2d, 0x6c, 0x65, 0x6e, 0x67,
    0x74, 0x68, 0x00, 0x00, 0x00, 0x10, 0x63, 0x6f,
    0x6e, 0x74, 0x65, 0x6e, 0x74, 0x2d, 0x6c, 0x6f,
    0x63, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x00, 0x00,
    0x00, 0x0b, 0x63, 0x6f, 0x6e, 0x74, 0x65, 0x6e,
    0x74, 0x2d, 0x6d, 0x64, 0x35, 0x00, 0x00, 0x00,
    0x0d, 0x63, 0x6f, 0x6e, 0x74, 0x65, 0x6e, 0x74,
    0x2d, 0x72, 0x61, 0x6e, 0x67, 0x65, 0x00, 0x00,
    0x00, 0x0c, 0x63, 0x6f, 0x6e, 0x74, 0x65, 0x6e,
    0x74, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x00, 0x00,
    0x00, 0x04, 0x64, 0x61, 0x74, 0x65, 0x00, 0x00,
    0x00, 0x04, 0x65, 0x74, 0x61, 0x67, 0x00, 0x00,
    0x00, 0x06, 0x65, 0x78, 0x70, 0x65, 0x63, 0x74,
    0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x70, 0x69,
    0x72, 0x65, 0x73, 0x00, 0x00, 0x00, 0x04, 0x66,
    0x72, 0x6f, 0x6d, 0x00, 0x00, 0x00, 0x04, 0x68,
    0x6f, 0x73, 0x74, 0x00, 0x00, 0x00, 0x08, 0x69,
    0x66, 0x2d, 0x6d, 0x61, 0x74, 0x63, 0x68, 0x00,
    0x00, 0x00, 0x11, 0x69, 0x66, 0x2d, 0x6d, 0x6f,
    0x64, 0x69, 0x66, 0x69, 0x65, 0x64, 0x2d, 0x73,
    0x69, 0x6e, 0x63, 0x65, 0x00, 0x00, 0x00, 0x0d,
    0x69, 0x66, 0x2d, 0x6e, 0x6f, 0x6e, 0x65, 0x2d,
    0x6d, 0x61, 0x74, 0x63, 0x68, 0x00, 0x00, 0x00,
    0x08, 0x69, 0x66, 0x2d, 0x72, 0x61, 0x6e, 0x67,
    0x65, 0x00, 0x00, 0x00, 0x13, 0x69, 0x66, 0x2d,
    0x75, 0x6e, 0x6d, 0x6f, 0x64, 0x69, 0x66, 0x69,
    0x65, 0x64, 0x2d, 0x73, 0x69, 0x6e, 0x63, 0x65,
    0x00, 0x00, 0x00, 0x0d, 0x6c, 0x61, 0x73, 0x74,
    0x2d, 0x6d, 0x6f, 0x64, 0x69, 0x66, 0x69, 0x65,
    0x64, 0x00, 0x00, 0x00, 0x08, 0x6c, 0x6f, 0x63,
    0x61, 0x74, 0x69, 0x6f, 0x6e, 0x00, 0x00, 0x00,
    0x0c, 0x6d, 0x61, 0x78, 0x2d, 0x66, 0x6f, 0x72,
    0x77, 0x61, 0x72, 0x64, 0x73, 0x00, 0x00, 0x00,
    0x06, 0x70, 0x72, 0x61, 0x67, 0x6d, 0x61, 0x00,
    0x00, 0x00, 0x12, 0x70, 0x72, 0x6f, 0x78, 0x79,
    0x2d, 0x61, 0x75, 0x74, 0x68, 0x65, 0x6e, 0x74,
    0x69, 0x63, 0x61, 0x74, 0x65, 0x00, 0x00, 0x00,
    0x13, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x2d, 0x61,
    0x75, 0x74, 0x68, 0x6f, 0x72, 0x69, 0x7a, 0x61,
    0x74, 0x69, 0x6f, 0x6e, 0x00, 0x00, 0x00, 0x05,
    0x72, 0x61, 0x6e, 0x67, 0x65, 0x00, 0x00, 0x00,
    0x07, 0x72, 0x65, 0x66, 0x65, 0x72, 0x65, 0x72,
    0x00, 0x00, 0x00, 0x0b, 0x72, 0x65, 0x74, 0x72,
    0x79, 0x2d, 0x61, 0x66, 0x74, 0x65, 0x72, 0x00,
    0x00, 0x00, 0x06, 0x73, 0x65, 0x72, 0x76, 0x65,
    0x72, 0x00, 0x00, 0x00, 0x02, 0x74, 0x65, 0x00,
    0x00, 0x00, 0x07, 0x74, 0x72, 0x61, 0x69, 0x6c,
    0x65, 0x72, 0x00, 0x00, 0x00, 0x11, 0x74, 0x72,
    0x61, 0x6e, 0x73, 0x66, 0x65, 0x72, 0x2d, 0x65,
    0x6e, 0x63, 0x6f, 0x64, 0x69, 0x6e, 0x67, 0x00,
    0x00, 0x00, 0x07, 0x75, 0x70, 0x67, 0x72, 0x61,
    0x64, 0x65, 0x00, 0x00, 0x00, 0x0a, 0x75, 0x73,
    0x65, 0x72, 0x2d, 0x61, 0x67, 0x65, 0x6e, 0x74,
    0x00, 0x00, 0x00, 0x04, 0x76, 0x61, 0x72, 0x79,
    0x00, 0x00, 0x00, 0x03, 0x76, 0x69, 0x61, 0x00,
    0x00, 0x00, 0x07, 0x77, 0x61, 0x72, 0x6e, 0x69,
    0x6e, 0x67, 0x00, 0x00, 0x00, 0x10, 0x77, 0x77,
    0x77, 0x2d, 0x61, 0x75, 0x74, 0x68, 0x65, 0x6e,
    0x74, 0x69, 0x63, 0x61, 0x74, 0x65, 0x00, 0x00,
    0x00, 0x06, 0x6d, 0x65, 0x74, 0x68, 0x6f, 0x64,
    0x00, 0x00, 0x00, 0x03, 0x67, 0x65, 0x74, 0x00,
    0x00, 0x00, 0x06, 0x73, 0x74, 0x61, 0x74, 0x75,
    0x73, 0x00, 0x00, 0x00, 0x06, 0x32, 0x30, 0x30,
    0x20, 0x4f, 0x4b, 0x00, 0x00, 0x00, 0x07, 0x76,
    0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x00, 0x00,
    0x00, 0x08, 0x48, 0x54, 0x54, 0x50, 0x2f, 0x31,
    0x2e, 0x31, 0x00, 0x00, 0x00, 0x03, 0x75, 0x72,
    0x6c, 0x00, 0x00, 0x00, 0x06, 0x70, 0x75, 0x62,
    0x6c, 0x69, 0x63, 0x00, 0x00, 0x00, 0x0a, 0x73,
    0x65, 0x74, 0x2d, 0x63, 0x6f, 0x6f, 0x6b, 0x69,
    0x65, 0x00, 0x00, 0x00, 0x0a, 0x6b, 0x65, 0x65,
    0x70, 0x2d, 0x61, 0x6c, 0x69, 0x76, 0x65, 0x00,
    0x00, 0x00, 0x06, 0x6f, 0x72, 0x69, 0x67, 0x69,
    0x6e, 0x31, 0x30, 0x30, 0x31, 0x30, 0x31, 0x32,
    0x30, 0x31, 0x32, 0x30, 0x32, 0x32, 0x30, 0x35,
    0x32, 0x30, 0x36, 0x33, 0x30, 0x30, 0x33, 0x30,
    0x32, 0x33, 0x30, 0x33, 0x33, 0x30, 0x34, 0x33,
    0x30, 0x35, 0x33, 0x30, 0x36, 0x33, 0x30, 0x37,
    0x34, 0x30, 0x32, 0x34, 0x30, 0x35, 0x34, 0x30,
    0x36, 0x34, 0x30, 0x37, 0x34, 0x30, 0x38, 0x34,
    0x30, 0x39, 0x34, 0x31, 0x30, 0x34, 0x31, 0x31,
    0x34, 0x31, 0x32, 0x34, 0x31, 0x33, 0x34, 0x31,
    0x34, 0x34, 0x31, 0x35, 0x34, 0x31, 0x36, 0x34,
    0x31, 0x37, 0x35, 0x30, 0x32, 0x35, 0x30, 0x34,
    0x35, 0x30, 0x35, 0x32, 0x30, 0x33, 0x20, 0x4e,
    0x6f, 0x6e, 0x2d, 0x41, 0x75, 0x74, 0x68, 0x6f,
    0x72, 0x69, 0x74, 0x61, 0x74, 0x69, 0x76, 0x65,
    0x20, 0x49, 0x6e, 0x66, 0x6f, 0x72, 0x6d, 0x61,
    0x74, 0x69, 0x6f, 0x6e, 0x32, 0x30, 0x34, 0x20,
    0x4e, 0x6f, 0x20, 0x43, 0x6f, 0x6e, 0x74, 0x65,
    0x6e, 0x74, 0x33, 0x30, 0x31, 0x20, 0x4d, 0x6f,
    0x76, 0x65, 0x64, 0x20, 0x50, 0x65, 0x72, 0x6d,
    0x61, 0x6e, 0x65, 0x6e, 0x74, 0x6c, 0x79, 0x34,
    0x30, 0x30, 0x20, 0x42, 0x61, 0x64, 0x20, 0x52,
    0x65, 0x71, 0x75, 0x65, 0x73, 0x74, 0x34, 0x30,
    0x31, 0x20, 0x55, 0x6e, 0x61, 0x75, 0x74, 0x68,
    0x6f, 0x72, 0x69, 0x7a, 0x65, 0x64, 0x34, 0x30,
    0x33, 0x20, 0x46, 0x6f, 0x72, 0x62, 0x69, 0x64,
    0x64, 0x65, 0x6e, 0x34, 0x30, 0x34, 0x20, 0x4e,
    0x6f, 0x74, 0x20, 0x46, 0x6f, 0x75, 0x6e, 0x64,
    0x35, 0x30, 0x30, 0x20, 0x49, 0x6e, 0x74, 0x65,
    0x72, 0x6e, 0x61, 0x6c, 0x20, 0x53, 0x65, 0x72,
    0x76, 0x65, 0x72, 0x20, 0x45, 0x72, 0x72, 0x6f,
    0x72, 0x35, 0x30, 0x31, 0x20, 0x4e, 0x6f, 0x74,
    0x20, 0x49, 0x6d, 0x70, 0x6c, 0x65, 0x6d, 0x65,
    0x6e, 0x74, 0x65, 0x64, 0x35, 0x30, 0x33, 0x20,
    0x53, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65, 0x20,
    0x55, 0x6e, 0x61, 0x76, 0x61, 0x69, 0x6c, 0x61,
    0x62, 0x6c, 0x65, 0x4a, 0x61, 0x6e, 0x20, 0x46,
    0x65, 0x62, 0x20, 0x4d, 0x61, 0x72, 0x20, 0x41,
    0x70, 0x72, 0x20, 0x4d, 0x61, 0x79, 0x20, 0x4a,
    0x75, 0x6e, 0x20, 0x4a, 0x75, 0x6c, 0x20, 0x41,
    0x75, 0x67, 0x20, 0x53, 0x65, 0x70, 0x74, 0x20,
    0x4f, 0x63, 0x74, 0x20, 0x4e, 0x6f, 0x76, 0x20,
    0x44, 0x65, 0x63, 0x20, 0x30, 0x30, 0x3a, 0x30,
    0x30, 0x3a, 0x30, 0x30, 0x20, 0x4d, 0x6f, 0x6e,
    0x2c, 0x20, 0x54, 0x75, 0x65, 0x2c, 0x20, 0x57,
    0x65, 0x64, 0x2c, 0x20, 0x54, 0x68, 0x75, 0x2c,
    0x20, 0x46, 0x72, 0x69, 0x2c, 0x20, 0x53, 0x61,
    0x74, 0x2c, 0x20, 0x53, 0x75, 0x6e, 0x2c, 0x20,
    0x47, 0x4d, 0x54, 0x63, 0x68, 0x75, 0x6e, 0x6b,
    0x65, 0x64, 0x2c, 0x74, 0x65, 0x78, 0x74, 0x2f,
    0x68, 0x74, 0x6d, 0x6c, 0x2c, 0x69, 0x6d, 0x61,
    0x67, 0x65, 0x2f, 0x70, 0x6e, 0x67, 0x2c, 0x69,
    0x6d, 0x61, 0x67, 0x65, 0x2f, 0x6a, 0x70, 0x67,
    0x2c, 0x69, 0x6d, 0x61, 0x67, 0x65, 0x2f, 0x67,
    0x69, 0x66, 0x2c, 0x61, 0x70, 0x70, 0x6c, 0x69,
    0x63, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x2f, 0x78,
    0x6d, 0x6c, 0x2c, 0x61, 0x70, 0x70, 0x6c, 0x69,
    0x63, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x2f, 0x78,
    0x68, 0x74, 0x6d, 0x6c, 0x2b, 0x78, 0x6d, 0x6c,
    0x2c, 0x74, 0x65, 0x78, 0x74, 0x2f, 0x70, 0x6c,
    0x61, 0x69, 0x6e, 0x2c, 0x74, 0x65, 0x78, 0x74,
    0x2f, 0x6a, 0x61, 0x76, 0x61, 0x73, 0x63, 0x72,
    0x69, 0x70, 0x74, 0x2c, 0x70, 0x75, 0x62, 0x6c,
    0x69, 0x63, 0x70, 0x72, 0x69, 0x76, 0x61, 0x74,
    0x65, 0x6d, 0x61, 0x78, 0x2d, 0x61, 0x67, 0x65,
    0x3d, 0x67, 0x7a, 0x69, 0x70, 0x2c, 0x64, 0x65,
    0x66, 0x6c, 0x61, 0x74, 0x65, 0x2c, 0x73, 0x64,
    0x63, 0x68, 0x63, 0x68, 0x61, 0x72, 0x73, 0x65,
    0x74, 0x3d, 0x75, 0x74, 0x66, 0x2d, 0x38, 0x63,
    0x68, 0x61, 0x72, 0x73, 0x65, 0x74, 0x3d, 0x69,
    0x73, 0x6f, 0x2d, 0x38, 0x38, 0x35, 0x39, 0x2d,
    0x31, 0x2c, 0x75, 0x74, 0x66, 0x2d, 0x2c, 0x2a,
    0x2c, 0x65, 0x6e, 0x71, 0x3d, 0x30, 0x2e,
];

/// Why a connection is given up (a GOAWAY with PROTOCOL_ERROR is sent, then the socket closes).
#[derive(Debug, thiserror::Error)]
pub(super) enum Error {
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    #[error(
        "control frame of type {frame_type} has length {len}, over the {MAX_CONTROL_LEN}-byte limit"
    )]
    TooLarge { frame_type: u16, len: usize },
    #[error("malformed {0} frame")]
    Malformed(&'static str),
    #[error("header block: {0}")]
    Headers(&'static str),
    #[error("header compression: {0}")]
    Zlib(String),
    /// The writer has stopped (the socket failed): not the peer's fault, nothing to send.
    #[error("the WebSocket is gone")]
    Gone,
}

// ---------------------------------------------------------------------------------------------
// Frames.

/// A decoded frame. Header blocks stay compressed: they must be inflated in arrival order.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Frame {
    SynStream {
        stream_id: u32,
        flags: u8,
        block: Bytes,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        block: Bytes,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        block: Bytes,
    },
    /// SETTINGS, WINDOW_UPDATE, CREDENTIAL and unknown control types: nothing to do.
    Ignored {
        frame_type: u16,
    },
    /// A piece of a DATA frame (at most [`MAX_CHUNK`] bytes); `fin` is set on the last piece
    /// of a frame that carries FIN. Pieces are handed on as they arrive, so a large frame is
    /// never buffered whole.
    Data {
        stream_id: u32,
        data: Bytes,
        fin: bool,
    },
}

/// Turns the byte stream into frames; holds at most one incomplete control frame (plus the
/// message being taken apart).
#[derive(Default)]
pub(super) struct Decoder {
    buf: BytesMut,
    /// The DATA frame whose payload is being passed on: stream, bytes still due, FIN.
    data: Option<(u32, usize, bool)>,
}

impl Decoder {
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if self.buf.is_empty() && self.buf.capacity() > 4 * MAX_CONTROL_LEN {
            // Do not keep a large message's allocation for the life of the connection.
            self.buf = BytesMut::new();
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame (or DATA piece), `None` if more bytes are needed.
    pub(super) fn next_frame(&mut self) -> Result<Option<Frame>, Error> {
        if let Some((stream_id, due, fin)) = self.data {
            let n = due.min(self.buf.len()).min(MAX_CHUNK);
            if n == 0 {
                return Ok(None);
            }
            let data = Bytes::copy_from_slice(&self.buf[..n]);
            self.buf.advance(n);
            let due = due - n;
            self.data = (due > 0).then_some((stream_id, due, fin));
            return Ok(Some(Frame::Data {
                stream_id,
                data,
                fin: fin && due == 0,
            }));
        }
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let word = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        let flags = self.buf[4];
        let len = usize::from(self.buf[5]) << 16
            | usize::from(self.buf[6]) << 8
            | usize::from(self.buf[7]);
        if word & 0x8000_0000 == 0 {
            self.buf.advance(8);
            let stream_id = word & 0x7FFF_FFFF;
            let fin = flags & FLAG_FIN != 0;
            if len == 0 {
                return Ok(Some(Frame::Data {
                    stream_id,
                    data: Bytes::new(),
                    fin,
                }));
            }
            self.data = Some((stream_id, len, fin));
            return self.next_frame();
        }
        let version = ((word >> 16) & 0x7FFF) as u16;
        let frame_type = (word & 0xFFFF) as u16;
        if version != VERSION {
            return Err(Error::Version(version));
        }
        if len > MAX_CONTROL_LEN {
            return Err(Error::TooLarge { frame_type, len });
        }
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        self.buf.advance(8);
        let mut p = self.buf.split_to(len).freeze();
        let frame = match frame_type {
            TYPE_SYN_STREAM => {
                // Stream id, associated stream id, priority (3 bits) and slot, then the block.
                if p.len() < 10 {
                    return Err(Error::Malformed("SYN_STREAM"));
                }
                let stream_id = p.get_u32() & 0x7FFF_FFFF;
                if stream_id == 0 {
                    // Not even a RST can answer it (spdystream rejects stream 0 outright).
                    return Err(Error::Malformed("SYN_STREAM"));
                }
                p.advance(6);
                Frame::SynStream {
                    stream_id,
                    flags,
                    block: p,
                }
            }
            TYPE_SYN_REPLY | TYPE_HEADERS => {
                if p.len() < 4 {
                    return Err(Error::Malformed("SYN_REPLY/HEADERS"));
                }
                let stream_id = p.get_u32() & 0x7FFF_FFFF;
                if frame_type == TYPE_SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        flags,
                        block: p,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        flags,
                        block: p,
                    }
                }
            }
            TYPE_RST_STREAM => {
                if p.len() < 8 {
                    return Err(Error::Malformed("RST_STREAM"));
                }
                Frame::RstStream {
                    stream_id: p.get_u32() & 0x7FFF_FFFF,
                    status: p.get_u32(),
                }
            }
            TYPE_PING => {
                if p.len() < 4 {
                    return Err(Error::Malformed("PING"));
                }
                Frame::Ping { id: p.get_u32() }
            }
            TYPE_GOAWAY => {
                if p.len() < 4 {
                    return Err(Error::Malformed("GOAWAY"));
                }
                let last_good = p.get_u32() & 0x7FFF_FFFF;
                let status = if p.len() >= 4 { p.get_u32() } else { 0 };
                Frame::GoAway { last_good, status }
            }
            _ => Frame::Ignored { frame_type },
        };
        Ok(Some(frame))
    }
}

/// A control frame: header, then `payload` (at most [`MAX_LENGTH`] bytes; ours are small).
pub(super) fn control_frame(frame_type: u16, flags: u8, payload: &[&[u8]]) -> Bytes {
    let len: usize = payload.iter().map(|p| p.len()).sum();
    debug_assert!(len <= MAX_LENGTH);
    let mut out = BytesMut::with_capacity(8 + len);
    out.put_u16(0x8000 | VERSION);
    out.put_u16(frame_type);
    out.put_u32(u32::from(flags) << 24 | (len & MAX_LENGTH) as u32);
    for part in payload {
        out.put_slice(part);
    }
    out.freeze()
}

/// A DATA frame; `data` is at most [`MAX_LENGTH`] bytes (ours are at most [`MAX_CHUNK`]).
pub(super) fn data_frame(stream_id: u32, fin: bool, data: &[u8]) -> Bytes {
    debug_assert!(data.len() <= MAX_LENGTH);
    let mut out = BytesMut::with_capacity(8 + data.len());
    out.put_u32(stream_id & 0x7FFF_FFFF);
    out.put_u32(u32::from(if fin { FLAG_FIN } else { 0 }) << 24 | (data.len() & MAX_LENGTH) as u32);
    out.put_slice(data);
    out.freeze()
}

pub(super) fn syn_reply_frame(stream_id: u32, fin: bool, block: &[u8]) -> Bytes {
    let flags = if fin { FLAG_FIN } else { 0 };
    control_frame(TYPE_SYN_REPLY, flags, &[&stream_id.to_be_bytes(), block])
}

pub(super) fn rst_stream_frame(stream_id: u32, status: u32) -> Bytes {
    control_frame(
        TYPE_RST_STREAM,
        0,
        &[&stream_id.to_be_bytes(), &status.to_be_bytes()],
    )
}

pub(super) fn ping_frame(id: u32) -> Bytes {
    control_frame(TYPE_PING, 0, &[&id.to_be_bytes()])
}

pub(super) fn goaway_frame(last_good: u32, status: u32) -> Bytes {
    control_frame(
        TYPE_GOAWAY,
        0,
        &[&last_good.to_be_bytes(), &status.to_be_bytes()],
    )
}

// ---------------------------------------------------------------------------------------------
// Header blocks: a count, then length-prefixed names and values (all lengths 32-bit), the whole
// deflated in one zlib stream per direction, flushed (sync) at the end of every block.

/// Name/value pairs; names are lower case on the wire, several values are NUL-separated.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Headers(pub(super) Vec<(String, String)>);

impl Headers {
    /// The first value of `name`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.split('\0').next())
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_u32(self.0.len() as u32);
        for (name, value) in &self.0 {
            let name = name.to_ascii_lowercase();
            out.put_u32(name.len() as u32);
            out.put_slice(name.as_bytes());
            out.put_u32(value.len() as u32);
            out.put_slice(value.as_bytes());
        }
        out
    }

    pub(super) fn decode(mut raw: &[u8]) -> Result<Headers, Error> {
        fn take<'a>(raw: &mut &'a [u8]) -> Result<&'a [u8], Error> {
            if raw.len() < 4 {
                return Err(Error::Headers("truncated"));
            }
            let len = raw.get_u32() as usize;
            if raw.len() < len {
                return Err(Error::Headers("truncated"));
            }
            let (field, rest) = raw.split_at(len);
            *raw = rest;
            Ok(field)
        }
        if raw.len() < 4 {
            return Err(Error::Headers("truncated"));
        }
        let count = raw.get_u32() as usize;
        if count > MAX_HEADER_PAIRS {
            return Err(Error::Headers("too many pairs"));
        }
        let mut pairs = Vec::with_capacity(count);
        for _ in 0..count {
            let name = String::from_utf8_lossy(take(&mut raw)?).to_ascii_lowercase();
            let value = String::from_utf8_lossy(take(&mut raw)?).into_owned();
            pairs.push((name, value));
        }
        Ok(Headers(pairs))
    }
}

/// Our direction's compression context.
pub(super) struct HeaderCompressor(Compress);

impl HeaderCompressor {
    pub(super) fn new() -> Result<Self, Error> {
        let mut c = Compress::new(Compression::best(), true);
        c.set_dictionary(&DICTIONARY)
            .map_err(|e| Error::Zlib(e.to_string()))?;
        Ok(Self(c))
    }

    /// One header block, deflated and sync-flushed so the peer can inflate it whole.
    pub(super) fn compress(&mut self, headers: &Headers) -> Result<Vec<u8>, Error> {
        let raw = headers.encode();
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(256);
            }
            let before = self.0.total_in();
            self.0
                .compress_vec(&raw[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| Error::Zlib(e.to_string()))?;
            consumed += (self.0.total_in() - before) as usize;
            // The flush is complete once all input is taken and output space was left over.
            if consumed >= raw.len() && out.len() < out.capacity() {
                return Ok(out);
            }
            if out.len() > MAX_HEADER_BLOCK + raw.len() {
                return Err(Error::Zlib("compressed block does not end".into()));
            }
        }
    }
}

/// The peer's compression context.
pub(super) struct HeaderDecompressor(Decompress);

impl HeaderDecompressor {
    pub(super) fn new() -> Self {
        Self(Decompress::new(true))
    }

    /// Inflates one header block (the whole payload must be used) and parses it.
    pub(super) fn decompress(&mut self, block: &[u8]) -> Result<Headers, Error> {
        let mut out = Vec::with_capacity(256);
        let mut consumed = 0;
        loop {
            if out.len() == out.capacity() {
                if out.len() >= MAX_HEADER_BLOCK {
                    return Err(Error::Headers("too large"));
                }
                out.reserve(out.len().max(256).min(MAX_HEADER_BLOCK - out.len()));
            }
            let (in_before, out_before) = (self.0.total_in(), self.0.total_out());
            let result = self
                .0
                .decompress_vec(&block[consumed..], &mut out, FlushDecompress::Sync);
            let took = (self.0.total_in() - in_before) as usize;
            let gave = (self.0.total_out() - out_before) as usize;
            consumed += took;
            match result {
                Ok(Status::Ok | Status::BufError) => {}
                // The peer must never end its stream: later blocks would have no context.
                Ok(Status::StreamEnd) => return Err(Error::Zlib("stream ended".into())),
                Err(e) if e.needs_dictionary().is_some() => {
                    self.0
                        .set_dictionary(&DICTIONARY)
                        .map_err(|e| Error::Zlib(e.to_string()))?;
                    continue;
                }
                Err(e) => return Err(Error::Zlib(e.to_string())),
            }
            if consumed >= block.len() && out.len() < out.capacity() {
                break;
            }
            if took == 0 && gave == 0 && out.len() < out.capacity() {
                return Err(Error::Zlib("no progress".into()));
            }
        }
        Headers::decode(&out)
    }
}

#[cfg(test)]
pub(super) mod test_support {
    use super::*;

    /// A client SYN_STREAM (as spdystream writes it: priority 0, slot 0).
    pub(in crate::http::portforward) fn syn_stream_frame(
        stream_id: u32,
        flags: u8,
        block: &[u8],
    ) -> Bytes {
        control_frame(
            TYPE_SYN_STREAM,
            flags,
            &[&stream_id.to_be_bytes(), &[0; 6], block],
        )
    }

    pub(in crate::http::portforward) fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers(
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::test_support::*;
    use super::*;

    /// Feeds `bytes` to a decoder `step` bytes at a time and collects every frame.
    fn decode_all(bytes: &[u8], step: usize) -> Vec<Frame> {
        let mut decoder = Decoder::default();
        let mut frames = Vec::new();
        for piece in bytes.chunks(step) {
            decoder.push(piece);
            while let Some(frame) = decoder.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert!(decoder.buf.is_empty() && decoder.data.is_none());
        frames
    }

    #[test]
    fn dictionary_is_spdy3() {
        // The Adler-32 that SPDY/3 peers put in the zlib header (FDICT).
        let (mut a, mut b) = (1u32, 0u32);
        for byte in DICTIONARY {
            a = (a + u32::from(byte)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(b << 16 | a, 0xe3c6_a7c2);
    }

    #[test]
    fn frames_round_trip_whatever_the_boundaries() {
        let big: Vec<u8> = (0..MAX_CHUNK * 2 + 5).map(|i| i as u8).collect();
        let mut wire = Vec::new();
        for frame in [
            syn_stream_frame(1, FLAG_FIN, b"block"),
            syn_reply_frame(1, false, b"reply"),
            control_frame(TYPE_HEADERS, FLAG_FIN, &[&7u32.to_be_bytes(), b"hb"]),
            rst_stream_frame(3, 5),
            ping_frame(9),
            goaway_frame(11, 1),
            control_frame(9, 0, &[&[0; 8]]), // WINDOW_UPDATE
            control_frame(4, 0, &[&[0; 4]]), // SETTINGS, no entries
            data_frame(3, false, b"hello"),
            data_frame(3, true, b""),
            data_frame(5, true, &big),
        ] {
            wire.extend_from_slice(&frame);
        }
        // The fixed layouts, byte for byte.
        assert_eq!(&ping_frame(9)[..], [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 9]);
        assert_eq!(
            &rst_stream_frame(3, 5)[..],
            [0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 5]
        );
        assert_eq!(
            &data_frame(3, true, b"ab")[..],
            [0, 0, 0, 3, 1, 0, 0, 2, b'a', b'b']
        );
        assert_eq!(
            &syn_reply_frame(1, false, b"x")[..],
            [0x80, 3, 0, 2, 0, 0, 0, 5, 0, 0, 0, 1, b'x']
        );
        for step in [1, 3, 7, 4096, wire.len()] {
            let frames = decode_all(&wire, step);
            let expected = vec![
                Frame::SynStream {
                    stream_id: 1,
                    flags: FLAG_FIN,
                    block: Bytes::from_static(b"block"),
                },
                Frame::SynReply {
                    stream_id: 1,
                    flags: 0,
                    block: Bytes::from_static(b"reply"),
                },
                Frame::Headers {
                    stream_id: 7,
                    flags: FLAG_FIN,
                    block: Bytes::from_static(b"hb"),
                },
                Frame::RstStream {
                    stream_id: 3,
                    status: 5,
                },
                Frame::Ping { id: 9 },
                Frame::GoAway {
                    last_good: 11,
                    status: 1,
                },
                Frame::Ignored { frame_type: 9 },
                Frame::Ignored { frame_type: 4 },
            ];
            // DATA comes in pieces of at most MAX_CHUNK, split wherever the input was.
            let (head, data): (Vec<_>, Vec<_>) = frames
                .into_iter()
                .partition(|f| !matches!(f, Frame::Data { .. }));
            assert_eq!(head, expected);
            let mut by_stream: HashMap<u32, (Vec<u8>, usize)> = HashMap::new();
            for frame in data {
                let Frame::Data {
                    stream_id,
                    data,
                    fin,
                } = frame
                else {
                    unreachable!()
                };
                assert!(data.len() <= MAX_CHUNK);
                let entry = by_stream.entry(stream_id).or_default();
                assert_eq!(entry.1, 0, "data after FIN");
                entry.0.extend_from_slice(&data);
                entry.1 += usize::from(fin);
            }
            assert_eq!(by_stream[&3], (b"hello".to_vec(), 1));
            assert_eq!(by_stream[&5], (big.clone(), 1));
        }
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let mut decoder = Decoder::default();
        decoder.push(&[0x80, 2, 0, 1, 0, 0, 0, 0]);
        assert!(matches!(decoder.next_frame(), Err(Error::Version(2))));
        let mut decoder = Decoder::default();
        decoder.push(&[0x80, 3, 0, 1, 0, 0xFF, 0xFF, 0xFF]);
        assert!(matches!(decoder.next_frame(), Err(Error::TooLarge { .. })));
        for short in [
            control_frame(TYPE_SYN_STREAM, 0, &[&[0; 9]]),
            syn_stream_frame(0, 0, b""),
            control_frame(TYPE_SYN_REPLY, 0, &[&[0; 3]]),
            control_frame(TYPE_RST_STREAM, 0, &[&[0; 7]]),
            control_frame(TYPE_PING, 0, &[&[0; 3]]),
            control_frame(TYPE_GOAWAY, 0, &[&[0; 3]]),
        ] {
            let mut decoder = Decoder::default();
            decoder.push(&short);
            assert!(
                matches!(decoder.next_frame(), Err(Error::Malformed(_))),
                "{short:?}"
            );
        }
        assert!(Headers::decode(&[0, 0, 0, 1, 0, 0, 0, 9, b'a']).is_err());
        assert!(Headers::decode(&[0, 0, 1, 0]).is_err());
        assert!(
            HeaderDecompressor::new()
                .decompress(b"not zlib at all")
                .is_err()
        );
        // Pseudo-random garbage through the decoder and the inflater: errors only.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for round in 0..2000 {
            let mut decoder = Decoder::default();
            let mut inflater = HeaderDecompressor::new();
            let len = round % 97 + 1;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            // Make every other input look like a SPDY/3 control frame, to get past the header.
            let mut framed = bytes.clone();
            if round % 2 == 0 && framed.len() >= 8 {
                framed[..4].copy_from_slice(&[0x80, 3, 0, (round % 10) as u8]);
                framed[5] = 0;
            }
            decoder.push(&framed);
            while let Ok(Some(_)) = decoder.next_frame() {}
            let _ = inflater.decompress(&bytes);
            let _ = Headers::decode(&bytes);
        }
    }

    #[test]
    fn header_blocks_round_trip_in_one_context() {
        let mut deflater = HeaderCompressor::new().unwrap();
        let mut inflater = HeaderDecompressor::new();
        let blocks = [
            headers(&[
                ("streamtype", "error"),
                ("port", "8080"),
                ("requestid", "0"),
            ]),
            headers(&[("streamtype", "data"), ("port", "8080"), ("requestid", "0")]),
            headers(&[]),
            headers(&[("x", "a\0b")]),
        ];
        let mut first = true;
        for block in &blocks {
            let compressed = deflater.compress(block).unwrap();
            if first {
                // zlib header with FDICT, then the dictionary's id.
                assert_eq!(compressed[0], 0x78);
                assert_ne!(compressed[1] & 0x20, 0);
                assert_eq!(compressed[2..6], [0xe3, 0xc6, 0xa7, 0xc2]);
                first = false;
            }
            // Sync flush: each block ends on an empty stored block, so it inflates whole.
            assert_eq!(compressed[compressed.len() - 4..], [0, 0, 0xff, 0xff]);
            assert_eq!(&inflater.decompress(&compressed).unwrap(), block);
        }
        assert_eq!(blocks[3].get("x"), Some("a"));
        assert_eq!(blocks[0].get("port"), Some("8080"));
    }

    #[test]
    fn inflates_blocks_from_another_zlib() {
        // Made by C zlib (Python's zlib, level 9, zdict = the SPDY/3 dictionary, Z_SYNC_FLUSH
        // after each block, one stream), as Go's compress/zlib does for kubectl. The second
        // block back-references the first, so it inflates only in the shared context.
        let first = "78f9e3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45e01c6061606100a4398b20d198094ade8c0600000000ffff";
        let second = "c2aa19540e2512d60b000000ffff";
        let unhex = |s: &str| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect::<Vec<u8>>()
        };
        let mut inflater = HeaderDecompressor::new();
        assert_eq!(
            inflater.decompress(&unhex(first)).unwrap(),
            headers(&[
                ("streamtype", "error"),
                ("port", "8080"),
                ("requestid", "0")
            ])
        );
        assert_eq!(
            inflater.decompress(&unhex(second)).unwrap(),
            headers(&[("streamtype", "data"), ("port", "8080"), ("requestid", "0")])
        );
        assert!(
            HeaderDecompressor::new()
                .decompress(&unhex(second))
                .is_err()
        );
    }
}
