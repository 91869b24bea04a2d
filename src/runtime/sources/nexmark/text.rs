//! The Nexmark model's text, as the reference generator's
//! `PersonGenerator`, `AuctionGenerator`, `BidGenerator` and
//! `StringsGenerator` make it: people's names, e-mail addresses, credit
//! cards, cities and states; auctions' item names and descriptions; bids'
//! channels and URLs; and `extra`, the padding that brings each event to
//! its kind's average size. Every function appends bytes to a batch's
//! string area (or a scratch buffer) and allocates nothing per event.

use super::random::{Digits, Draws};

const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] =
    ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"];
const FIRST_NAMES: [&str; 11] =
    ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"];
const LAST_NAMES: [&str; 9] = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"];
pub const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
/// Channels other than the hot ones: `channel-0` … `channel-9999`.
pub const CHANNELS: usize = 10_000;
/// `nextString` makes at least this many characters, and here (the longest
/// is a description's 99) fewer than this many.
const MIN_STRING_LENGTH: u64 = 3;
const MAX_STRING_LENGTH: usize = 128;
/// `REUSABLE_EXTRA_STRING`: `extra` is a slice of it at a random offset.
const EXTRA_POOL_BYTES: usize = 1 << 20;

/// `nextString(maxLength, special)`: 3 to `max_length - 1` characters, each
/// `special` with probability 1/13 and otherwise a lowercase letter, then
/// Java's `trim()` (which removes the spaces at either end, nothing else).
pub fn push_string(draws: &mut Draws, max_length: u64, special: u8, out: &mut Vec<u8>) {
    let mut text = [0u8; MAX_STRING_LENGTH];
    let length = (MIN_STRING_LENGTH + draws.below(max_length - MIN_STRING_LENGTH)) as usize;
    let text = &mut text[..length.min(MAX_STRING_LENGTH)];
    // The model's two: spaces in words, `_` in URLs.
    debug_assert!(special == b' ' || special == b'_');
    let characters = if special == b' ' { &WORD_CHARACTERS } else { &PATH_CHARACTERS };
    let mut digits = Digits::<338>::new();
    for byte in text.iter_mut() {
        *byte = characters[digits.next(draws) as usize];
    }
    let text: &[u8] = text;
    let text = if special == b' ' { text.trim_ascii() } else { text };
    out.extend_from_slice(text);
}

/// `nextString`'s characters by a value in [0, 13 × 26): below 26 (1 in
/// 13) the special one, and the other 312 = 12 × 26 each letter alike. A
/// table, because a branch on the 1 in 13 is a guess the processor loses.
const fn characters(special: u8) -> [u8; 338] {
    let mut table = [special; 338];
    let mut i = 26;
    while i < 338 {
        table[i] = b'a' + ((i - 26) % 26) as u8;
        i += 1;
    }
    table
}

static WORD_CHARACTERS: [u8; 338] = characters(b' ');
static PATH_CHARACTERS: [u8; 338] = characters(b'_');

/// A person's name: one of 11 first names and one of 9 last names.
pub fn push_name(draws: &mut Draws, out: &mut Vec<u8>) {
    out.extend_from_slice(FIRST_NAMES[draws.below(FIRST_NAMES.len() as u64) as usize].as_bytes());
    out.push(b' ');
    out.extend_from_slice(LAST_NAMES[draws.below(LAST_NAMES.len() as u64) as usize].as_bytes());
}

/// `abcdef@ghi.com`: `nextString(7) @ nextString(5) .com`.
pub fn push_email(draws: &mut Draws, out: &mut Vec<u8>) {
    push_string(draws, 7, b' ', out);
    out.push(b'@');
    push_string(draws, 5, b' ', out);
    out.extend_from_slice(b".com");
}

/// Four groups of four digits, `0042 1234 9999 0000`.
pub fn push_credit_card(draws: &mut Draws, out: &mut Vec<u8>) {
    for group in 0..4 {
        if group > 0 {
            out.push(b' ');
        }
        let mut number = draws.below(10_000);
        let mut digits = [b'0'; 4];
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (number % 10) as u8;
            number /= 10;
        }
        out.extend_from_slice(&digits);
    }
}

pub fn city(draws: &mut Draws) -> &'static str {
    US_CITIES[draws.below(US_CITIES.len() as u64) as usize]
}

pub fn state(draws: &mut Draws) -> &'static str {
    US_STATES[draws.below(US_STATES.len() as u64) as usize]
}

/// `nextExtra(currentSize, averageSize)`: padding of a length that brings
/// an event of `current_size` bytes to `average_size` on average (±20%,
/// uniform), a slice of the pool; none when the event is already larger.
pub fn extra<'a>(draws: &mut Draws, current_size: u64, average_size: u64, pool: &'a [u8]) -> &'a [u8] {
    if current_size > average_size {
        return &[];
    }
    let wanted = average_size - current_size;
    // Java's Math.round: half up.
    let delta = (wanted as f64 * 0.2 + 0.5).floor() as u64;
    let size = wanted - delta + if delta == 0 { 0 } else { draws.below(2 * delta) };
    let size = (size as usize).min(pool.len() / 2);
    let offset = draws.below((pool.len() - size) as u64) as usize;
    &pool[offset..offset + size]
}

