//! Plain left-aligned text tables, as every text listing prints them. A cell is one line:
//! a multi-line value shows its first line and "…" ([`one_line`]); only [`table_continued`]
//! (the history) shows a last column's whole text, its further lines aligned under it.
//! Pure formatting: no printing, no data access.

use std::borrow::Cow;

/// `text` as one table cell: its first line, and "…" when there was more.
pub fn one_line(text: &str) -> Cow<'_, str> {
    let text = text.trim_end_matches(['\n', '\r']);
    match text.split_once('\n') {
        None => Cow::Borrowed(text),
        Some((first, _)) => Cow::Owned(format!("{}…", first.trim_end_matches('\r'))),
    }
}

/// A plain left-aligned text table, every cell on one line.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    render(header, rows, false)
}

/// A table whose last column keeps its whole text: each further line of it is printed on
/// a line of its own, under the column.
pub fn table_continued<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    render(header, rows, true)
}

fn render<const N: usize>(header: &[&str; N], rows: &[[String; N]], continued: bool) -> String {
    let cells: Vec<Vec<Cow<'_, str>>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, cell)| {
                    if continued && i + 1 == N {
                        Cow::Borrowed(cell.trim_end_matches(['\n', '\r']))
                    } else {
                        one_line(cell)
                    }
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (i, (w, cell)) in widths.iter_mut().zip(row).enumerate() {
            if i + 1 < N {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let indent: usize = widths[..N - 1].iter().map(|w| w + 2).sum();
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == N {
                let mut rest = cell.lines();
                l.push_str(rest.next().unwrap_or(""));
                for more in rest {
                    out.push_str(l.trim_end());
                    out.push('\n');
                    l = format!("{:indent$}{}", "", more.trim_end_matches('\r'));
                }
            } else {
                l.push_str(&format!("{cell:<w$}  ", w = *w));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in &cells {
        line(row.iter().map(|c| c.as_ref()).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<[String; 3]> {
        vec![
            [
                "LAP-0001".into(),
                "failed".into(),
                "exit code 3:\nline two\nline three\n".into(),
            ],
            ["LAP-0002".into(), "ok\nreally".into(), String::new()],
        ]
    }

    #[test]
    fn every_cell_is_one_line_in_a_table() {
        assert_eq!(
            table(&["DEVICE", "RESULT", "DETAIL"], &rows()),
            "DEVICE    RESULT  DETAIL\n\
             LAP-0001  failed  exit code 3:…\n\
             LAP-0002  ok…\n"
        );
        assert_eq!(one_line("one\r\ntwo"), "one…");
        assert_eq!(one_line("just one\n"), "just one");
    }

    #[test]
    fn a_continued_table_keeps_the_last_column_whole_and_aligned() {
        assert_eq!(
            table_continued(&["DEVICE", "RESULT", "DETAIL"], &rows()),
            "DEVICE    RESULT  DETAIL\n\
             LAP-0001  failed  exit code 3:\n\
             \x20                 line two\n\
             \x20                 line three\n\
             LAP-0002  ok…\n"
        );
    }
}
