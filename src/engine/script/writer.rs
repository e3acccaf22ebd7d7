//! The script writer: builds a POSIX shell program in which every value is quoted by
//! construction. Values only enter as quoted words ([`Writer::var`], [`Writer::call`]);
//! unquoted text only from `&'static str` (helper files, fixed fragments), never from
//! data. Knows nothing of resources or the protocol.

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

    /// Fixed shell text (a helper file, a fixed line), as written.
    pub fn raw(&mut self, text: &'static str) -> &mut Self {
        self.text.push_str(text);
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

#[cfg(test)]
mod tests {
    use super::*;

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
