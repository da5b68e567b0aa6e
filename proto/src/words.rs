//! The 256 words of pairing codes, one byte of the code each.
//!
//! Invariants (checked by the tests below): 3 to 7 lowercase ASCII letters,
//! sorted, no two words share their first three letters, and no word is one
//! typo (one letter added, dropped or changed) away from another, so a slip
//! of the ear or the keyboard gives an unknown word (which costs nothing)
//! rather than another valid code (which would spend the offer). Concrete
//! nouns that are easy to say and spell, avoiding homophones (`berry`/`bury`),
//! British/American spellings (`harbor`), silent or doubled letters people
//! misspell, numbers, and anything unpleasant. `acorn`, `actor`, `cactus`,
//! `orbit` and `velvet` appear in the docs and tests and must stay.

/// Pairing-code words; a word's index is one byte of the code.
pub(crate) const WORDS: [&str; 256] = [
    "acorn", "actor", "agent", "album", "amber", "anchor", "apple", "apron", "arrow", "atlas", "attic", "bacon",
    "badge", "bagel", "bamboo", "banjo", "barrel", "basket", "beetle", "bench", "blossom", "bottle", "bridge",
    "bronze", "bubble", "bucket", "button", "cabin", "cactus", "camera", "candle", "carpet", "castle", "chalk",
    "cherry", "circus", "clover", "comet", "copper", "cotton", "cowboy", "crayon", "cupcake", "daisy", "dancer",
    "delta", "denim", "desk", "diamond", "doctor", "dolphin", "domino", "donkey", "dragon", "drum", "duck", "dune",
    "eagle", "easel", "echo", "egg", "elbow", "elk", "engine", "exit", "fabric", "falcon", "feather", "fern", "fiddle",
    "fig", "finch", "forest", "fossil", "fox", "frost", "fudge", "galaxy", "garden", "gecko", "giant", "ginger",
    "globe", "gold", "goose", "grape", "guitar", "hammer", "harp", "hazel", "hedge", "helmet", "hippo", "honey",
    "horizon", "hotel", "icicle", "icon", "idea", "igloo", "indigo", "inkwell", "insect", "ivory", "jacket", "jaguar",
    "jazz", "jelly", "jet", "jigsaw", "jungle", "kayak", "kennel", "kettle", "kitten", "kiwi", "koala", "label",
    "ladder", "lagoon", "lantern", "laptop", "lava", "leaf", "lemon", "lilac", "lion", "lobster", "lotus", "lunar",
    "magnet", "mango", "maple", "marble", "meadow", "meteor", "mint", "mirror", "mosaic", "motor", "mouse", "muffin",
    "museum", "napkin", "navy", "nectar", "nest", "nomad", "noodle", "novel", "nutmeg", "nylon", "oatmeal", "ocean",
    "octopus", "olive", "onion", "opera", "orbit", "orchid", "ostrich", "otter", "oven", "owl", "oyster", "paddle",
    "palace", "panda", "parcel", "peach", "pebble", "penguin", "pepper", "piano", "pickle", "pilot", "pizza", "planet",
    "pony", "potato", "pumpkin", "puzzle", "queen", "quilt", "rabbit", "radar", "rainbow", "ranch", "raven", "recipe",
    "river", "robin", "rocket", "ruby", "runway", "salad", "scarf", "shadow", "shell", "ship", "silver", "sketch",
    "smile", "snail", "soap", "sofa", "solar", "sponge", "stone", "sugar", "summit", "sunset", "swan", "table", "taco",
    "teapot", "temple", "thunder", "ticket", "tiger", "toast", "topaz", "torch", "towel", "tractor", "tuba", "tulip",
    "tunnel", "turtle", "umpire", "unicorn", "valley", "vanilla", "vase", "velvet", "violin", "volcano", "waffle",
    "wagon", "walrus", "wasp", "willow", "window", "wizard", "wolf", "wombat", "wool", "yak", "yarn", "yellow",
    "yodel", "zebra", "zenith", "zigzag", "zinc", "zipper",
];

#[cfg(test)]
mod tests {
    use super::WORDS;
    use std::collections::HashSet;

    #[test]
    fn words_are_distinct_short_lowercase_and_sorted() {
        let all: HashSet<&str> = WORDS.iter().copied().collect();
        assert_eq!(all.len(), WORDS.len(), "duplicates");
        for w in WORDS {
            assert!(w.bytes().all(|b| b.is_ascii_lowercase()), "{w}");
            assert!((3..=7).contains(&w.len()), "{w}");
        }
        assert!(WORDS.windows(2).all(|p| p[0] < p[1]), "not sorted");
    }

    #[test]
    fn words_tell_apart_by_three_letters() {
        let prefixes: HashSet<&str> = WORDS.iter().map(|w| &w[..3]).collect();
        assert_eq!(prefixes.len(), WORDS.len(), "two words share their first three letters");
    }

    /// Levenshtein distance, small inputs only.
    fn edits(a: &str, b: &str) -> usize {
        let b = b.as_bytes();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.bytes().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, &cb) in b.iter().enumerate() {
                let substitute = diagonal + usize::from(ca != cb);
                diagonal = row[j + 1];
                row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
            }
        }
        row[b.len()]
    }

    #[test]
    fn no_word_is_one_typo_from_another() {
        assert_eq!(edits("funnel", "tunnel"), 1);
        assert_eq!(edits("oak", "yak"), 1);
        assert_eq!(edits("acorn", "actor"), 2);
        for (i, a) in WORDS.iter().enumerate() {
            for b in &WORDS[i + 1..] {
                assert!(edits(a, b) >= 2, "{a} and {b} are one typo apart");
            }
        }
    }

    #[test]
    fn the_words_the_docs_and_tests_use_are_there() {
        for w in ["acorn", "actor", "cactus", "orbit", "velvet"] {
            assert!(WORDS.contains(&w), "{w}");
        }
    }
}
