//! The script writer: builds a POSIX shell program in which every value is quoted by
//! construction. Values only enter as quoted words ([`Writer::var`], [`Writer::call`]);
//! unquoted text only from `&'static str` (helper files, fixed fragments), never from
//! data. Knows nothing of resources or the protocol.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use crate::shell::quote;

/// A program being written.
#[derive(Debug, Default)]
pub struct Writer {
    text: String,
    /// The quoted words the next `step` call is wrapped in (see [`Writer::notifying`]).
    wrap: Option<String>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    /// Fixed shell text (a helper file, a fixed line), as written but for its comment
    /// lines (see [`sent`]).
    pub fn raw(&mut self, text: &'static str) -> &mut Self {
        self.text.push_str(sent(text));
        if !text.ends_with('\n') {
            self.text.push('\n');
        }
        self
    }

    /// `nameN() {`: the start of a function whose name is a fixed word and a number (the
    /// number left out when 0); its body follows, and `}` closes it.
    pub fn function(&mut self, name: &'static str, n: usize) -> &mut Self {
        self.text.push_str(name);
        if n > 0 {
            self.text.push_str(&n.to_string());
        }
        self.text.push_str("() {\n");
        self
    }

    /// A comment line; newlines in `text` become spaces.
    pub fn comment(&mut self, text: &str) -> &mut Self {
        self.text.push_str("\n# ");
        self.text.push_str(&text.replace(['\n', '\r'], " "));
        self.text.push('\n');
        self
    }

    /// `name='value'`.
    pub fn var(&mut self, name: &'static str, value: &str) -> &mut Self {
        self.text.push_str(name);
        self.text.push('=');
        self.text.push_str(&quote(value));
        self.text.push('\n');
        self
    }

    /// `function 'arg' 'arg' ...`: a fixed command (a helper function) and quoted words.
    pub fn call<S: AsRef<str>>(
        &mut self,
        function: &'static str,
        args: impl IntoIterator<Item = S>,
    ) -> &mut Self {
        match (function.strip_prefix("step "), self.wrap.take()) {
            (Some(rest), Some(wrap)) => {
                self.text.push_str(&wrap);
                self.text.push(' ');
                self.text.push_str(rest);
            }
            (_, wrap) => {
                self.wrap = wrap;
                self.text.push_str(function);
            }
        }
        for a in args {
            self.text.push(' ');
            self.text.push_str(&quote(a.as_ref()));
        }
        self.text.push('\n');
        self
    }

    /// Makes the next `step KIND I ...` call `notify_step I MARKERS KIND I ...`: the step of
    /// resource `i`, whose change notifies the handlers whose markers are `markers`.
    pub fn notifying(&mut self, i: usize, markers: &[String]) -> &mut Self {
        self.wrap = Some(format!(
            "notify_step {} {}",
            quote(&i.to_string()),
            quote(&markers.join(" "))
        ));
        self
    }

    /// The program written so far.
    pub fn finish(self) -> String {
        self.text
    }
}

/// `text` as sent to devices: without its comment lines (a line whose first word starts
/// with `#`, outside any quoted string), made once per text. The helper files are commented
/// for their readers, some 40% of their bytes; every device's shell would read and parse
/// those bytes on every run.
fn sent(text: &'static str) -> &'static str {
    if !text.contains('#') {
        return text;
    }
    static SENT: LazyLock<Mutex<HashMap<(usize, usize), &'static str>>> =
        LazyLock::new(Mutex::default);
    let mut sent = SENT.lock().unwrap_or_else(|e| e.into_inner());
    sent.entry((text.as_ptr() as usize, text.len()))
        .or_insert_with(|| {
            let stripped = without_comment_lines(text);
            if stripped.len() == text.len() {
                text
            } else {
                // At most once for each of the program's fixed texts, a bounded set.
                Box::leak(stripped.into_boxed_str())
            }
        })
}

/// `text` without the lines that are only a comment: lines that start, after blanks, with
/// `#` while no quoted string is open (a line inside a quoted string that runs over lines
/// is kept whatever it holds). shellcheck's directives (`# shellcheck ...`) stay: the
/// built programs are linted too.
pub(crate) fn without_comment_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if open.is_none() && trimmed.starts_with('#') && !trimmed.starts_with("# shellcheck ") {
            continue;
        }
        out.push_str(line);
        open = quotes_after(line, open);
    }
    out
}

/// The quote (`'` or `"`) still open at the end of `line`, given the one open at its start:
/// shell quoting (a backslash escapes the next character outside single quotes), and a
/// comment (`#` starting a word, outside quotes) ends the line.
fn quotes_after(line: &str, mut open: Option<char>) -> Option<char> {
    let mut chars = line.chars();
    let mut word_start = true;
    while let Some(c) = chars.next() {
        match (open, c) {
            (Some('\''), '\'') | (Some('"'), '"') => open = None,
            (Some('\''), _) => {}
            (_, '\\') => {
                chars.next();
            }
            (Some(_), _) => {}
            (None, '\'' | '"') => open = Some(c),
            (None, '#') if word_start => break,
            (None, _) => {}
        }
        word_start = c.is_whitespace() || matches!(c, ';' | '|' | '&' | '(' | ')');
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_lines_go_and_quoted_text_stays_whole() {
        let text = "# a comment\n\
                    # shellcheck disable=SC2034\n\
                    a=1 # the program's own\n\
                    \t  # indented comment\n\
                    b='one\n\
                    # inside single quotes\n\
                    two'\n\
                    c=\"x \\\" y\n\
                    # inside double quotes, after an escaped quote\n\
                    z\"\n\
                    d=${#c} e=\\'\n\
                    # a comment again\n\
                    end\n";
        assert_eq!(
            without_comment_lines(text),
            "# shellcheck disable=SC2034\n\
             a=1 # the program's own\n\
             b='one\n\
             # inside single quotes\n\
             two'\n\
             c=\"x \\\" y\n\
             # inside double quotes, after an escaped quote\n\
             z\"\n\
             d=${#c} e=\\'\n\
             end\n"
        );
    }

    #[test]
    fn fixed_texts_are_stripped_once_and_the_same_each_time() {
        const T: &str = "# c\nx\n";
        assert_eq!(sent(T), "x\n");
        assert!(std::ptr::eq(sent(T), sent(T)));
        let y = "y\n";
        assert!(std::ptr::eq(sent(y), y));
    }

    #[test]
    fn values_are_single_words_whatever_they_hold() {
        let mut w = Writer::new();
        w.var("p", "/etc/it's $(here)")
            .call("step", ["file_res", "0", "a b", ""])
            .comment("two\nlines");
        assert_eq!(
            w.finish(),
            "p='/etc/it'\\''s $(here)'\nstep 'file_res' '0' 'a b' ''\n\n# two lines\n"
        );
    }

    #[test]
    fn a_notifying_step_is_wrapped_once() {
        let mut w = Writer::new();
        w.notifying(3, &["h1".into(), "h2".into()])
            .call("step file_res", ["3"])
            .call("step file_res", ["4"]);
        assert_eq!(
            w.finish(),
            "notify_step '3' 'h1 h2' file_res '3'\nstep file_res '4'\n"
        );
    }
}
