//! The CRI log format the kubelet reads (`<RFC 3339 time> <stream> <P|F> <content>` per
//! line, containerd's `cio` and the kubelet's `kuberuntime/logs`): podd copies each
//! container's stdout and stderr into it, so `kubectl logs` can show timestamps and filter
//! by time.

use std::io::Write;

use tokio::io::AsyncReadExt;

/// A container's output line longer than this is split into partial (`P`) entries, as
/// containerd does (its default `max_container_log_line_size`).
const MAX_LINE: usize = 16 * 1024;

/// Which of the container's streams an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One entry of a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// When podd read it.
    pub time: jiff::Timestamp,
    /// The time as written (RFC 3339 with nanoseconds), for `--timestamps`.
    pub time_text: &'a str,
    /// The stream.
    pub stream: Stream,
    /// `F`: the content ends a line (a newline follows it in the output); `P`: a part of one.
    pub full: bool,
    /// The content, without the newline.
    pub content: &'a [u8],
}

impl Entry<'_> {
    /// The bytes `kubectl logs` shows for this entry, with the time first for `--timestamps`.
    pub fn render(&self, timestamps: bool, out: &mut Vec<u8>) {
        if timestamps {
            out.extend_from_slice(self.time_text.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(self.content);
        if self.full {
            out.push(b'\n');
        }
    }
}

/// Parses one line of a log file (without its newline); `None` for a malformed line.
pub fn parse(line: &[u8]) -> Option<Entry<'_>> {
    let mut fields = line.splitn(4, |b| *b == b' ');
    let time_text = std::str::from_utf8(fields.next()?).ok()?;
    let stream = match fields.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let full = match fields.next()? {
        b"F" => true,
        b"P" => false,
        _ => return None,
    };
    Some(Entry {
        time: time_text.parse().ok()?,
        time_text,
        stream,
        full,
        content: fields.next().unwrap_or(b""),
    })
}

/// Appends one entry to `out` in the file format.
fn format(time: jiff::Timestamp, stream: Stream, full: bool, content: &[u8], out: &mut Vec<u8>) {
    // Always nine fractional digits, so entries sort and align (Go's RFC3339Nano trims them;
    // both parse the same).
    let _ = write!(
        out,
        "{} {} {} ",
        time.strftime("%Y-%m-%dT%H:%M:%S.%NZ"),
        stream.name(),
        if full { "F" } else { "P" }
    );
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// Splits newly read output into entries: complete lines become `F` entries; what is left
/// stays in `pending` unless it has grown past [`MAX_LINE`] or `eof` is set (then `P`).
fn entries(stream: Stream, pending: &mut Vec<u8>, eof: bool, out: &mut Vec<u8>) {
    let time = jiff::Timestamp::now();
    let mut start = 0;
    while let Some(end) = pending[start..].iter().position(|b| *b == b'\n') {
        let line = &pending[start..start + end];
        for (i, chunk) in line.chunks(MAX_LINE).enumerate() {
            let last = (i + 1) * MAX_LINE >= line.len();
            format(time, stream, last, chunk, out);
        }
        if line.is_empty() {
            format(time, stream, true, b"", out);
        }
        start += end + 1;
    }
    pending.drain(..start);
    if !pending.is_empty() && (eof || pending.len() >= MAX_LINE) {
        format(time, stream, false, pending, out);
        pending.clear();
    }
}

/// Copies a container's stdout and stderr into its log file until both end.
pub async fn copy(
    stdout: Option<tokio::process::ChildStdout>,
    stderr: Option<tokio::process::ChildStderr>,
    mut file: std::fs::File,
) {
    let mut streams = [
        (
            stdout.map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            Stream::Stdout,
        ),
        (
            stderr.map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            Stream::Stderr,
        ),
    ];
    let mut pending = [Vec::new(), Vec::new()];
    let mut buf = [vec![0u8; 8192], vec![0u8; 8192]];
    let mut out = Vec::new();
    loop {
        let [(first, _), (second, _)] = &mut streams;
        let (index, read) = match (first.as_mut(), second.as_mut()) {
            (None, None) => break,
            (Some(a), None) => (0, a.read(&mut buf[0]).await),
            (None, Some(b)) => (1, b.read(&mut buf[1]).await),
            (Some(a), Some(b)) => {
                let [buf_a, buf_b] = &mut buf;
                tokio::select! {
                    r = a.read(buf_a) => (0, r),
                    r = b.read(buf_b) => (1, r),
                }
            }
        };
        let stream = streams[index].1;
        out.clear();
        match read {
            Ok(n) if n > 0 => {
                pending[index].extend_from_slice(&buf[index][..n]);
                entries(stream, &mut pending[index], false, &mut out);
            }
            _ => {
                entries(stream, &mut pending[index], true, &mut out);
                streams[index].0 = None;
            }
        }
        // A regular file: the write goes to the page cache and does not block for long.
        if !out.is_empty() && file.write_all(&out).is_err() {
            tracing::debug!("write a container log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8], eof: bool) -> (String, Vec<u8>) {
        let mut pending = input.to_vec();
        let mut out = Vec::new();
        entries(Stream::Stdout, &mut pending, eof, &mut out);
        (String::from_utf8(out).expect("utf-8"), pending)
    }

    #[test]
    fn lines_become_full_entries_and_the_rest_waits() {
        let (out, rest) = split(b"one\n\ntwo\nthr", false);
        let kinds: Vec<(&str, &str)> = out
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(4, ' ').collect();
                (f[2], f[3])
            })
            .collect();
        assert_eq!(kinds, [("F", "one"), ("F", ""), ("F", "two")]);
        assert_eq!(rest, b"thr");
        let (out, rest) = split(b"thr", true);
        assert!(out.ends_with(" stdout P thr\n"), "{out}");
        assert!(rest.is_empty());
    }

    #[test]
    fn long_lines_are_split_into_partial_entries() {
        let long = vec![b'x'; MAX_LINE + 10];
        let mut input = long.clone();
        input.push(b'\n');
        let (out, _) = split(&input, false);
        let flags: Vec<&str> = out
            .lines()
            .map(|l| l.split(' ').nth(2).unwrap_or(""))
            .collect();
        assert_eq!(flags, ["P", "F"]);
    }

    #[test]
    fn entries_round_trip_and_render() {
        let (out, _) = split(b"hello world\n", false);
        let line = out.trim_end_matches('\n');
        let entry = parse(line.as_bytes()).expect("parses");
        assert_eq!(entry.content, b"hello world");
        assert!(entry.full);
        assert_eq!(entry.stream, Stream::Stdout);
        let mut plain = Vec::new();
        entry.render(false, &mut plain);
        assert_eq!(plain, b"hello world\n");
        let mut stamped = Vec::new();
        entry.render(true, &mut stamped);
        assert!(stamped.starts_with(entry.time_text.as_bytes()));
        assert_eq!(
            entry.time_text.len(),
            "2026-11-26T00:00:00.000000000Z".len()
        );
        assert!(parse(b"garbage").is_none());
        assert!(parse(b"2026-11-26T00:00:00Z stdin F x").is_none());
    }
}
