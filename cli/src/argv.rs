//! Vault-style single-dash long flags.
//!
//! The `vault` CLI spells every long flag with one dash (`-dev`, `-format=json`), and operators
//! type `lessor` the same way; clap wants two. Before parsing, a word that starts with a single
//! `-` followed by a letter and at least one more character becomes `--…`. Everything else is left
//! alone: short flags (`-f`), a lone `-` (stdin), `--flags`, and every word after a bare `--`.

/// Rewrites `argv` so clap sees `--flag` wherever the user typed `-flag`.
pub fn normalise<I>(argv: I) -> Vec<String>
where
    I: IntoIterator<Item = String>,
{
    let mut after_separator = false;
    argv.into_iter()
        .enumerate()
        .map(|(index, word)| {
            // argv[0] is the program name, never a flag.
            if index == 0 || after_separator {
                return word;
            }
            if word == "--" {
                after_separator = true;
                return word;
            }
            if is_single_dash_long_flag(&word) {
                format!("-{word}")
            } else {
                word
            }
        })
        .collect()
}

fn is_single_dash_long_flag(word: &str) -> bool {
    let Some(rest) = word.strip_prefix('-') else {
        return false;
    };
    let mut chars = rest.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let name_len = rest.split('=').next().map_or(0, str::len);
    starts_with_letter && name_len >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(words: &[&str]) -> Vec<String> {
        normalise(words.iter().map(|w| (*w).to_string()))
    }

    #[test]
    fn single_dash_long_flags_gain_a_dash() {
        assert_eq!(
            run(&[
                "lessor",
                "server",
                "-dev",
                "-format=json",
                "-key-shares",
                "1"
            ]),
            [
                "lessor",
                "server",
                "--dev",
                "--format=json",
                "--key-shares",
                "1"
            ]
        );
    }

    #[test]
    fn short_flags_double_dashes_and_stdin_are_untouched() {
        assert_eq!(
            run(&["lessor", "write", "-f", "--field=x", "-", "k=-v"]),
            ["lessor", "write", "-f", "--field=x", "-", "k=-v"]
        );
    }

    #[test]
    fn a_one_letter_flag_with_a_value_stays_short() {
        assert_eq!(run(&["lessor", "x", "-f=1"]), ["lessor", "x", "-f=1"]);
    }

    #[test]
    fn dash_followed_by_a_digit_is_a_value_not_a_flag() {
        assert_eq!(run(&["lessor", "x", "-10s"]), ["lessor", "x", "-10s"]);
    }

    #[test]
    fn words_after_the_separator_are_left_alone() {
        assert_eq!(
            run(&["lessor", "write", "-force", "--", "-dev"]),
            ["lessor", "write", "--force", "--", "-dev"]
        );
    }

    #[test]
    fn program_name_is_never_rewritten() {
        assert_eq!(run(&["-weird-name", "-dev"]), ["-weird-name", "--dev"]);
    }
}
