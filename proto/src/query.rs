//! How a QUERY names entries, in three tiers, and what to suggest when it
//! names none. Pure: the daemon's [`Index::find`](crate::entries::Index::find)
//! resolves every verb's QUERY with it, and the live view filters with it,
//! so `authctl code amzn` and typing `amzn` in the view agree.
//!
//! 1. **Exact**: the query equals the issuer, the account, `issuer:account`
//!    or the entry id (case-insensitive).
//! 2. **Partial**: the issuer or account contains it, or the id starts
//!    with it.
//! 3. **Fuzzy**: its characters appear in order in "issuer account"
//!    (`amzn` in "Amazon"), each space-separated word of it separately,
//!    scored as fzf does (nucleo-matcher: word starts and runs of
//!    consecutive characters score higher). Only the best score counts; a
//!    tie is ambiguous.
//!
//! A tier is looked at only when the ones above it found nothing: exact
//! beats partial beats fuzzy. When all three find nothing, [`suggest`]
//! names the entries whose names are a small edit away (`amazno`).

use nucleo_matcher::pattern::{AtomKind, CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};

/// How well a query names one entry, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Match {
    /// Tier 1.
    Exact,
    /// Tier 2.
    Partial,
    /// Tier 3, with the matcher's score negated (so that `Ord` puts the
    /// best first).
    Fuzzy(std::cmp::Reverse<u32>),
}

/// Tiers 1 and 2 for one entry. Every string is already lowercased (the
/// query trimmed too); `issuer` is empty when the entry has none.
pub fn exact_or_partial(q: &str, issuer: &str, account: &str, id: &str) -> Option<Match> {
    let full = q
        .split_once(':')
        .map(|(i, a)| (i.trim(), a.trim()))
        .filter(|(i, a)| !i.is_empty() && !a.is_empty());
    let exact = q == issuer || q == account || q == id || full.is_some_and(|(i, a)| i == issuer && a == account);
    if exact {
        return Some(Match::Exact);
    }
    let partial = issuer.contains(q)
        || account.contains(q)
        || id.starts_with(q)
        || full.is_some_and(|(i, a)| issuer.ends_with(i) && account.starts_with(a));
    partial.then_some(Match::Partial)
}

/// Tier 3: scores entries against one query. Building one allocates the
/// matcher's scratch space, so build it once per query, and only when tiers
/// 1 and 2 found nothing.
pub struct Fuzzy {
    matcher: Matcher,
    pattern: Pattern,
    buf: Vec<char>,
    haystack: String,
}

impl Fuzzy {
    /// A scorer for `query` (any case; surrounding space ignored).
    pub fn new(query: &str) -> Self {
        Fuzzy {
            matcher: Matcher::new(Config::DEFAULT),
            pattern: Pattern::new(
                query.trim(),
                CaseMatching::Ignore,
                Normalization::Smart,
                AtomKind::Fuzzy,
            ),
            buf: Vec::new(),
            haystack: String::new(),
        }
    }

    /// The score of the entry named `issuer` and `account`, if every word of
    /// the query is found in order in "issuer account". An empty query
    /// matches nothing here (tier 2 already matched everything).
    pub fn score(&mut self, issuer: &str, account: &str) -> Option<u32> {
        if self.pattern.atoms.is_empty() {
            return None;
        }
        // Lowercased, so that the daemon (which keeps names lowercased) and
        // the live view (which has them as typed) score alike.
        self.haystack.clear();
        self.haystack.extend(issuer.chars().flat_map(char::to_lowercase));
        if !issuer.is_empty() && !account.is_empty() {
            self.haystack.push(' ');
        }
        self.haystack.extend(account.chars().flat_map(char::to_lowercase));
        self.pattern
            .score(Utf32Str::new(&self.haystack, &mut self.buf), &mut self.matcher)
    }

    /// The items with the best score, if any matched: one when the best is
    /// unique, several on a tie. `items` are (item, issuer, account).
    pub fn best<'a, T>(&mut self, items: impl IntoIterator<Item = (T, &'a str, &'a str)>) -> Vec<T> {
        let mut best: Option<u32> = None;
        let mut found = Vec::new();
        for (item, issuer, account) in items {
            let Some(score) = self.score(issuer, account) else {
                continue;
            };
            match best {
                Some(b) if score < b => {}
                Some(b) if score == b => found.push(item),
                _ => {
                    best = Some(score);
                    found.clear();
                    found.push(item);
                }
            }
        }
        found
    }
}

/// How alike two names must be (normalised Damerau-Levenshtein, 1.0 equal)
/// for one to be suggested for the other: one typo or swapped pair in a
/// five-letter name passes, an unrelated name does not.
pub const SUGGEST_AT_LEAST: f64 = 0.6;

/// At most this many suggestions.
pub const SUGGESTIONS: usize = 3;

