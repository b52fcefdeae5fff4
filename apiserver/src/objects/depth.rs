//! How deeply a request body nests, found in one linear pass before any parser sees it.
//!
//! The parsers are not linear in nesting: libyaml (under serde_yaml_ng) keeps one "simple key"
//! per open flow collection and walks them all for every token, so 200 KB of `data: [[[[`
//! took a minute to reject; and serde_yaml_ng checks its recursion limit only after libyaml
//! has read the whole document. Upstream's decoders have the same kind of limit, applied as
//! they read: go-yaml refuses a flow level above 10,000 (`exceeded max depth of 10000`,
//! `scannerc.go`), encoding/json a nesting above 10,000 (`invalid character '[' exceeded max depth`,
//! `scanner.go`). Ours is [`MAX_DEPTH`], the most serde_json decodes, which everything
//! after the decoder (pruning, patches, managed fields, validation) recurses through.
//!
//! JSON is scanned exactly. For YAML, [`yaml`] follows libyaml's scanner token by token
//! (`scanner.c`: flow collections, quoted, plain and block scalars, comments, the block
//! indentation and the simple key that sets it) but builds nothing, so it counts exactly
//! the flow collections libyaml will open; a document libyaml would stop on earlier is
//! scanned to its end, which can only count more.

/// The deepest nesting a body may have: serde_json's recursion limit (128 levels fail).
pub const MAX_DEPTH: usize = 127;

/// Where a body first nests deeper than the limit: the 1-based line of that bracket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    /// The line of the bracket that went past the limit.
    pub line: usize,
    /// That bracket (`[` or `{`): encoding/json names it in its error.
    pub bracket: u8,
}

