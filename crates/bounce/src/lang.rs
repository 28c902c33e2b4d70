//! The language registry (one embedded Fluent file per language), the choice of language for
//! a bounce, and message lookup.

use crate::BounceError;
use crate::headers;
use fluent_bundle::{FluentArgs, FluentBundle, FluentResource};
use smtp_wire::date::civil_from_days;
use unic_langid::LanguageIdentifier;

include!(concat!(env!("OUT_DIR"), "/locales.rs"));

/// The language every lookup falls back to when nothing else matches.
const FALLBACK_TAG: &str = "en";

/// A language Sluice has texts for: an entry of the embedded registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lang {
    index: usize,
}

impl Lang {
    /// Every registered language, in tag order.
    pub fn all() -> impl Iterator<Item = Lang> {
        (0..LOCALES.len()).map(|index| Lang { index })
    }

    /// The registered language for a BCP 47 tag, matched on its primary language subtag
    /// (`fr-CA` finds `fr`), since the texts are written per language, not per region.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let wanted: LanguageIdentifier = tag.trim().parse().ok()?;
        Lang::all().find(|lang| lang.tag().eq_ignore_ascii_case(wanted.language.as_str()))
    }

    /// English, or the first registered language if English were ever removed.
    pub fn fallback() -> Lang {
        Lang::from_tag(FALLBACK_TAG).unwrap_or(Lang { index: 0 })
    }

    /// The tag as used in `Content-Language:` and the file name, e.g. `fr`.
    pub fn tag(self) -> &'static str {
        LOCALES.get(self.index).map_or(FALLBACK_TAG, |(tag, _)| tag)
    }

    fn source(self) -> &'static str {
        LOCALES.get(self.index).map_or("", |(_, source)| source)
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag())
    }
}

/// The language of a bounce: the original message's `Content-Language:`, else its
/// `Accept-Language:` (best quality first), else the tenant's default, else English.
pub fn language_for(original: &[u8], tenant_default: &str) -> Lang {
    let (head, _) = headers::split(original);
    let from_content = headers::values(head, "Content-Language")
        .into_iter()
        .flat_map(|value| value.split(',').map(|tag| tag.trim().to_owned()).collect::<Vec<_>>())
        .find_map(|tag| Lang::from_tag(&tag));
    from_content
        .or_else(|| headers::values(head, "Accept-Language").iter().find_map(|v| best_accepted(v)))
        .or_else(|| Lang::from_tag(tenant_default))
        .unwrap_or_else(Lang::fallback)
}

