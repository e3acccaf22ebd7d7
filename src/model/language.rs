//! Language codes for people's handoff sheets and guides: the two-letter codes of ISO 639-1
//! (the table below, as Debian's iso-codes lists them, with their English names), a
//! three-letter ISO 639-2/3 code for a language that has none, and region or script
//! subtags (`pt-BR`, `zh-Hant`) after either. Says what is wrong with a code and which one
//! was likely meant. Imports nothing of ours; reads no file.

/// ISO 639-1: every two-letter language code and its English name, sorted by code.
pub const ISO_639_1: &[(&str, &str)] = &[
    ("aa", "Afar"),
    ("ab", "Abkhazian"),
    ("ae", "Avestan"),
    ("af", "Afrikaans"),
    ("ak", "Akan"),
    ("am", "Amharic"),
    ("an", "Aragonese"),
    ("ar", "Arabic"),
    ("as", "Assamese"),
    ("av", "Avaric"),
    ("ay", "Aymara"),
    ("az", "Azerbaijani"),
    ("ba", "Bashkir"),
    ("be", "Belarusian"),
    ("bg", "Bulgarian"),
    ("bh", "Bihari languages"),
    ("bi", "Bislama"),
    ("bm", "Bambara"),
    ("bn", "Bengali"),
    ("bo", "Tibetan"),
    ("br", "Breton"),
    ("bs", "Bosnian"),
    ("ca", "Catalan"),
    ("ce", "Chechen"),
    ("ch", "Chamorro"),
    ("co", "Corsican"),
    ("cr", "Cree"),
    ("cs", "Czech"),
    ("cu", "Church Slavic"),
    ("cv", "Chuvash"),
    ("cy", "Welsh"),
    ("da", "Danish"),
    ("de", "German"),
    ("dv", "Divehi"),
    ("dz", "Dzongkha"),
    ("ee", "Ewe"),
    ("el", "Greek, Modern (1453-)"),
    ("en", "English"),
    ("eo", "Esperanto"),
    ("es", "Spanish"),
    ("et", "Estonian"),
    ("eu", "Basque"),
    ("fa", "Persian"),
    ("ff", "Fulah"),
    ("fi", "Finnish"),
    ("fj", "Fijian"),
    ("fo", "Faroese"),
    ("fr", "French"),
    ("fy", "Western Frisian"),
    ("ga", "Irish"),
    ("gd", "Gaelic"),
    ("gl", "Galician"),
    ("gn", "Guarani"),
    ("gu", "Gujarati"),
    ("gv", "Manx"),
    ("ha", "Hausa"),
    ("he", "Hebrew"),
    ("hi", "Hindi"),
    ("ho", "Hiri Motu"),
    ("hr", "Croatian"),
    ("ht", "Haitian"),
    ("hu", "Hungarian"),
    ("hy", "Armenian"),
    ("hz", "Herero"),
    (
        "ia",
        "Interlingua (International Auxiliary Language Association)",
    ),
    ("id", "Indonesian"),
    ("ie", "Interlingue"),
    ("ig", "Igbo"),
    ("ii", "Sichuan Yi"),
    ("ik", "Inupiaq"),
    ("io", "Ido"),
    ("is", "Icelandic"),
    ("it", "Italian"),
    ("iu", "Inuktitut"),
    ("ja", "Japanese"),
    ("jv", "Javanese"),
    ("ka", "Georgian"),
    ("kg", "Kongo"),
    ("ki", "Kikuyu"),
    ("kj", "Kuanyama"),
    ("kk", "Kazakh"),
    ("kl", "Kalaallisut"),
    ("km", "Central Khmer"),
    ("kn", "Kannada"),
    ("ko", "Korean"),
    ("kr", "Kanuri"),
    ("ks", "Kashmiri"),
    ("ku", "Kurdish"),
    ("kv", "Komi"),
    ("kw", "Cornish"),
    ("ky", "Kirghiz"),
    ("la", "Latin"),
    ("lb", "Luxembourgish"),
    ("lg", "Ganda"),
    ("li", "Limburgan"),
    ("ln", "Lingala"),
    ("lo", "Lao"),
    ("lt", "Lithuanian"),
    ("lu", "Luba-Katanga"),
    ("lv", "Latvian"),
    ("mg", "Malagasy"),
    ("mh", "Marshallese"),
    ("mi", "Maori"),
    ("mk", "Macedonian"),
    ("ml", "Malayalam"),
    ("mn", "Mongolian"),
    ("mr", "Marathi"),
    ("ms", "Malay"),
    ("mt", "Maltese"),
    ("my", "Burmese"),
    ("na", "Nauru"),
    ("nb", "Bokmål, Norwegian"),
    ("nd", "Ndebele, North"),
    ("ne", "Nepali"),
    ("ng", "Ndonga"),
    ("nl", "Dutch"),
    ("nn", "Norwegian Nynorsk"),
    ("no", "Norwegian"),
    ("nr", "Ndebele, South"),
    ("nv", "Navajo"),
    ("ny", "Chichewa"),
    ("oc", "Occitan (post 1500)"),
    ("oj", "Ojibwa"),
    ("om", "Oromo"),
    ("or", "Oriya"),
    ("os", "Ossetian"),
    ("pa", "Panjabi"),
    ("pi", "Pali"),
    ("pl", "Polish"),
    ("ps", "Pushto"),
    ("pt", "Portuguese"),
    ("qu", "Quechua"),
    ("rm", "Romansh"),
    ("rn", "Rundi"),
    ("ro", "Romanian"),
    ("ru", "Russian"),
    ("rw", "Kinyarwanda"),
    ("sa", "Sanskrit"),
    ("sc", "Sardinian"),
    ("sd", "Sindhi"),
    ("se", "Northern Sami"),
    ("sg", "Sango"),
    ("si", "Sinhala"),
    ("sk", "Slovak"),
    ("sl", "Slovenian"),
    ("sm", "Samoan"),
    ("sn", "Shona"),
    ("so", "Somali"),
    ("sq", "Albanian"),
    ("sr", "Serbian"),
    ("ss", "Swati"),
    ("st", "Sotho, Southern"),
    ("su", "Sundanese"),
    ("sv", "Swedish"),
    ("sw", "Swahili"),
    ("ta", "Tamil"),
    ("te", "Telugu"),
    ("tg", "Tajik"),
    ("th", "Thai"),
    ("ti", "Tigrinya"),
    ("tk", "Turkmen"),
    ("tl", "Tagalog"),
    ("tn", "Tswana"),
    ("to", "Tonga (Tonga Islands)"),
    ("tr", "Turkish"),
    ("ts", "Tsonga"),
    ("tt", "Tatar"),
    ("tw", "Twi"),
    ("ty", "Tahitian"),
    ("ug", "Uighur"),
    ("uk", "Ukrainian"),
    ("ur", "Urdu"),
    ("uz", "Uzbek"),
    ("ve", "Venda"),
    ("vi", "Vietnamese"),
    ("vo", "Volapük"),
    ("wa", "Walloon"),
    ("wo", "Wolof"),
    ("xh", "Xhosa"),
    ("yi", "Yiddish"),
    ("yo", "Yoruba"),
    ("za", "Zhuang"),
    ("zh", "Chinese"),
    ("zu", "Zulu"),
];

