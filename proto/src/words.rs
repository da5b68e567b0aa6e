//! The 256 words of pairing codes: short, common, easy to say and spell,
//! each distinct in its first three letters.

/// Pairing-code words; a word's index is one byte of the code.
pub(crate) const WORDS: [&str; 256] = [
    "acorn", "actor", "adobe", "agent", "album", "alpine", "amber", "anchor", "angle", "apple", "apron", "arcade",
    "arrow", "atlas", "attic", "autumn", "bacon", "badge", "bagel", "balcony", "bamboo", "banjo", "barrel", "basket",
    "beacon", "beetle", "bench", "berry", "bicycle", "bishop", "blanket", "blossom", "bonnet", "border", "bottle",
    "boulder", "bracket", "bridge", "bronze", "bubble", "bucket", "buffalo", "bugle", "button", "cabin", "cactus",
    "camera", "candle", "carpet", "castle", "cedar", "cellar", "census", "cereal", "chalk", "cherry", "chimney",
    "cider", "circus", "citrus", "clover", "cobalt", "coconut", "collar", "comet", "copper", "coral", "cotton",
    "cowboy", "crayon", "cricket", "crystal", "cupboard", "cushion", "dagger", "dairy", "dancer", "debut", "decade",
    "delta", "denim", "desert", "diamond", "diesel", "dinner", "dipper", "doctor", "dolphin", "domino", "donkey",
    "dragon", "drizzle", "duckling", "dune", "eagle", "easel", "echo", "eclipse", "edition", "elbow", "elder", "ember",
    "emerald", "engine", "envoy", "epic", "equator", "errand", "estate", "fabric", "falcon", "fennel", "ferry",
    "festival", "fiddle", "figure", "finch", "fjord", "flannel", "flute", "forest", "fossil", "fountain", "fox",
    "frost", "funnel", "galaxy", "garden", "gazelle", "gecko", "giant", "ginger", "glacier", "globe", "goblet",
    "gospel", "gravel", "guitar", "hammer", "harbor", "hazel", "helmet", "hermit", "hickory", "hobby", "honey",
    "horizon", "hostel", "humble", "hybrid", "icicle", "igloo", "impala", "indigo", "inkwell", "island", "ivory",
    "jacket", "jaguar", "jasmine", "jelly", "jigsaw", "jockey", "journal", "juggler", "jungle", "kayak", "kettle",
    "kidney", "kitten", "koala", "label", "ladder", "lagoon", "lantern", "laptop", "lemon", "lentil", "lichen",
    "lilac", "lobster", "locket", "lotus", "lumber", "magnet", "mango", "maple", "marble", "meadow", "melon", "mentor",
    "mirror", "mitten", "monsoon", "mosaic", "muffin", "mustard", "napkin", "narwhal", "nectar", "needle", "nest",
    "nickel", "noodle", "notebook", "nutmeg", "oasis", "ocean", "olive", "omelet", "onion", "opera", "orbit", "orchid",
    "otter", "oyster", "paddle", "palace", "panda", "parcel", "pebble", "pelican", "pepper", "piano", "pickle",
    "pilot", "plum", "pocket", "polka", "pony", "potato", "prism", "pudding", "puzzle", "quartz", "quilt", "rabbit",
    "radar", "raisin", "ranch", "raven", "recipe", "ribbon", "rocket", "rodeo", "rumba", "saddle", "salmon", "sandal",
    "sapphire", "scarf", "velvet", "walrus", "willow", "yogurt", "zebra",
];

#[cfg(test)]
mod tests {
    use super::WORDS;
    use std::collections::HashSet;

    #[test]
    fn words_are_distinct_short_lowercase_and_tell_apart_by_three_letters() {
        assert_eq!(WORDS.len(), 256);
        let all: HashSet<&str> = WORDS.iter().copied().collect();
        assert_eq!(all.len(), 256, "duplicates");
        for w in WORDS {
            assert!(w.chars().all(|c| c.is_ascii_lowercase()), "{w}");
            assert!((3..=8).contains(&w.len()), "{w}");
        }
        let prefixes: HashSet<&str> = WORDS.iter().map(|w| &w[..3]).collect();
        assert_eq!(prefixes.len(), 256, "two words share their first three letters");
    }
}
