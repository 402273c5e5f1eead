//! Comment lines, picked out of the stream beside the decoder, which skips
//! them.

use std::collections::VecDeque;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Finds comment lines (`:` first) with the decoder's line rules: CR, LF or
/// CRLF end a line, one BOM at the start of the stream is skipped.
#[derive(Debug)]
pub(crate) struct Comments {
    /// Bytes of the BOM matched so far; `None` once past it.
    bom: Option<usize>,
    line_start: bool,
    after_cr: bool,
    in_comment: bool,
    /// The comment so far, `None` once over the limit.
    current: Option<Vec<u8>>,
    max_size: usize,
    ready: VecDeque<String>,
}

impl Comments {
    pub(crate) fn new(max_size: usize) -> Self {
        Comments {
            bom: Some(0),
            line_start: true,
            after_cr: false,
            in_comment: false,
            current: Some(Vec::new()),
            max_size,
            ready: VecDeque::new(),
        }
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        let mut i = 0;
        while i < chunk.len() {
            let byte = chunk[i];
            if let Some(matched) = self.bom {
                if byte == BOM[matched] {
                    self.bom = (matched + 1 < BOM.len()).then_some(matched + 1);
                    i += 1;
                    continue;
                }
                // A partial BOM starts a line that is no comment.
                self.bom = None;
                self.line_start = matched == 0;
            }
            if self.after_cr {
                self.after_cr = false;
                if byte == b'\n' {
                    i += 1;
                    continue;
                }
            }
            if self.line_start {
                self.line_start = false;
                self.in_comment = byte == b':';
                if self.in_comment {
                    i += 1;
                    continue;
                }
            }
            let rest = &chunk[i..];
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                None => {
                    self.append(rest);
                    i = chunk.len();
                }
                Some(end) => {
                    self.append(&rest[..end]);
                    self.finish();
                    self.after_cr = rest[end] == b'\r';
                    self.line_start = true;
                    i += end + 1;
                }
            }
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        if !self.in_comment {
            return;
        }
        if let Some(current) = &mut self.current {
            if current.len() + bytes.len() <= self.max_size {
                current.extend_from_slice(bytes);
            } else {
                self.current = None;
            }
        }
    }

    fn finish(&mut self) {
        if !std::mem::take(&mut self.in_comment) {
            return;
        }
        match self.current.replace(Vec::new()) {
            Some(text) => {
                let text = text.strip_prefix(b" ").unwrap_or(&text);
                self.ready
                    .push_back(String::from_utf8_lossy(text).into_owned());
            }
            None => tracing::debug!("dropped a comment over the event size limit"),
        }
    }

    pub(crate) fn next(&mut self) -> Option<String> {
        self.ready.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comments(chunks: &[&[u8]]) -> Vec<String> {
        let mut scanner = Comments::new(1024);
        for chunk in chunks {
            scanner.feed(chunk);
        }
        std::iter::from_fn(|| scanner.next()).collect()
    }

    #[test]
    fn comment_lines_are_found_with_one_leading_space_removed() {
        let found = comments(&[b": ping\n\n:  two\r\ndata: a\n:\n\n"]);
        assert_eq!(found, ["ping", " two", ""]);
    }

    #[test]
    fn colon_inside_a_line_is_no_comment() {
        assert!(comments(&[b"data: :x\n\n"]).is_empty());
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        let found = comments(&[b": a\r", b"\n: b\r", b": c\n"]);
        assert_eq!(found, ["a", "b", "c"]);
    }

    #[test]
    fn comment_split_across_chunks_is_one_comment() {
        assert_eq!(comments(&[b": he", b"llo", b"\n"]), ["hello"]);
    }

    #[test]
    fn bom_split_across_chunks_is_skipped_once() {
        assert_eq!(comments(&[b"\xEF\xBB", b"\xBF: a\n"]), ["a"]);
        assert!(comments(&[b"\xEF\xBB\xBF\xEF\xBB\xBF: a\n"]).is_empty());
    }

    #[test]
    fn incomplete_comment_is_not_yielded() {
        assert!(comments(&[b": cut"]).is_empty());
    }

    #[test]
    fn comment_over_the_limit_is_dropped() {
        let mut scanner = Comments::new(3);
        scanner.feed(b": long\n: ok\n");
        assert_eq!(scanner.next().as_deref(), Some("ok"));
        assert_eq!(scanner.next(), None);
    }
}
