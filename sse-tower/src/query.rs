//! Reading parameters from a URI's query string, shared by the
//! `Last-Event-ID` and topic parsers.

/// The raw (still encoded) values of every `name=value` pair named `name`,
/// in order; a pair without `=` has an empty value.
pub(crate) fn params<'a>(query: Option<&'a str>, name: &'a str) -> impl Iterator<Item = &'a str> {
    query
        .unwrap_or_default()
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .filter(move |(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Decodes one `application/x-www-form-urlencoded` value: `+` is a space,
/// `%XX` is the byte `XX`; a `%` not followed by two hex digits is kept.
pub(crate) fn form_decode(value: &[u8]) -> impl Iterator<Item = u8> + '_ {
    fn hex(byte: Option<&u8>) -> Option<u8> {
        match *byte? {
            byte @ b'0'..=b'9' => Some(byte - b'0'),
            byte @ b'a'..=b'f' => Some(byte - b'a' + 10),
            byte @ b'A'..=b'F' => Some(byte - b'A' + 10),
            _ => None,
        }
    }
    let mut i = 0;
    std::iter::from_fn(move || {
        let byte = match *value.get(i)? {
            b'+' => b' ',
            b'%' => match (hex(value.get(i + 1)), hex(value.get(i + 2))) {
                (Some(high), Some(low)) => {
                    i += 2;
                    (high << 4) | low
                }
                _ => b'%',
            },
            other => other,
        };
        i += 1;
        Some(byte)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_found_in_order_and_a_pair_without_equals_is_empty() {
        let found: Vec<&str> = params(Some("a=1&b=2&a&a=3"), "a").collect();
        assert_eq!(found, ["1", "", "3"]);
    }

    #[test]
    fn form_decoding_turns_plus_into_space_and_keeps_a_broken_escape() {
        let decoded: Vec<u8> = form_decode(b"a+b%2Fc%zz%4").collect();
        assert_eq!(decoded, b"a b/c%zz%4");
    }
}
