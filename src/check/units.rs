//! Durations and sizes written back the way a user writes them, for
//! messages, plans and reports.

/// A duration in the largest unit that shows it exactly: `1500ms`, `2s`, `1m`.
pub fn format_duration(nanos: i64) -> String {
    const UNITS: [(&str, i64); 7] = [
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    if nanos == 0 {
        return "0s".to_string();
    }
    let (unit, size) =
        UNITS.into_iter().find(|(_, size)| nanos % size == 0).expect("every duration is whole nanoseconds");
    format!("{}{unit}", nanos / size)
}

/// A size in the largest binary unit that shows it exactly: `32KiB`.
pub fn format_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}KiB", b >> 10),
        b => format!("{b}B"),
    }
}

/// `86400000` as `86,400,000`.
pub fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_largest_exact_unit() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(1_500_000_000), "1500ms");
        assert_eq!(format_duration(120_000_000_000), "2m");
        assert_eq!(format_duration(30 * 86_400_000_000_000), "30d");
        assert_eq!(format_duration(36 * 3_600_000_000_000), "36h");
        assert_eq!(format_duration(250_000), "250us");
        assert_eq!(format_size(32 * 1024), "32KiB");
        assert_eq!(format_size(10), "10B");
        assert_eq!(format_size(64 << 20), "64MiB");
    }
}