/// The registered language with the highest `q` in an `Accept-Language` value; on equal
/// quality the earlier one wins, as the sender listed it first.
fn best_accepted(value: &str) -> Option<Lang> {
    let mut best: Option<(u16, Lang)> = None;
    for item in value.split(',') {
        let mut pieces = item.split(';');
        let Some(lang) = pieces.next().and_then(Lang::from_tag) else { continue };
        let quality = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .map_or(1000, |q| (q.clamp(0.0, 1.0) * 1000.0) as u16);
        if quality > 0 && best.is_none_or(|(b, _)| quality > b) {
            best = Some((quality, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

/// One language's texts, parsed from its embedded file.
pub(crate) struct Catalog {
    lang: Lang,
    bundle: FluentBundle<FluentResource>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("lang", &self.lang).finish_non_exhaustive()
    }
}

impl Catalog {
    pub(crate) fn load(lang: Lang) -> Result<Catalog, BounceError> {
        let locale_error = |detail: String| BounceError::Locale { lang: lang.tag(), detail };
        let id: LanguageIdentifier = lang.tag().parse().map_err(|e| locale_error(format!("bad tag: {e}")))?;
        let resource = FluentResource::try_new(lang.source().to_owned())
            .map_err(|(_, errors)| locale_error(format!("syntax: {errors:?}")))?;
        let mut bundle = FluentBundle::new(vec![id]);
        // Unicode isolation marks around placeables would end up inside headers and
        // addresses, where mail clients show them as garbage.
        bundle.set_use_isolating(false);
        bundle.add_resource(resource).map_err(|errors| locale_error(format!("{errors:?}")))?;
        Ok(Catalog { lang, bundle })
    }

    pub(crate) fn lang(&self) -> Lang {
        self.lang
    }

    #[cfg(test)]
    pub(crate) fn has(&self, id: &str) -> bool {
        self.bundle.has_message(id)
    }

    /// The text of message `id` with `args`; a missing message or variable is an error so
    /// that an incomplete translation never ships a half-filled bounce.
    pub(crate) fn text(&self, id: &str, args: &[(&str, &str)]) -> Result<String, BounceError> {
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            fluent_args.set(*name, *value);
        }
        self.text_args(id, &fluent_args)
    }

    /// [`Catalog::text`] with typed arguments (numbers select plural and ordinal forms).
    pub(crate) fn text_args(&self, id: &str, args: &FluentArgs<'_>) -> Result<String, BounceError> {
        let missing = || BounceError::MissingText { lang: self.lang.tag(), id: id.to_owned() };
        let pattern = self.bundle.get_message(id).and_then(|m| m.value()).ok_or_else(missing)?;
        let mut errors = Vec::new();
        let text = self.bundle.format_pattern(pattern, Some(args), &mut errors);
        if !errors.is_empty() {
            return Err(BounceError::Locale { lang: self.lang.tag(), detail: format!("{id}: {errors:?}") });
        }
        Ok(text.into_owned())
    }

    /// A date as people of this language write it in a sentence, in UTC: `23 November 2026
    /// at 12:03 UTC`, `1er décembre 2026 à 9 h 05 UTC`. Each locale spells its months and
    /// its order (messages `date` and `month-1` .. `month-12`).
    pub(crate) fn date(&self, unix_s: u64) -> Result<String, BounceError> {
        let (year, month, day) = civil_from_days(unix_s / 86_400);
        let seconds = unix_s % 86_400;
        let month_name = self.text(&format!("month-{month}"), &[])?;
        let mut args = FluentArgs::new();
        args.set("day", day);
        args.set("month", month_name);
        args.set("year", year.to_string());
        args.set("hour", (seconds / 3600).to_string());
        args.set("hour2", format!("{:02}", seconds / 3600));
        args.set("minute", format!("{:02}", seconds / 60 % 60));
        self.text_args("date", &args)
    }

    /// A message size for people: bytes, then kilobytes and megabytes (1024-based, as mail
    /// clients show sizes), with the locale's unit names (`KB` / `ko`).
    pub(crate) fn size(&self, bytes: usize) -> Result<String, BounceError> {
        let (id, value) = match bytes {
            0..1024 => ("size-bytes", bytes.to_string()),
            1024..1_048_576 => ("size-kilobytes", bytes.div_ceil(1024).to_string()),
            _ => ("size-megabytes", self.decimal(bytes as f64 / 1_048_576.0)),
        };
        let mut args = FluentArgs::new();
        args.set("count", bytes);
        args.set("value", value);
        self.text_args(id, &args)
    }

    /// One decimal, with the locale's decimal separator (message `decimal-separator`).
    fn decimal(&self, value: f64) -> String {
        let text = format!("{value:.1}");
        match self.text("decimal-separator", &[]) {
            Ok(separator) => text.replace('.', &separator),
            Err(_) => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::help::{HELP_CODES, message_id};

    /// The message ids of a locale file: every line that opens a message (`id = ...`).
    fn ids(source: &str) -> Vec<&str> {
        source
            .lines()
            .filter(|line| line.starts_with(|c: char| c.is_ascii_alphabetic()))
            .filter_map(|line| line.split_once(" =").map(|(id, _)| id.trim()))
            .collect()
    }

    fn lang(tag: &str) -> Lang {
        Lang::from_tag(tag).expect("registered language")
    }

    #[test]
    fn english_and_french_are_registered() {
        let tags: Vec<&str> = Lang::all().map(Lang::tag).collect();
        assert!(tags.contains(&"en") && tags.contains(&"fr"), "{tags:?}");
        assert_eq!(Lang::fallback().tag(), "en");
    }

    #[test]
    fn every_locale_has_every_message_and_help_text() {
        let english = ids(lang("en").source());
        for code in HELP_CODES {
            for part in ["title", "why", "sender", "admin"] {
                assert!(
                    english.contains(&format!("{}-{part}", message_id(code)).as_str()),
                    "en lacks {code} {part}"
                );
            }
        }
        for lang in Lang::all() {
            let catalog = Catalog::load(lang).expect("locale parses");
            for id in &english {
                assert!(catalog.has(id), "{} lacks {id}", lang.tag());
            }
            assert_eq!(ids(lang.source()).len(), english.len(), "{} has messages en lacks", lang.tag());
        }
    }

    #[test]
    fn tags_match_on_the_primary_language() {
        assert_eq!(Lang::from_tag("fr-CA"), Some(lang("fr")));
        assert_eq!(Lang::from_tag("EN-gb"), Some(lang("en")));
        assert_eq!(Lang::from_tag("tlh"), None);
        assert_eq!(Lang::from_tag("not a tag"), None);
    }

    #[test]
    fn language_comes_from_content_then_accept_then_tenant() {
        let fr = lang("fr");
        let en = lang("en");
        assert_eq!(language_for(b"Content-Language: fr-FR\r\n\r\nx", "en"), fr);
        assert_eq!(language_for(b"Content-Language: de, fr\r\n\r\nx", "en"), fr, "first registered tag");
        assert_eq!(language_for(b"Content-Language: en\r\nAccept-Language: fr\r\n\r\n", "fr"), en);
        assert_eq!(language_for(b"Accept-Language: de, en;q=0.5, fr;q=0.8\r\n\r\n", "en"), fr);
        assert_eq!(language_for(b"Accept-Language: fr;q=0, en;q=0.1\r\n\r\n", "fr"), en);
        assert_eq!(
            language_for(b"Subject: x\r\n\r\nContent-Language: en\r\n", "fr"),
            fr,
            "body is not headers"
        );
        assert_eq!(language_for(b"Subject: x\r\n\r\n", "de"), en);
    }

    #[test]
    fn texts_substitute_without_isolation_marks() {
        let catalog = Catalog::load(lang("fr")).expect("locale parses");
        let subject = catalog.text("subject-failed", &[("subject", "Bonjour")]).expect("text");
        assert_eq!(subject, "Non remis\u{a0}: Bonjour");
        assert!(matches!(catalog.text("no-such-id", &[]), Err(BounceError::MissingText { .. })));
    }

    #[test]
    fn dates_read_as_each_language_writes_them() {
        let (en, fr) = (Catalog::load(lang("en")).expect("en"), Catalog::load(lang("fr")).expect("fr"));
        // 2026-12-01 09:05 UTC and 2026-11-23 12:03 UTC.
        let first = 1_796_115_900;
        assert_eq!(en.date(first).expect("date"), "1 December 2026 at 09:05 UTC");
        assert_eq!(fr.date(first).expect("date"), "1er décembre 2026 à 9\u{a0}h\u{a0}05 UTC");
        assert_eq!(fr.date(1_795_435_401).expect("date"), "23 novembre 2026 à 12\u{a0}h\u{a0}03 UTC");
    }

    #[test]
    fn sizes_use_each_language_units() {
        let (en, fr) = (Catalog::load(lang("en")).expect("en"), Catalog::load(lang("fr")).expect("fr"));
        assert_eq!(en.size(1).expect("size"), "1 byte");
        assert_eq!(en.size(700).expect("size"), "700 bytes");
        assert_eq!(fr.size(700).expect("size"), "700 octets");
        assert_eq!(en.size(1500).expect("size"), "2 KB");
        assert_eq!(fr.size(1500).expect("size"), "2 ko");
        assert_eq!(fr.size(3 * 1_048_576 + 400_000).expect("size"), "3,4 Mo");
        assert_eq!(en.size(3 * 1_048_576 + 400_000).expect("size"), "3.4 MB");
    }

    /// Every French message value: a no-break space before `:` and a narrow one before
    /// `; ? !`, never an ordinary space or none at all (French typography).
    #[test]
    fn french_punctuation_has_its_no_break_spaces() {
        let fr = lang("fr").source();
        for line in fr.lines().filter(|l| !l.starts_with('#')) {
            let value = line.split_once(" = ").map_or(line, |(_, v)| v);
            let chars: Vec<char> = value.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                let before = if i > 0 { chars[i - 1] } else { ' ' };
                let after = chars.get(i + 1).copied().unwrap_or(' ');
                let wanted = match c {
                    ':' if after == '/' || after.is_ascii_digit() => continue,
                    ':' => '\u{a0}',
                    ';' | '?' | '!' => '\u{202f}',
                    _ => continue,
                };
                assert_eq!(before, wanted, "fr.ftl: {c:?} in {line:?}");
            }
        }
    }

    /// Help texts and bounces are read by senders and tenant admins: no operator command.
    #[test]
    fn no_text_names_an_operator_command() {
        for lang in Lang::all() {
            for line in lang.source().lines().filter(|l| !l.starts_with('#')) {
                let lower = line.to_lowercase();
                for command in ["sluice ", "sluice-", "--tenant", "--direction", "postqueue", "systemctl"] {
                    assert!(!lower.contains(command), "{}: {line:?} names {command:?}", lang.tag());
                }
                assert!(
                    !line.contains('<') || line.contains("@"),
                    "{}: placeholder left in {line:?}",
                    lang.tag()
                );
            }
        }
    }
}