/// What a source draws once, from its seed: the hot channels' URLs, the
/// other channels with theirs, and the pool `extra` is cut from. The
/// reference generator draws these once per process, unseeded.
pub struct Tables {
    pub hot_urls: [Vec<u8>; 4],
    /// `channel-i` and its URL, for `i` below `CHANNELS`, side by side in
    /// one block: a bid's random channel costs one cache miss, not three.
    channel_bytes: Vec<u8>,
    /// Where each channel's name starts, and its name's and URL's lengths.
    channel_entries: Vec<(u32, u16, u16)>,
    pub extra_pool: Vec<u8>,
}

impl Tables {
    /// The tables of a source whose seed's key is `seed_key`; only what its
    /// columns read (`urls`, `extra`) is drawn.
    pub fn new(seed_key: u64, urls: bool, extra: bool) -> Tables {
        let mut tables = Tables {
            hot_urls: Default::default(),
            channel_bytes: Vec::new(),
            channel_entries: Vec::new(),
            extra_pool: Vec::new(),
        };
        if urls {
            let mut draws = Draws::new(seed_key, u64::MAX - 1);
            for url in &mut tables.hot_urls {
                push_base_url(&mut draws, url);
            }
            let bytes = &mut tables.channel_bytes;
            for i in 0..CHANNELS {
                let start = bytes.len();
                bytes.extend_from_slice(format!("channel-{i}").as_bytes());
                let name = bytes.len() - start;
                push_base_url(&mut draws, bytes);
                if draws.below(10) > 0 {
                    // As Java's Math.abs(Integer.reverse(i)), which leaves
                    // channel 1's MIN_VALUE negative.
                    let id = (i as i32).reverse_bits().wrapping_abs();
                    bytes.extend_from_slice(format!("&channel_id={id}").as_bytes());
                }
                let url = bytes.len() - start - name;
                // Names and URLs are below 100 bytes, the block below 1 MiB.
                tables.channel_entries.push((start as u32, name as u16, url as u16));
            }
        }
        if extra {
            let mut draws = Draws::new(seed_key, u64::MAX);
            let mut letters = Digits::<26>::new();
            tables.extra_pool = (0..EXTRA_POOL_BYTES).map(|_| b'a' + letters.next(&mut draws) as u8).collect();
        }
        tables
    }
}

impl Tables {
    /// Channel `i`'s name and URL (`i` below `CHANNELS`).
    #[inline]
    pub fn channel(&self, i: usize) -> (&[u8], &[u8]) {
        let (start, name, url) = self.channel_entries[i];
        let (start, name, url) = (start as usize, name as usize, url as usize);
        (&self.channel_bytes[start..start + name], &self.channel_bytes[start + name..start + name + url])
    }
}

/// `https://www.nexmark.com/abc/de_f/ghij/item.htm?query=1`.
fn push_base_url(draws: &mut Draws, out: &mut Vec<u8>) {
    out.extend_from_slice(b"https://www.nexmark.com/");
    for _ in 0..3 {
        push_string(draws, 5, b'_', out);
        out.push(b'/');
    }
    out.extend_from_slice(b"item.htm?query=1");
}

#[cfg(test)]
mod tests {
    use super::super::random::{event_key, seed_key};
    use super::*;

    fn draws(event: u64) -> Draws {
        Draws::new(event_key(seed_key(0), event), 1)
    }

    #[test]
    fn strings_are_trimmed_lowercase_of_the_model_lengths() {
        for event in 0..2_000 {
            let mut out = Vec::new();
            push_string(&mut draws(event), 20, b' ', &mut out);
            assert!(out.len() <= 19, "{out:?}");
            assert!(out.first() != Some(&b' ') && out.last() != Some(&b' '));
            assert!(out.iter().all(|byte| byte.is_ascii_lowercase() || *byte == b' '));
        }
    }

    #[test]
    fn emails_and_cards_look_like_the_model() {
        let mut email = Vec::new();
        push_email(&mut draws(3), &mut email);
        let email = String::from_utf8(email).unwrap();
        assert!(email.ends_with(".com") && email.contains('@'), "{email}");
        let mut card = Vec::new();
        push_credit_card(&mut draws(3), &mut card);
        assert_eq!(card.len(), 19);
        assert!(card.split(|b| *b == b' ').all(|group| group.len() == 4 && group.iter().all(u8::is_ascii_digit)));
    }

    #[test]
    fn channel_urls_carry_their_channel_id_nine_times_in_ten() {
        let tables = Tables::new(seed_key(0), true, false);
        let with_id =
            (0..CHANNELS).filter(|&i| tables.channel(i).1.windows(11).any(|window| window == b"channel_id=")).count();
        assert!((8_800..9_200).contains(&with_id), "{with_id}");
        assert_eq!(tables.channel(7).0, b"channel-7");
        assert!(tables.channel(9_999).1.starts_with(b"https://www.nexmark.com/"));
        let url = String::from_utf8(tables.hot_urls[0].clone()).unwrap();
        assert!(url.starts_with("https://www.nexmark.com/") && url.ends_with("/item.htm?query=1"), "{url}");
    }

    #[test]
    fn extra_brings_a_bid_to_a_hundred_bytes_on_average() {
        let pool = vec![b'x'; 1 << 20];
        let sizes: Vec<usize> = (0..10_000).map(|event| extra(&mut draws(event), 32, 100, &pool).len()).collect();
        assert!(sizes.iter().all(|size| (54..82).contains(size)));
        let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
        assert!((66.0..70.0).contains(&mean), "{mean}");
        assert!(extra(&mut draws(1), 120, 100, &pool).is_empty());
    }
}
