//! SHA-256 content digests (`sha256:<hex>`): computed while bytes stream through, and
//! checked against what a manifest or a file name promised.

use std::io::{self, Read, Write};

/// Computes the digest of what is written through it, passing the bytes on to `inner`.
pub struct Hashing<W> {
    inner: W,
    context: ring::digest::Context,
    size: u64,
}

impl<W: Write> Hashing<W> {
    /// Hashes what goes to `inner`.
    pub fn new(inner: W) -> Hashing<W> {
        Hashing {
            inner,
            context: ring::digest::Context::new(&ring::digest::SHA256),
            size: 0,
        }
    }

    /// The digest and size of everything written, and the writer.
    pub fn finish(self) -> (String, u64, W) {
        (
            format_digest(self.context.finish().as_ref()),
            self.size,
            self.inner,
        )
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.context.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The digest and length of everything `reader` yields.
pub fn of_reader(reader: impl Read) -> io::Result<(String, u64)> {
    let mut hashing = Hashing::new(io::sink());
    io::copy(&mut { reader }, &mut hashing)?;
    let (digest, size, _) = hashing.finish();
    Ok((digest, size))
}

/// The digest of `bytes`.
pub fn of_bytes(bytes: &[u8]) -> String {
    format_digest(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn format_digest(hash: &[u8]) -> String {
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The hex part of a well-formed `sha256:` digest, `None` for anything else (so that a
/// digest from a document can never name a path outside the blob directory).
pub fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_in_hex() {
        let empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(of_bytes(b""), empty);
        assert_eq!(of_reader(&b""[..]).expect("read"), (empty.to_string(), 0));
        let (digest, size) = of_reader(&b"abc"[..]).expect("read");
        assert_eq!(
            (digest.as_str(), size),
            (
                "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                3
            )
        );
        assert_eq!(sha256_hex(empty), Some(&empty[7..]));
        for bad in ["sha256:../../etc", "sha512:00", "sha256:E3B0", &empty[1..]] {
            assert_eq!(sha256_hex(bad), None, "{bad}");
        }
    }
}
