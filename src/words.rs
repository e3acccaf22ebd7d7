//! Words in messages for people: a count with its noun in the right number ("1 device",
//! "3 devices"). Imports nothing of ours, so every layer may use it; holds no wording of
//! its own beyond the nouns it is given.

/// "1 device", "2 devices": `noun` with an `s` unless `n` is 1.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// "1 batch", "2 batches": for nouns whose plural is not `s`.
pub fn count_as(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_and_many() {
        assert_eq!(super::count(1, "device"), "1 device");
        assert_eq!(super::count(0, "device"), "0 devices");
        assert_eq!(super::count_as(2, "batch", "batches"), "2 batches");
    }
}
