//! The rule files of `queries/`, compiled into the binary so `pipeline check`
//! works from any directory. A `--rules DIR` (or a `./queries` folder) wins.

/// (file name, text) of every rule of `queries/`.
pub const RULES: &[(&str, &str)] = &[
    ("backdated.sql", include_str!("../../queries/backdated.sql")),
    (
        "cn_not_in_san.sql",
        include_str!("../../queries/cn_not_in_san.sql"),
    ),
    (
        "duplicate_serial.sql",
        include_str!("../../queries/duplicate_serial.sql"),
    ),
    (
        "internal_name.sql",
        include_str!("../../queries/internal_name.sql"),
    ),
    (
        "low_serial_entropy.sql",
        include_str!("../../queries/low_serial_entropy.sql"),
    ),
    (
        "missing_sct_after_promise.sql",
        include_str!("../../queries/missing_sct_after_promise.sql"),
    ),
    (
        "private_suffix_san.sql",
        include_str!("../../queries/private_suffix_san.sql"),
    ),
    (
        "public_suffix_san.sql",
        include_str!("../../queries/public_suffix_san.sql"),
    ),
    (
        "rsa_key_too_small.sql",
        include_str!("../../queries/rsa_key_too_small.sql"),
    ),
    (
        "san_missing.sql",
        include_str!("../../queries/san_missing.sql"),
    ),
    (
        "sha1_after_2016.sql",
        include_str!("../../queries/sha1_after_2016.sql"),
    ),
    (
        "sha1_backdated_past_deadline.sql",
        include_str!("../../queries/sha1_backdated_past_deadline.sql"),
    ),
    (
        "underscore_in_dnsname.sql",
        include_str!("../../queries/underscore_in_dnsname.sql"),
    ),
    (
        "unvalidated_parent_domain.sql",
        include_str!("../../queries/unvalidated_parent_domain.sql"),
    ),
    (
        "validity_too_long.sql",
        include_str!("../../queries/validity_too_long.sql"),
    ),
    (
        "wildcard_misplaced.sql",
        include_str!("../../queries/wildcard_misplaced.sql"),
    ),
];