/// Checks the nesting of a JSON text: every `[` and `{` outside a string opens a level.
pub fn json(body: &[u8], limit: usize) -> Result<(), TooDeep> {
    let (mut depth, mut line) = (0usize, 1usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in body {
        match b {
            b'\n' => line += 1,
            _ if in_string => {
                match (escaped, b) {
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => escaped = false,
                }
                continue;
            }
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(TooDeep { line, bracket: b });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Checks the flow nesting of a YAML text as libyaml's scanner will see it.
pub fn yaml(body: &[u8], limit: usize) -> Result<(), TooDeep> {
    let utf16 = utf16_to_utf8(body);
    let text = utf16.as_deref().unwrap_or(body);
    let mut scanner = Yaml::new(text, limit);
    // libyaml's reader drops a leading byte order mark before the scanner counts anything.
    if text.starts_with(&[0xef, 0xbb, 0xbf]) {
        scanner.i = 3;
    }
    while scanner.i < text.len() {
        scanner.token()?;
    }
    Ok(())
}

/// libyaml reads UTF-16 when the body starts with its byte order mark; the scan then reads
/// the same characters as UTF-8.
fn utf16_to_utf8(body: &[u8]) -> Option<Vec<u8>> {
    let big = match body {
        [0xfe, 0xff, ..] => true,
        [0xff, 0xfe, ..] => false,
        _ => return None,
    };
    let units = body[2..].chunks_exact(2).map(|p| match big {
        true => u16::from_be_bytes([p[0], p[1]]),
        false => u16::from_le_bytes([p[0], p[1]]),
    });
    let text: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    Some(text.into_bytes())
}

/// A position, counted as libyaml counts it (characters, not bytes).
#[derive(Debug, Clone, Copy)]
struct Mark {
    index: usize,
    line: usize,
    column: usize,
}

/// The part of libyaml's scanner state that decides where tokens start and end.
struct Yaml<'a> {
    text: &'a [u8],
    /// The byte offset of the next character.
    i: usize,
    mark: Mark,
    limit: usize,
    /// `flow_level`: open flow collections.
    flow: usize,
    /// `indent`: the column of the innermost block collection (-1 outside any).
    indent: isize,
    indents: Vec<isize>,
    /// `simple_key_allowed`.
    key_allowed: bool,
    /// The possible simple key of the block context (flow level 0), which a `:` turns into a
    /// block mapping at its column. Keys inside flow collections set no indentation.
    block_key: Option<Mark>,
}

impl<'a> Yaml<'a> {
    fn new(text: &'a [u8], limit: usize) -> Yaml<'a> {
        Yaml {
            text,
            i: 0,
            mark: Mark {
                index: 0,
                line: 0,
                column: 0,
            },
            limit,
            flow: 0,
            indent: -1,
            indents: Vec::new(),
            key_allowed: true,
            block_key: None,
        }
    }

    fn at(&self, k: usize) -> u8 {
        self.text.get(self.i + k).copied().unwrap_or(0)
    }

    /// The length of the line break at `i + k`, if one is there (`\r\n`, `\r`, `\n`, NEL,
    /// LS, PS).
    fn break_at(&self, k: usize) -> Option<usize> {
        match (self.at(k), self.at(k + 1), self.at(k + 2)) {
            (b'\r', b'\n', _) => Some(2),
            (b'\r' | b'\n', _, _) => Some(1),
            (0xc2, 0x85, _) => Some(2),
            (0xe2, 0x80, 0xa8 | 0xa9) => Some(3),
            _ => None,
        }
    }

    fn blank_at(&self, k: usize) -> bool {
        matches!(self.at(k), b' ' | b'\t')
    }

    /// End of text counts as a blank, as libyaml's `IS_BLANKZ` counts its NUL.
    fn blankz_at(&self, k: usize) -> bool {
        self.blank_at(k) || self.break_at(k).is_some() || self.i + k >= self.text.len()
    }

    fn is_break(&self) -> bool {
        self.break_at(0).is_some()
    }

    fn eof(&self) -> bool {
        self.i >= self.text.len()
    }

    /// Consumes one character (a line break as one, moving to the next line).
    fn skip(&mut self) {
        if let Some(n) = self.break_at(0) {
            self.i += n;
            // libyaml's SKIP_LINE counts `\r\n` as two characters.
            self.mark.index += if n == 2 && self.text[self.i - 2] == b'\r' {
                2
            } else {
                1
            };
            self.mark.line += 1;
            self.mark.column = 0;
            return;
        }
        let width = match self.at(0) {
            b if b < 0x80 => 1,
            b if b >= 0xf0 => 4,
            b if b >= 0xe0 => 3,
            _ => 2,
        };
        self.i = (self.i + width).min(self.text.len());
        self.mark.index += 1;
        self.mark.column += 1;
    }

    fn skip_to_break(&mut self) {
        while !self.eof() && !self.is_break() {
            self.skip();
        }
    }

    /// `yaml_parser_fetch_next_token`, reduced to what moves the flow level, the indentation
    /// and the simple key.
    fn token(&mut self) -> Result<(), TooDeep> {
        self.skip_to_next_token();
        self.stale_block_key();
        self.unroll_indent(self.mark.column as isize);
        if self.eof() {
            return Ok(());
        }
        let (c, next) = (self.at(0), self.at(1));
        let column0 = self.mark.column == 0;
        let marker = |m: u8| c == m && next == m && self.at(2) == m && self.blankz_at(3);
        match c {
            b'%' if column0 => self.skip_to_break(),
            b'-' | b'.' if column0 && marker(c) => self.document_indicator(),
            b'[' | b'{' => return self.flow_start(),
            b']' | b'}' => self.flow_end(),
            b',' => self.simple_indicator(true),
            b'-' if self.blankz_at(1) => self.block_indicator(true),
            b'?' if self.flow > 0 || self.blankz_at(1) => {
                self.block_indicator(self.flow == 0);
            }
            b':' if self.flow > 0 || self.blankz_at(1) => self.value(),
            b'*' | b'&' => self.anchor(),
            b'!' => self.tag(),
            b'|' | b'>' if self.flow == 0 => self.block_scalar(),
            b'\'' | b'"' => self.quoted(c),
            _ if self.starts_plain() => self.plain(),
            // libyaml stops here ("found character that cannot start any token"); going on
            // can only count more.
            _ => self.skip(),
        }
        Ok(())
    }

    /// `yaml_parser_scan_skip_to_next_token`: blanks, comments and line breaks.
    fn skip_to_next_token(&mut self) {
        loop {
            if self.mark.column == 0 && self.text[self.i..].starts_with(&[0xef, 0xbb, 0xbf]) {
                self.skip();
            }
            // libyaml refuses a tab that starts a block line; taking it as a blank can only
            // count more.
            while self.blank_at(0) {
                self.skip();
            }
            if self.at(0) == b'#' {
                self.skip_to_break();
            }
            if !self.is_break() {
                return;
            }
            self.skip();
            if self.flow == 0 {
                self.key_allowed = true;
            }
        }
    }

    /// `yaml_parser_stale_simple_keys` for the block context's key: a simple key is one line
    /// of at most 1024 characters.
    fn stale_block_key(&mut self) {
        if let Some(key) = self.block_key {
            if key.line < self.mark.line || key.index + 1024 < self.mark.index {
                self.block_key = None;
            }
        }
    }

    /// `yaml_parser_save_simple_key`: a token that may turn out to be a key starts here.
    fn save_key(&mut self) {
        if self.key_allowed && self.flow == 0 {
            self.block_key = Some(self.mark);
        }
    }

    /// `yaml_parser_remove_simple_key` (of the current flow level).
    fn remove_key(&mut self) {
        if self.flow == 0 {
            self.block_key = None;
        }
    }

    fn roll_indent(&mut self, column: isize) {
        if self.flow == 0 && self.indent < column {
            self.indents.push(self.indent);
            self.indent = column;
        }
    }

    fn unroll_indent(&mut self, column: isize) {
        if self.flow > 0 {
            return;
        }
        while self.indent > column {
            self.indent = self.indents.pop().unwrap_or(-1);
        }
    }

    fn document_indicator(&mut self) {
        self.unroll_indent(-1);
        self.remove_key();
        self.key_allowed = false;
        for _ in 0..3 {
            self.skip();
        }
    }

    fn flow_start(&mut self) -> Result<(), TooDeep> {
        self.save_key();
        self.flow += 1;
        if self.flow > self.limit {
            return Err(TooDeep {
                line: self.mark.line + 1,
                bracket: self.at(0),
            });
        }
        self.key_allowed = true;
        self.skip();
        Ok(())
    }

    fn flow_end(&mut self) {
        self.remove_key();
        self.flow = self.flow.saturating_sub(1);
        self.key_allowed = false;
        self.skip();
    }

    /// `,`: the next token may be a key.
    fn simple_indicator(&mut self, allow: bool) {
        self.remove_key();
        self.key_allowed = allow;
        self.skip();
    }

    /// `- ` and `? `: in the block context they open a collection at their column.
    fn block_indicator(&mut self, allow: bool) {
        if self.flow == 0 && self.key_allowed {
            self.roll_indent(self.mark.column as isize);
        }
        self.simple_indicator(allow);
    }

    /// `:`: a possible simple key becomes a mapping key, opening a block mapping at the
    /// key's column.
    fn value(&mut self) {
        if self.flow > 0 {
            self.key_allowed = false;
        } else if let Some(key) = self.block_key.take() {
            self.roll_indent(key.column as isize);
            self.key_allowed = false;
        } else if self.key_allowed {
            self.roll_indent(self.mark.column as isize);
        }
        self.skip();
    }

    fn anchor(&mut self) {
        self.save_key();
        self.key_allowed = false;
        self.skip();
        while self.at(0).is_ascii_alphanumeric() || matches!(self.at(0), b'_' | b'-') {
            self.skip();
        }
    }

    /// `!handle!suffix` or `!<verbatim>`: URI characters, which take `,[]` only verbatim.
    fn tag(&mut self) {
        self.save_key();
        self.key_allowed = false;
        let verbatim = self.at(1) == b'<';
        self.skip();
        if verbatim {
            self.skip();
        }
        while uri_char(self.at(0), verbatim) || (!verbatim && self.at(0) == b'!') {
            self.skip();
        }
        if verbatim && self.at(0) == b'>' {
            self.skip();
        }
    }

    /// `yaml_parser_scan_flow_scalar`: to the closing quote (`''` and `\` escape).
    fn quoted(&mut self, quote: u8) {
        self.save_key();
        self.key_allowed = false;
        self.skip();
        while !self.eof() {
            match (self.at(0), self.at(1)) {
                (b'\'', b'\'') if quote == b'\'' => {
                    self.skip();
                    self.skip();
                }
                (b'\\', _) if quote == b'"' => {
                    self.skip();
                    self.skip();
                }
                (c, _) if c == quote => {
                    self.skip();
                    return;
                }
                _ => self.skip(),
            }
        }
    }

    /// The condition under which `yaml_parser_fetch_next_token` scans a plain scalar.
    fn starts_plain(&self) -> bool {
        let c = self.at(0);
        let indicator = self.blankz_at(0) || b"-?:,[]{}#&*!|>'\"%@`".contains(&c);
        !indicator
            || (c == b'-' && !self.blank_at(1))
            || (self.flow == 0 && (c == b'?' || c == b':') && !self.blankz_at(1))
    }

    /// `yaml_parser_scan_plain_scalar`: it ends at `: `, ` #`, a flow indicator inside a
    /// flow collection, or a line indented no deeper than the block it is in.
    fn plain(&mut self) {
        self.save_key();
        self.key_allowed = false;
        let indent = self.indent + 1;
        let mut leading_blanks = false;
        loop {
            let c = self.at(0);
            let marker = c == self.at(1) && c == self.at(2) && self.blankz_at(3);
            if (self.mark.column == 0 && matches!(c, b'-' | b'.') && marker) || c == b'#' {
                break;
            }
            while !self.blankz_at(0) && !self.ends_plain() {
                self.skip();
            }
            if !(self.blank_at(0) || self.is_break()) {
                break;
            }
            while self.blank_at(0) || self.is_break() {
                leading_blanks |= self.is_break();
                self.skip();
            }
            if self.flow == 0 && (self.mark.column as isize) < indent {
                break;
            }
        }
        if leading_blanks {
            self.key_allowed = true;
        }
    }

    fn ends_plain(&self) -> bool {
        let c = self.at(0);
        (c == b':' && self.blankz_at(1)) || (self.flow > 0 && b",[]{}".contains(&c))
    }

    /// `yaml_parser_scan_block_scalar`: the header, then every line indented at least as
    /// deep as the first (or as the indentation indicator says), and the blank lines.
    fn block_scalar(&mut self) {
        self.remove_key();
        self.key_allowed = true;
        self.skip();
        let mut increment = 0;
        for _ in 0..2 {
            match self.at(0) {
                b'+' | b'-' => self.skip(),
                d @ b'1'..=b'9' => {
                    increment = isize::from(d - b'0');
                    self.skip();
                }
                _ => {}
            }
        }
        while self.blank_at(0) {
            self.skip();
        }
        if self.at(0) == b'#' {
            self.skip_to_break();
        }
        if !self.eof() && !self.is_break() {
            // libyaml stops: "did not find expected comment or line break".
            return;
        }
        self.skip();
        let mut indent = match increment {
            0 => 0,
            n if self.indent >= 0 => self.indent + n,
            n => n,
        };
        if !self.block_breaks(&mut indent) {
            return;
        }
        while self.mark.column as isize == indent && !self.eof() {
            self.skip_to_break();
            self.skip();
            if !self.block_breaks(&mut indent) {
                return;
            }
        }
    }

    /// `yaml_parser_scan_block_scalar_breaks`: indentation and empty lines; settles the
    /// scalar's indentation from its first line when no indicator gave it. False where
    /// libyaml stops on a tab in the indentation.
    fn block_breaks(&mut self, indent: &mut isize) -> bool {
        let mut max_indent = 0;
        loop {
            let short = |s: &Self| *indent == 0 || (s.mark.column as isize) < *indent;
            while short(self) && self.at(0) == b' ' {
                self.skip();
            }
            max_indent = max_indent.max(self.mark.column as isize);
            if short(self) && self.at(0) == b'\t' {
                return false;
            }
            if !self.is_break() {
                break;
            }
            self.skip();
        }
        if *indent == 0 {
            *indent = max_indent.max(self.indent + 1).max(1);
        }
        true
    }
}

/// libyaml's URI characters in a tag (`yaml_parser_scan_tag_uri`).
fn uri_char(c: u8, verbatim: bool) -> bool {
    c.is_ascii_alphanumeric()
        || b"-_;/?:@&=+$.%!~*'()".contains(&c)
        || (verbatim && b",[]".contains(&c))
}

#[cfg(test)]
mod tests;
