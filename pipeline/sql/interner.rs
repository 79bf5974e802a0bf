//! Texts that repeat across findings (rule ids, logs, issuers), held once:
//! a run can have millions of findings naming a few thousand issuers.

use std::collections::HashSet;
use std::sync::Arc;

/// Hands out one shared copy of each distinct text.
#[derive(Debug, Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    /// The shared copy of `text`.
    pub fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(shared.clone());
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_one_copy_and_different_ones_do_not() {
        let mut i = Interner::default();
        let a = i.get("Go Daddy Secure Certificate Authority - G2");
        let b = i.get(&String::from("Go Daddy Secure Certificate Authority - G2"));
        let c = i.get("DigiCert SHA2 Secure Server CA");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(&*c, "DigiCert SHA2 Secure Server CA");
    }
}
