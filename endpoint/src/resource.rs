//! The endpoint's resource template, replaceable while the endpoint runs.
//!
//! Deployed, the template comes from an SSM parameter (`CFCOOKIE_RESOURCE_PARAMETER`) that
//! Terraform rewrites when the media domain changes. A warm Lambda instance may live for
//! hours, so the endpoint re-reads the parameter with every key refresh
//! ([`crate::wiring::spawn_resource_refresh`]) instead of keeping the value it read at start.

use std::sync::{Arc, RwLock};

use crate::endpoint::ResourceTemplate;

/// A resource template shared by the endpoint and the task that refreshes it: its text and
/// its parsed form, replaced together.
#[derive(Clone)]
pub struct SharedResource(Arc<RwLock<Arc<(String, ResourceTemplate)>>>);

impl SharedResource {
    /// A template that starts as `text`, parsed as `template`.
    pub fn new(text: impl Into<String>, template: ResourceTemplate) -> Self {
        SharedResource(Arc::new(RwLock::new(Arc::new((text.into(), template)))))
    }

    fn current(&self) -> Arc<(String, ResourceTemplate)> {
        Arc::clone(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The template's text now.
    pub fn get(&self) -> String {
        self.current().0.clone()
    }

    /// The parsed template now (a cheap clone of a shared pointer).
    pub fn template(&self) -> Arc<(String, ResourceTemplate)> {
        self.current()
    }

    /// Replaces the template with `other`'s (the caller has validated it).
    pub fn set_from(&self, other: &SharedResource) {
        let next = other.current();
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = next;
    }
}

impl std::fmt::Debug for SharedResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedResource").field(&self.get()).finish()
    }
}

impl PartialEq<&str> for SharedResource {
    fn eq(&self, other: &&str) -> bool {
        self.get() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_see_a_replaced_template() {
        let parse = |t: &str| SharedResource::new(t, ResourceTemplate::parse(t).unwrap());
        let a = parse("https://old.example/*");
        let b = a.clone();
        a.set_from(&parse("https://new.example/{sub}/*"));
        assert_eq!(b, "https://new.example/{sub}/*");
        assert_eq!(
            b.template().1,
            ResourceTemplate::parse("https://new.example/{sub}/*").unwrap()
        );
    }
}