/// Country codes (ISO 3166-1) often written for a language, with the language meant.
const COUNTRY_FOR_LANGUAGE: &[(&str, &str)] = &[
    ("at", "de"),
    ("cn", "zh"),
    ("cz", "cs"),
    ("dk", "da"),
    ("gb", "en"),
    ("gr", "el"),
    ("il", "he"),
    ("ir", "fa"),
    ("jp", "ja"),
    ("kr", "ko"),
    ("mx", "es"),
    ("rs", "sr"),
    ("ua", "uk"),
    ("uk", "en"),
    ("us", "en"),
    ("vn", "vi"),
];

/// The English name of a two-letter code (`ja`: Japanese).
pub fn name(code: &str) -> Option<&'static str> {
    ISO_639_1
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .ok()
        .map(|i| ISO_639_1[i].1)
}

/// Checks a language code such as `fr`, `pt-BR` or `fil`; the error says why it is not one
/// and suggests the code likely meant (`jp` is Japan: Japanese is `ja`).
pub fn check(code: &str) -> Result<(), String> {
    let mut parts = code.split('-');
    let first = parts.next().unwrap_or_default();
    let syntax = (2..=3).contains(&first.len())
        && first.chars().all(|c| c.is_ascii_lowercase())
        && parts
            .all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !syntax {
        return Err(format!(
            "`{code}` is not a language code; expected one such as `fr`, `de` or `pt-BR`{}",
            by_name(code).unwrap_or_else(|| suggestion(&first.to_ascii_lowercase()))
        ));
    }
    if first.len() == 2 && name(first).is_none() {
        let what = if first == code {
            format!("`{code}` is not an ISO 639-1 language code")
        } else {
            format!("`{code}` is not a language code: `{first}` is not in ISO 639-1")
        };
        return Err(format!("{what}{}", suggestion(first)));
    }
    Ok(())
}

/// "; French is `fr`", when `written` is a language's English name.
fn by_name(written: &str) -> Option<String> {
    ISO_639_1
        .iter()
        .find(|(_, n)| {
            n.split([',', ';'])
                .any(|n| n.trim().eq_ignore_ascii_case(written.trim()))
        })
        .map(|(c, n)| format!("; {n} is `{c}`"))
}

/// "; did you mean `ja` (Japanese)?", when a code was likely meant.
fn suggestion(written: &str) -> String {
    if let Some((country, lang)) = COUNTRY_FOR_LANGUAGE.iter().find(|(c, _)| *c == written) {
        let n = name(lang).unwrap_or_default();
        return format!(" (`{country}` is a country); did you mean `{lang}` ({n})?");
    }
    if name(written).is_some() {
        return format!(
            "; did you mean `{written}` ({})?",
            name(written).unwrap_or_default()
        );
    }
    let close: Vec<String> = ISO_639_1
        .iter()
        .filter(|(c, _)| written.len() == 2 && c.starts_with(&written[..1]))
        .map(|(c, n)| format!("`{c}` ({n})"))
        .collect();
    if close.is_empty() || close.len() > 8 {
        String::new()
    } else {
        format!("; did you mean {}?", close.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_knows_the_usual_languages() {
        assert!(ISO_639_1.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(ISO_639_1.len(), 184);
        assert_eq!(name("ja"), Some("Japanese"));
        assert_eq!(name("fr"), Some("French"));
        assert_eq!(name("jp"), None);
    }

    #[test]
    fn real_codes_pass_and_a_country_is_told_its_language() {
        for ok in ["fr", "de", "pt-BR", "zh-Hant", "ja", "fil", "en-GB"] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check("jp").unwrap_err(),
            "`jp` is not an ISO 639-1 language code (`jp` is a country); did you mean `ja` (Japanese)?"
        );
        assert!(check("xx").is_err());
        assert!(
            check("FR")
                .unwrap_err()
                .contains("did you mean `fr` (French)?")
        );
        assert!(check("français").is_err());
        assert_eq!(
            check("French").unwrap_err(),
            "`French` is not a language code; expected one such as `fr`, `de` or `pt-BR`; French is `fr`"
        );
    }
}
