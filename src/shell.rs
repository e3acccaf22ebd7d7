//! The one shell-quoting function. Every value that ends up in a remote command goes
//! through [`quote`] (or travels as file content), so `x'; rm -rf /` stays text.

/// POSIX single-quoting: `it's` becomes `'it'\''s'`. Always quotes, even plain words.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Tera escape function for command fields: each `{{ value }}` becomes one quoted word.
pub fn tera_escape(s: &str, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    w.write_all(quote(s).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh_echo(arg: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(arg)))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn hostile_text_stays_literal_in_a_real_shell() {
        for s in [
            "x'; touch /tmp/owned; echo '",
            "$(id)",
            "`id`",
            "a b\tc\nd",
            "'",
            "",
            "\\'\"$HOME",
        ] {
            assert_eq!(sh_echo(s), s, "quoting {s:?}");
        }
    }
}