/// The items to suggest for a query that matched nothing: those with a name
/// (issuer, account or `issuer:account`) at least [`SUGGEST_AT_LEAST`] alike
/// to it, most alike first, at most [`SUGGESTIONS`]. `items` are (item,
/// issuer, account); case is ignored.
pub fn suggest<'a, T>(query: &str, items: impl IntoIterator<Item = (T, &'a str, &'a str)>) -> Vec<T> {
    let q = query.trim().to_lowercase();
    if q.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(f64, T)> = items
        .into_iter()
        .filter_map(|(item, issuer, account)| {
            let (issuer, account) = (issuer.to_lowercase(), account.to_lowercase());
            let full = format!("{issuer}:{account}");
            let alike = [issuer.as_str(), account.as_str(), full.as_str()]
                .into_iter()
                .filter(|name| !name.is_empty() && *name != ":")
                .map(|name| strsim::normalized_damerau_levenshtein(&q, name))
                .fold(0.0_f64, f64::max);
            (alike >= SUGGEST_AT_LEAST).then_some((alike, item))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(SUGGESTIONS).map(|(_, item)| item).collect()
}

/// The "did you mean" sentence for `labels` (empty when there are none),
/// starting with "; ".
pub fn did_you_mean(labels: &[String]) -> String {
    match labels {
        [] => String::new(),
        [one] => format!("; did you mean '{one}'?"),
        [init @ .., last] => format!(
            "; did you mean {} or '{last}'?",
            init.iter().map(|l| format!("'{l}'")).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NAMES: [(&str, &str); 6] = [
        ("Amazon", "alice@example.com"),
        ("GitHub", "alice"),
        ("GitLab", "bob"),
        ("Google", "alice@gmail.com"),
        ("", "root@nas"),
        ("Proton Mail", "alice"),
    ];

    fn items() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
        NAMES.iter().map(|&(i, a)| (i, i, a))
    }

    fn fuzzy(q: &str) -> Vec<&'static str> {
        Fuzzy::new(q).best(items())
    }

    #[test]
    fn tiers_in_order() {
        assert_eq!(
            exact_or_partial("github", "github", "alice", "abcd"),
            Some(Match::Exact)
        );
        assert_eq!(
            exact_or_partial("github:alice", "github", "alice", "abcd"),
            Some(Match::Exact)
        );
        assert_eq!(exact_or_partial("abcd", "github", "alice", "abcd"), Some(Match::Exact));
        assert_eq!(exact_or_partial("git", "github", "alice", "abcd"), Some(Match::Partial));
        assert_eq!(exact_or_partial("ab", "github", "alice", "abcd"), Some(Match::Partial));
        assert_eq!(
            exact_or_partial("hub:ali", "github", "alice", "abcd"),
            Some(Match::Partial)
        );
        assert_eq!(exact_or_partial("gthb", "github", "alice", "abcd"), None);
        assert!(Match::Exact < Match::Partial);
        assert!(Match::Partial < Match::Fuzzy(std::cmp::Reverse(u32::MAX)));
        assert!(Match::Fuzzy(std::cmp::Reverse(90)) < Match::Fuzzy(std::cmp::Reverse(10)));
    }

    #[test]
    fn fuzzy_finds_letters_in_order() {
        assert_eq!(fuzzy("amzn"), ["Amazon"]);
        assert_eq!(fuzzy("AMZN"), ["Amazon"]);
        assert_eq!(fuzzy("gthb"), ["GitHub"]);
        assert_eq!(fuzzy("prtn"), ["Proton Mail"]);
        assert_eq!(fuzzy("rtnas"), [""]);
        // Each word separately, across issuer and account.
        assert_eq!(fuzzy("pm alc"), ["Proton Mail"]);
        // Letters out of order are no match.
        assert!(fuzzy("nzma").is_empty());
        assert!(fuzzy("xyz").is_empty());
        assert!(fuzzy("   ").is_empty());
    }

    #[test]
    fn the_best_score_wins_and_a_tie_is_ambiguous() {
        // g-t-l is in "gitlab bob" and in "github alice", but closer
        // together in the first.
        assert_eq!(fuzzy("gtl"), ["GitLab"]);
        // Both start with "gi": the same score, so neither wins.
        let mut tied = fuzzy("gi");
        tied.sort_unstable();
        assert_eq!(tied, ["GitHub", "GitLab"]);
    }

    #[test]
    fn suggestions_are_a_typo_away() {
        assert_eq!(suggest("amazno", items()), ["Amazon"]);
        assert_eq!(suggest("gihtub", items()), ["GitHub"]);
        assert_eq!(suggest("githib:alice", items()), ["GitHub"]);
        assert!(suggest("netflix", items()).is_empty());
        assert!(suggest("", items()).is_empty());
        assert!(suggest("glab", items()).len() <= SUGGESTIONS);
    }

    #[test]
    fn did_you_mean_reads_as_a_sentence() {
        assert_eq!(did_you_mean(&[]), "");
        assert_eq!(
            did_you_mean(&["GitHub: alice".into()]),
            "; did you mean 'GitHub: alice'?"
        );
        assert_eq!(
            did_you_mean(&["A".into(), "B".into(), "C".into()]),
            "; did you mean 'A', 'B' or 'C'?"
        );
    }
}
